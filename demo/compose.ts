// Generates demo/docker-compose.yml and its config files (demo/compose/)
// from demo/topology.ts — the same two trust domains as `npm run demo`, as
// containers. Run after changing the topology:  node demo/compose.ts
// (a test fails when the committed files differ from what this generates).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ECHO_COMPOSER } from './lib/echo-db.ts';
import { echoEnvoyYaml, webEnvoyYaml } from './lib/envoy-config.ts';
import { CONTAINER_PORTS as P, DOMAINS, LIFETIMES, type DomainSpec } from './topology.ts';

/** Envoy's container user per domain: the agents attest each Envoy by this uid. */
export const ENVOY_UID: Record<'web' | 'echo', number> = { web: 1001, echo: 1002 };
/** The herald image's user (Dockerfile): servers, agents, bootstrap and the apps run as it. */
export const HERALD_UID = 10001;
/** echo.example's PostgreSQL (the Dockerfile's postgres target): attested by this uid, it gets spiffe://echo.example/postgres. */
export const ECHO_POSTGRES_UID = 10003;
export const HERALD_IMAGE = 'herald-demo/herald:dev';
export const ENVOY_IMAGE = 'herald-demo/envoy:1.40.0';
export const POSTGRES_IMAGE = 'herald-demo/postgres:dev';
/**
 * Both images come from the repository's Dockerfile. BASE defaults to Docker Hub's
 * debian:bookworm-slim; scripts/setup writes demo/.env with a locally imported Debian (no
 * registry) and the machine's extra CA certificates for the build's HTTPS downloads.
 */
const build = (target: string) => ({
  context: '..',
  dockerfile: 'Dockerfile',
  target,
  args: { BASE: '${HERALD_BASE_IMAGE:-debian:bookworm-slim}', EXTRA_CA_CERTS: '${HERALD_EXTRA_CA_CERTS:-}' },
});
// Built once (by the servers' service); every other service runs the built image, never pulls.
const HERALD_BUILT = { build: build('herald'), image: HERALD_IMAGE, pull_policy: 'build', init: true };
const HERALD = { image: HERALD_IMAGE, pull_policy: 'never', init: true };

const serverYaml = (d: DomainSpec): string => `server:
  bind_address: 0.0.0.0
  bind_port: ${P.serverApi}
  socket_path: /run/herald/${d.name}-server/api.sock
  trust_domain: ${d.trustDomain}
  data_dir: /var/lib/herald
  ca_ttl: ${LIFETIMES.caTtl}
  default_x509_svid_ttl: ${LIFETIMES.x509SvidTtl}
  default_jwt_svid_ttl: ${LIFETIMES.jwtSvidTtl}
  federation:
    bundle_endpoint: { address: 0.0.0.0, port: ${P.bundleEndpoint}, refresh_hint: ${LIFETIMES.refreshHint} }
plugins:
  DataStore: { sql: { plugin_data: { database_type: sqlite3, connection_string: /var/lib/herald/datastore.sqlite3 } } }
  KeyManager: { disk: { plugin_data: { keys_path: /var/lib/herald/keys.json } } }
  NodeAttestor: { join_token: { plugin_data: {} } }
${d.name === 'echo' ? ECHO_COMPOSER : ''}`;

const agentYaml = (d: DomainSpec): string => `agent:
  data_dir: /var/lib/herald
  server_address: ${d.name}-server
  server_port: ${P.serverApi}
  socket_path: /run/herald/${d.name}-agent/api.sock
  trust_domain: ${d.trustDomain}
  insecure_bootstrap: true
  sync_interval: 1s
  authz:
    enabled: true
    socket_path: /run/herald/${d.name}-agent/authz.sock
    audiences: ["${d.workloadId}"]
plugins:
  KeyManager: { disk: { plugin_data: { directory: /var/lib/herald } } }
  NodeAttestor: { join_token: { plugin_data: {} } }
  WorkloadAttestor: { unix: { plugin_data: {} } }
`;

/**
 * A shared socket directory: a named volume on tmpfs (sockets need no disk), owned by the herald
 * user so a non-root server or agent can create its socket there without the volume being
 * prepared first.
 */
const socketVolume = { driver_opts: { type: 'tmpfs', device: 'tmpfs', o: `uid=${HERALD_UID},gid=${HERALD_UID},mode=0755` } };

