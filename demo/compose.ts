// Generates demo/docker-compose.yml and its config files (demo/compose/)
// from demo/topology.ts — the same two trust domains as `npm run demo`, as
// containers. Run after changing the topology:  node demo/compose.ts
// (a test fails when the committed files differ from what this generates).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { echoEnvoyYaml, webEnvoyYaml } from './lib/envoy-config.ts';
import { CONTAINER_PORTS as P, DOMAINS, LIFETIMES, type DomainSpec } from './topology.ts';

/** Envoy's container user per domain: the agents attest Envoy by this uid. */
export const ENVOY_UID: Record<'web' | 'echo', number> = { web: 1001, echo: 1002 };
const ENVOY_IMAGE = 'envoyproxy/envoy:v1.36-latest';
const HERALD = { build: { context: '..', dockerfile: 'demo/Dockerfile' }, image: 'herald:demo' };

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
`;

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

export function generate(): Record<string, string> {
  const files: Record<string, string> = {};
  const services: Record<string, unknown> = {};
  const volumes: Record<string, Record<string, never>> = {};
  for (const d of DOMAINS) {
    files[`compose/${d.name}-server.yaml`] = serverYaml(d);
    files[`compose/${d.name}-agent.yaml`] = agentYaml(d);
    volumes[`${d.name}-server-socket`] = {};
    volumes[`${d.name}-agent-socket`] = {};
    services[`${d.name}-server`] = {
      ...HERALD,
      command: ['bin/herald-server', 'run', '-config', `/etc/herald/server.yaml`],
      volumes: [`./compose/${d.name}-server.yaml:/etc/herald/server.yaml:ro`, `${d.name}-server-socket:/run/herald/${d.name}-server`],
      healthcheck: { test: ['CMD', 'bin/herald-server', 'healthcheck', '-socketPath', `/run/herald/${d.name}-server/api.sock`], interval: '2s', retries: 30 },
    };
    services[`${d.name}-agent`] = {
      ...HERALD,
      // The agent attests Envoy by its uid through SO_PEERCRED: it must see
      // the other containers' processes. ($$: a literal $ for compose.)
      pid: 'host',
      command: ['sh', '-c', `exec bin/herald-agent run -config /etc/herald/agent.yaml -joinToken "$$(cat /run/herald/tokens/${d.name})"`],
      volumes: [`./compose/${d.name}-agent.yaml:/etc/herald/agent.yaml:ro`, `${d.name}-agent-socket:/run/herald/${d.name}-agent`, 'tokens:/run/herald/tokens:ro'],
      depends_on: { bootstrap: { condition: 'service_completed_successfully' } },
      healthcheck: { test: ['CMD', 'bin/herald-agent', 'healthcheck', '-socketPath', `/run/herald/${d.name}-agent/api.sock`], interval: '2s', retries: 30 },
    };
  }
  volumes.tokens = {};
  services.bootstrap = {
    ...HERALD,
    command: ['node', 'demo/compose-bootstrap.ts'],
    environment: Object.fromEntries(DOMAINS.flatMap((d) => [[`${d.name.toUpperCase()}_SERVER_SOCKET`, `/run/herald/${d.name}-server/api.sock`], [`${d.name.toUpperCase()}_ENVOY_UID`, String(ENVOY_UID[d.name])]])),
    volumes: [...DOMAINS.map((d) => `${d.name}-server-socket:/run/herald/${d.name}-server`), 'tokens:/run/herald/tokens'],
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
      image: ENVOY_IMAGE,
      user: String(ENVOY_UID[d.name]),
      command: ['envoy', '-c', '/etc/envoy/envoy.yaml', '--base-id', String(ENVOY_UID[d.name])],
      volumes: [`./compose/${d.name}-envoy.yaml:/etc/envoy/envoy.yaml:ro`, `${d.name}-agent-socket:/run/herald/${d.name}-agent`],
      depends_on: { [`${d.name}-agent`]: { condition: 'service_healthy' } },
    };
  }
  services.echo = { ...HERALD, command: ['node', 'demo/apps/echo-app.ts', String(P.echoApp)] };
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
    volumes: DOMAINS.map((d) => `${d.name}-server-socket:/run/herald/${d.name}-server`),
    ports: [`127.0.0.1:${P.webPage}:${P.webPage}`],
    depends_on: ['web-envoy', 'echo-envoy', 'echo'],
  };
  files['docker-compose.yml'] =
    '# Generated by `node demo/compose.ts` from demo/topology.ts — edit those, not this file.\n' +
    '# The same two trust domains as `npm run demo`, as containers:  docker compose -f demo/docker-compose.yml up --build\n' +
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
