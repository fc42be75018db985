// The soak's topology on loopback: one herald-server on SQLite (the HA work
// will add a second server on PostgreSQL: `servers` is a list for that), a
// TCP proxy between the agents and the server (soak-proxy.ts), three
// agents, two Envoys on agent 0 (A's outbound injects A's JWT-SVID and
// calls B over mTLS; B's inbound checks it through ext_authz), an app
// behind B, and WORKLOADS identities spread over the agents, held by this
// process through its supplementary group WORKLOAD_GID.
import { createServer, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderBootstrap } from '../../src/agent/endpoints/sds/bootstrap-template.ts';
import { startEnvoy, type EnvoyHandle } from '../helpers/envoy.ts';
import { generateToken, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { freePorts } from '../helpers/ports.ts';
import { startSoakProxy, type SoakProxy } from './soak-proxy.ts';

export const TD = 'example.org';
export const WORKLOAD_GID = 4300;
export const ENVOY_GID = { a: 4301, b: 4302 } as const;
export const ENVOY_ID = { a: `spiffe://${TD}/envoy-a`, b: `spiffe://${TD}/envoy-b` } as const;
export const AGENTS = 3;
export const SYNC_INTERVAL = '1s';

export interface Topology {
  dir: string;
  servers: ServerHandle[];
  proxy: SoakProxy;
  agents: AgentHandle[];
  envoys: Record<'a' | 'b', EnvoyHandle>;
  restartEnvoy(name: 'a' | 'b'): Promise<void>;
  /** Workload SPIFFE IDs by agent index. */
  workloads: string[][];
  /** URL of A's outbound listener: a GET there is a call A → (mTLS, JWT) → B → app. */
  callUrl: string;
  entryCount: number;
  agentCount: number;
  stop(): Promise<void>;
}

export async function startTopology(dir: string, workloadCount: number): Promise<Topology> {
  const cleanup: (() => Promise<void>)[] = [];
  try {
    const ports = await freePorts(8);
    const app: Server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => app.listen(ports[0], '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => app.close(() => r())));

    // SVIDs of tens of seconds and a CA of a few minutes: several rotations in any run.
    const server = await startServer({ dir, trustDomain: TD, caTtl: '4m', x509SvidTtl: '40s', jwtSvidTtl: '40s', logLevel: 'INFO' });
    cleanup.push(() => server.stop());
    const proxy = await startSoakProxy(() => server.port);
    cleanup.push(() => proxy.close());
    const viaProxy: ServerHandle = { ...server, port: proxy.port };

    // All entries in one `entry create -data` (one CLI process, not one per entry).
    const workloads: string[][] = Array.from({ length: AGENTS }, () => []);
    const entries: object[] = [];
    const entry = (parent: string, id: string, selector: string): void => {
      const [type, ...value] = selector.split(':');
      entries.push({ parent_id: parent, spiffe_id: id, selectors: [{ type, value: value.join(':') }], x509_svid_ttl: 40, jwt_svid_ttl: 40 });
    };
    const tokens: string[] = [];
    for (let i = 0; i < AGENTS; i++) {
      const node = `spiffe://${TD}/node-${i}`;
      tokens.push(await generateToken(server, node));
      if (i === 0) for (const k of ['a', 'b'] as const) entry(node, ENVOY_ID[k], `unix:supplementary_gid:${ENVOY_GID[k]}`);
      for (let k = i; k < workloadCount; k += AGENTS) {
        const id = `spiffe://${TD}/w/${k}`;
        entry(node, id, `unix:supplementary_gid:${WORKLOAD_GID}`);
        workloads[i]!.push(id);
      }
    }
    const dataPath = join(dir, 'entries.json');
    await writeFile(dataPath, JSON.stringify({ entries }));
    const created = await server.cli('entry', 'create', '-data', dataPath);
    if (created.code !== 0) throw new Error(`entry create -data: ${created.stderr || created.stdout}`);
    const entryCount = entries.length;
    const agents: AgentHandle[] = [];
    for (let i = 0; i < AGENTS; i++) {
      const a = await startAgent({
        dir,
        server: viaProxy,
        name: `agent-${i}`,
        joinToken: tokens[i]!,
        syncInterval: SYNC_INTERVAL,
        logLevel: 'INFO',
        extraAgent: i === 0 ? `  authz:\n    enabled: true\n    audiences: [echo]\n    socket_path: ${join(dir, 'authz.sock')}\n` : '',
      });
      agents.push(a);
      cleanup.push(() => a.stop());
    }

    const envoyYaml = (k: 'a' | 'b', admin: number, inbound: number, outbound: number): Promise<string> =>
      renderBootstrap('sidecar-authz.yaml', {
        NODE_ID: `envoy-${k}`, NODE_CLUSTER: k, ADMIN_PORT: admin, INBOUND_PORT: inbound, OUTBOUND_PORT: outbound,
        LOCAL_APP_PORT: ports[0]!, ALLOWED_PEER_ID: ENVOY_ID.a, UPSTREAM_HOST: '127.0.0.1', UPSTREAM_PORT: ports[2]!, UPSTREAM_ID: ENVOY_ID.b,
        SVID_NAME: 'default', VALIDATION_NAME: 'ROOTCA', AGENT_SOCKET: agents[0]!.socketPath, AUTHZ_SOCKET: join(dir, 'authz.sock'),
        AUDIENCE: 'echo', UPSTREAM_AUDIENCE: 'echo',
      });
    const yaml = { b: await envoyYaml('b', ports[1]!, ports[2]!, ports[3]!), a: await envoyYaml('a', ports[4]!, ports[5]!, ports[6]!) };
    const admin = { a: ports[4]!, b: ports[1]! };
    const launchEnvoy = (k: 'a' | 'b'): Promise<EnvoyHandle> =>
      startEnvoy({ dir, name: `envoy-${k}`, yaml: yaml[k], adminPort: admin[k], logLevel: 'warning', prefix: ['setpriv', `--groups=${ENVOY_GID[k]}`, '--'] });
    const envoys = { b: await launchEnvoy('b'), a: await launchEnvoy('a') };
    cleanup.push(async () => {
      await envoys.a.stop();
      await envoys.b.stop();
    });

    return {
      dir,
      servers: [server],
      proxy,
      agents,
      envoys,
      async restartEnvoy(k) {
        envoys[k] = await launchEnvoy(k);
      },
      workloads,
      callUrl: `http://127.0.0.1:${ports[6]}/hello`,
      entryCount,
      agentCount: AGENTS,
      async stop() {
        for (const c of cleanup.reverse()) await c().catch(() => undefined);
      },
    };
  } catch (err) {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
    throw err;
  }
}