export function generate(): Record<string, string> {
  const files: Record<string, string> = {};
  const services: Record<string, unknown> = {};
  const volumes: Record<string, unknown> = {};
  for (const d of DOMAINS) {
    files[`compose/${d.name}-server.yaml`] = serverYaml(d);
    files[`compose/${d.name}-agent.yaml`] = agentYaml(d);
    volumes[`${d.name}-server-socket`] = socketVolume;
    volumes[`${d.name}-agent-socket`] = socketVolume;
    services[`${d.name}-server`] = {
      ...(d.name === 'web' ? HERALD_BUILT : HERALD),
      // Data (datastore, CA keys) stays in the container: `down` removes it with the demo.
      command: ['herald-server', 'run', '-config', `/etc/herald/server.yaml`],
      volumes: [`./compose/${d.name}-server.yaml:/etc/herald/server.yaml:ro`, `${d.name}-server-socket:/run/herald/${d.name}-server`],
      healthcheck: { test: ['CMD', 'herald-server', 'healthcheck', '-socketPath', `/run/herald/${d.name}-server/api.sock`], interval: '1s', retries: 60 },
    };
    services[`${d.name}-agent`] = {
      ...HERALD,
      // The agent attests each caller by its uid (SO_PEERCRED, then /proc/<pid>): it must
      // see the other containers' processes, so it shares the host's pid namespace.
      // Non-root is enough for unix:uid selectors. ($$: a literal $ for compose.)
      pid: 'host',
      command: ['sh', '-c', `exec herald-agent run -config /etc/herald/agent.yaml -joinToken "$$(cat /run/herald/tokens/${d.name})"`],
      // The agent's socket directory read-write (SPIRE on Kubernetes: readOnly: false).
      volumes: [`./compose/${d.name}-agent.yaml:/etc/herald/agent.yaml:ro`, `${d.name}-agent-socket:/run/herald/${d.name}-agent`, 'tokens:/run/herald/tokens:ro'],
      depends_on: { bootstrap: { condition: 'service_completed_successfully' } },
      healthcheck: { test: ['CMD', 'herald-agent', 'healthcheck', '-socketPath', `/run/herald/${d.name}-agent/api.sock`], interval: '1s', retries: 60 },
    };
  }
  // The join tokens outlive the one-shot bootstrap (a tmpfs volume would not): an ordinary
  // volume, first mounted on the image's /var/lib/herald so that it belongs to the herald user.
  volumes.tokens = {};
  services.bootstrap = {
    ...HERALD,
    command: ['node', 'demo/compose-bootstrap.ts'],
    environment: {
      ...Object.fromEntries(DOMAINS.flatMap((d) => [[`${d.name.toUpperCase()}_SERVER_SOCKET`, `/run/herald/${d.name}-server/api.sock`], [`${d.name.toUpperCase()}_ENVOY_UID`, String(ENVOY_UID[d.name])]])),
      ECHO_POSTGRES_UID: String(ECHO_POSTGRES_UID),
      TOKENS_DIR: '/var/lib/herald',
    },
    volumes: [...DOMAINS.map((d) => `${d.name}-server-socket:/run/herald/${d.name}-server`), 'tokens:/var/lib/herald'],
    depends_on: Object.fromEntries(DOMAINS.map((d) => [`${d.name}-server`, { condition: 'service_healthy' }])),
  };
  const envoyFiles = {
    web: webEnvoyYaml({
      admin: { address: '0.0.0.0', port: P.envoyAdmin },
      outbound: { address: '0.0.0.0', port: P.envoyOutbound },
      echoInbound: { address: 'echo-envoy', port: P.envoyInbound },
      agentSocket: '/run/herald/web-agent/api.sock',
      authzSocket: '/run/herald/web-agent/authz.sock',
    }),
    echo: echoEnvoyYaml({
      admin: { address: '0.0.0.0', port: P.envoyAdmin },
      inbound: { address: '0.0.0.0', port: P.envoyInbound },
      echoApp: { address: 'echo', port: P.echoApp },
      agentSocket: '/run/herald/echo-agent/api.sock',
      authzSocket: '/run/herald/echo-agent/authz.sock',
    }),
  };
  for (const d of DOMAINS) {
    files[`compose/${d.name}-envoy.yaml`] = envoyFiles[d.name];
    services[`${d.name}-envoy`] = {
      ...(d.name === 'web' ? { build: build('envoy'), pull_policy: 'build' } : { pull_policy: 'never' }),
      image: ENVOY_IMAGE,
      init: true,
      // The workload: its uid is what the agent attests.
      user: `${ENVOY_UID[d.name]}:${ENVOY_UID[d.name]}`,
      command: ['-c', '/etc/envoy/envoy.yaml', '--concurrency', '1', '--disable-hot-restart', '-l', 'warn'],
      // Workloads get the agent's socket directory read-only (SPIRE on Kubernetes: readOnly: true).
      volumes: [`./compose/${d.name}-envoy.yaml:/etc/envoy/envoy.yaml:ro`, `${d.name}-agent-socket:/run/herald/${d.name}-agent:ro`],
      depends_on: { [`${d.name}-agent`]: { condition: 'service_healthy' } },
    };
  }
  // echo's third hop, off the mesh: PostgreSQL with its own SVID and echo.example's bundle as
  // ssl_ca_file, both from the Workload API (reloaded on change); echo logs in by its SVID's CN.
  services['echo-postgres'] = {
    build: build('postgres'),
    image: POSTGRES_IMAGE,
    pull_policy: 'build',
    init: true,
    user: `${ECHO_POSTGRES_UID}:${ECHO_POSTGRES_UID}`,
    environment: { AGENT_SOCKET: '/run/herald/echo-agent/api.sock', PGDATA: '/var/lib/echo-postgres/data', PORT: String(P.postgres) },
    volumes: ['echo-agent-socket:/run/herald/echo-agent:ro'],
    depends_on: { 'echo-agent': { condition: 'service_healthy' } },
    // Healthy once the role and its row exist and clients can log in.
    healthcheck: { test: ['CMD', 'test', '-f', '/tmp/echo-postgres.ready'], interval: '1s', retries: 120 },
  };
  // The apps sit behind their Envoy, as in a pod: same agent directory, read-only. The web app
  // has its own uid (the herald user), which no entry names, so the agent gives it no identity;
  // the echo app runs as echo's Envoy uid: it is echo, and logs in to PostgreSQL with echo's SVID.
  services.echo = {
    ...HERALD,
    user: `${ENVOY_UID.echo}:${ENVOY_UID.echo}`,
    command: ['node', 'demo/apps/echo-app.ts', String(P.echoApp)],
    environment: { ECHO_AGENT_SOCKET: '/run/herald/echo-agent/api.sock', ECHO_SPIFFE_ID: DOMAINS.find((d) => d.name === 'echo')!.workloadId, PGHOST: 'echo-postgres', PGPORT: String(P.postgres) },
    volumes: ['echo-agent-socket:/run/herald/echo-agent:ro'],
    depends_on: { 'echo-agent': { condition: 'service_healthy' }, 'echo-postgres': { condition: 'service_healthy' } },
  };
  services.web = {
    ...HERALD,
    command: ['node', 'demo/apps/web-app.ts'],
    environment: {
      PORT: String(P.webPage),
      WEB_ENVOY_URL: `http://web-envoy:${P.envoyOutbound}`,
      WEB_ENVOY_ADMIN: `http://web-envoy:${P.envoyAdmin}`,
      ECHO_ENVOY_ADMIN: `http://echo-envoy:${P.envoyAdmin}`,
      WEB_SERVER_SOCKET: '/run/herald/web-server/api.sock',
      ECHO_SERVER_SOCKET: '/run/herald/echo-server/api.sock',
    },
    // The page shows both domains' CAs and rotates echo's: it uses both servers' admin sockets.
    volumes: [...DOMAINS.map((d) => `${d.name}-server-socket:/run/herald/${d.name}-server`), 'web-agent-socket:/run/herald/web-agent:ro'],
    // HERALD_DEMO_PORT: another host port for the page (the test picks a free one).
    ports: [`127.0.0.1:${'${HERALD_DEMO_PORT:-8080}'}:${P.webPage}`],
    depends_on: { 'web-envoy': { condition: 'service_started' }, 'echo-envoy': { condition: 'service_started' }, echo: { condition: 'service_started' } },
    // Healthy = the demo works: the page answers, and web's Envoy reaches echo over mTLS and with
    // a JWT-SVID (SVIDs over SDS, federation, ext_authz). So `up --wait` returns when it is ready.
    // Plain HTTP/1.1 with bash's /dev/tcp: no Node start every interval, and no entry in the page's
    // list of calls. ($$: a literal $ for compose.)
    healthcheck: {
      test: [
        'CMD', 'bash', '-c',
        `exec 3<>/dev/tcp/127.0.0.1/${P.webPage} && exec 3<&- && for p in /hello /jwt/hello; do ` +
          `exec 3<>/dev/tcp/web-envoy/${P.envoyOutbound} && printf 'GET %s HTTP/1.1\\r\\nHost: echo\\r\\nConnection: close\\r\\n\\r\\n' "$$p" >&3 && ` +
          `read -r _ code _ <&3 && exec 3<&- && [ "$$code" = 200 ] || exit 1; done`,
      ],
      interval: '2s',
      timeout: '5s',
      retries: 90,
    },
  };
  files['docker-compose.yml'] =
    '# Generated by `node demo/compose.ts` from demo/topology.ts — edit those, not this file.\n' +
    '# The same two trust domains as `npm run demo`, as containers (demo/README.md):\n' +
    '#   docker compose -f demo/docker-compose.yml up --build --wait    # then open http://127.0.0.1:8080\n' +
    '#   docker compose -f demo/docker-compose.yml down -v\n' +
    stringify({ name: 'herald-demo', services, volumes }, { lineWidth: 0, aliasDuplicateObjects: false });
  return files;
}

if (import.meta.main) {
  for (const [rel, text] of Object.entries(generate())) {
    const path = join(import.meta.dirname, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
    console.log(`wrote demo/${rel}`);
  }
}
