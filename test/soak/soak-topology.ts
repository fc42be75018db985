// The soak's topology on loopback: two herald-servers sharing one real
// PostgreSQL (its relation files, base/, on a small tmpfs that a fault fills;
// the WAL stays on the ordinary disk, since PostgreSQL PANICs when it cannot
// write WAL), a TCP proxy between the agents and the servers that spreads
// connections over both (soak-proxy.ts), three agents each under libfaketime
// with a timestamp file of its own (clock jumps), two Envoys on agent 0 (A's
// outbound injects A's JWT-SVID and calls B over mTLS; B's inbound checks it
// through ext_authz), an app behind B, a federation peer (other.org, whose
// bundle endpoint a fault turns to garbage), and WORKLOADS identities spread
// over the agents, held by this process through its supplementary group
// WORKLOAD_GID.
import { createServer, type Server } from 'node:http';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { faketimeLib } from '../../demo/lib/tools.ts';
import { renderBootstrap } from '../../src/agent/endpoints/sds/bootstrap-template.ts';
import { startEnvoy, type EnvoyHandle } from '../helpers/envoy.ts';
import { generateToken, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { freePorts } from '../helpers/ports.ts';
import { startPostgres, type PostgresCluster } from '../helpers/postgres.ts';
import { runCommand } from '../helpers/process.ts';
import { mountTmpfs, type FullableFs } from '../helpers/small-fs.ts';
import { PEER_SERVER_ID, PEER_TD, startFederationPeer, type FederationPeer } from './soak-federation.ts';
import { startSoakProxy, type SoakProxy } from './soak-proxy.ts';

export const TD = 'example.org';
export const WORKLOAD_GID = 4300;
export const ENVOY_GID = { a: 4301, b: 4302 } as const;
export const ENVOY_ID = { a: `spiffe://${TD}/envoy-a`, b: `spiffe://${TD}/envoy-b` } as const;
export const AGENTS = 3;
export const SERVERS = 2;
export const SYNC_INTERVAL = '1s';
/** The tmpfs under PostgreSQL's relation files (a fresh cluster's base/ is ~30 MiB). */
const PG_BASE_MIB = 96;

export interface Topology {
  dir: string;
  servers: ServerHandle[];
  postgres: PostgresCluster;
  /** PostgreSQL's base/ directory (its tables), on a tmpfs that can be filled. */
  pgDisk: FullableFs;
  proxy: SoakProxy;
  agents: AgentHandle[];
  /** libfaketime's timestamp file of each agent ("+0" = the real clock). */
  agentClocks: string[];
  federation: FederationPeer;
  envoys: Record<'a' | 'b', EnvoyHandle>;
  restartEnvoy(name: 'a' | 'b'): Promise<void>;
  /** Workload SPIFFE IDs by agent index. */
  workloads: string[][];
  /** URL of A's outbound listener: a GET there is a call A → (mTLS, JWT) → B → app. */
  callUrl: string;
  entryCount: number;
  agentCount: number;
  /** Output of earlier starts of a restarted process, by name (kept with the logs of a failed soak). */
  pastOutput: Map<string, string>;
  stop(): Promise<void>;
}

export async function startTopology(dir: string, workloadCount: number): Promise<Topology> {
  const cleanup: (() => Promise<void>)[] = [];
  try {
    const ports = await freePorts(8);
    const app: Server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => app.listen(ports[0], '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => app.close(() => r())));

    let pgDisk: FullableFs | undefined;
    const postgres = await startPostgres({
      async prepare({ dataDir }) {
        // base/ moved onto a tmpfs owned by the server's account.
        const base = join(dataDir, 'base');
        await rename(base, `${base}.initdb`);
        pgDisk = await mountTmpfs(base, PG_BASE_MIB);
        const owner = await stat(dataDir);
        for (const [cmd, args] of [['cp', ['-a', `${base}.initdb/.`, base]], ['chown', [`${owner.uid}:${owner.gid}`, base]]] as const) {
          const r = await runCommand(cmd, [...args]);
          if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
        }
        await rm(`${base}.initdb`, { recursive: true, force: true });
      },
    });
    cleanup.push(async () => {
      // Stop the server, then unmount base/, then remove the cluster's files.
      await postgres.pause();
      await pgDisk?.unmount();
      await postgres.stop();
    });
    const databaseUri = await postgres.createDatabase();

    const federation = await startFederationPeer();
    cleanup.push(() => federation.close());

    // SVIDs of tens of seconds and a CA of a few minutes: several rotations in any run.
    const servers: ServerHandle[] = [];
    for (let i = 0; i < SERVERS; i++) {
      const sdir = join(dir, `server-${i}`);
      await mkdir(sdir);
      // One at a time: the first migrates the schema.
      const s = await startServer({
        dir: sdir, trustDomain: TD, caTtl: '4m', x509SvidTtl: '40s', jwtSvidTtl: '40s', logLevel: 'INFO',
        dataStore: `{ sql: { plugin_data: { database_type: postgres, connection_string: "${databaseUri}" } } }`,
      });
      servers.push(s);
      cleanup.push(() => s.stop());
    }
    const server = servers[0]!;
    let next = 0;
    const proxy = await startSoakProxy(() => servers[next++ % servers.length]!.port);
    cleanup.push(() => proxy.close());
    const viaProxy: ServerHandle = { ...server, port: proxy.port };

    // The federation relationship (in the shared database) and the peer's first bundle to authenticate its endpoint.
    const peerBundle = join(dir, 'peer-bundle.json');
    await writeFile(peerBundle, federation.goodBundle().marshal());
    for (const args of [
      ['bundle', 'set', '-id', `spiffe://${PEER_TD}`, '-path', peerBundle, '-format', 'spiffe'],
      ['federation', 'create', '-trustDomain', PEER_TD, '-bundleEndpointURL', federation.url, '-bundleEndpointProfile', 'https_spiffe', '-endpointSpiffeID', PEER_SERVER_ID],
    ]) {
      const r = await server.cli(...args);
      if (r.code !== 0) throw new Error(`herald-server ${args.join(' ')}: ${r.stderr || r.stdout}`);
    }

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
    const agentClocks: string[] = [];
    for (let i = 0; i < AGENTS; i++) {
      const clock = join(dir, `agent-${i}.faketime`);
      await writeFile(clock, '+0\n');
      agentClocks.push(clock);
      const a = await startAgent({
        // Only the wall clock is faked (timers run on the monotonic one); the file is read again every second.
        env: { LD_PRELOAD: faketimeLib(), FAKETIME_TIMESTAMP_FILE: clock, FAKETIME_CACHE_DURATION: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
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
      servers,
      postgres,
      pgDisk: pgDisk!,
      proxy,
      agents,
      agentClocks,
      federation,
      envoys,
      async restartEnvoy(k) {
        envoys[k] = await launchEnvoy(k);
      },
      workloads,
      callUrl: `http://127.0.0.1:${ports[6]}/hello`,
      entryCount,
      agentCount: AGENTS,
      pastOutput: new Map(),
      async stop() {
        for (const c of cleanup.reverse()) await c().catch(() => undefined);
      },
    };
  } catch (err) {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
    throw err;
  }
}
