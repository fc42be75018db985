// Real herald-server and herald-agent processes for benchmarks (temp dir,
// free port), with admin-socket calls. Same launchers users run.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callUnary, udsClient } from '../../src/cli/grpc-client.ts';
import { Services, type ServiceName } from '../../src/common/grpc/protos.ts';
import { quantileFromBuckets } from '../../src/common/telemetry/metrics.ts';

const ROOT = join(import.meta.dirname, '../..');

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitHealthy(socket: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const c = udsClient(Services.health, socket);
    try {
      const r = await callUnary<{ status: string }>(c, 'Check', {}, undefined, 1000);
      if (r.status === 'SERVING') return;
    } catch {
      // not up yet
    } finally {
      c.close();
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${socket} did not become healthy`);
}

async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
}

export interface ServerProc {
  dir: string;
  socket: string;
  port: number;
  trustDomain: string;
  pid: number;
  /** A unary admin call. */
  admin<T>(service: ServiceName, method: string, req: object): Promise<T>;
  stop(): Promise<void>;
}

export async function startServerProc(opts: { trustDomain: string; extraServer?: string; env?: NodeJS.ProcessEnv }): Promise<ServerProc> {
  const dir = await mkdtemp(join(tmpdir(), 'herald-bench-'));
  const port = await freePort();
  const socket = join(dir, 'server.sock');
  await writeFile(join(dir, 'server.yaml'), `server:
  bind_address: 127.0.0.1
  bind_port: ${port}
  socket_path: ${socket}
  trust_domain: ${opts.trustDomain}
  data_dir: ${join(dir, 'server-data')}
  log_level: WARN
  # Every bench client comes from 127.0.0.1: SPIRE's per-IP limits would measure the limiter.
  ratelimit: { attestation: false, signing: false }
${opts.extraServer ?? ''}
plugins:
  DataStore: { sql: { plugin_data: { database_type: sqlite3, connection_string: ${join(dir, 'server-data/ds.sqlite3')} } } }
  KeyManager: { memory: { plugin_data: {} } }
  NodeAttestor: { join_token: { plugin_data: {} } }
`);
  const proc = spawn(join(ROOT, 'bin/herald-server'), ['run', '-config', join(dir, 'server.yaml')], { stdio: ['ignore', 'inherit', 'inherit'], env: opts.env ?? process.env });
  await waitHealthy(socket);
  return {
    dir,
    socket,
    port,
    trustDomain: opts.trustDomain,
    pid: proc.pid!,
    async admin<T>(service: ServiceName, method: string, req: object): Promise<T> {
      const c = udsClient(service, socket);
      try {
        return await callUnary<T>(c, method, req);
      } finally {
        c.close();
      }
    },
    async stop() {
      await stopProcess(proc);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface AgentProc {
  socket: string;
  /** The agent's admin socket (GET /metrics, /sds/status). */
  adminSocket: string;
  pid: number;
  stop(): Promise<void>;
}

/** A histogram's cumulative buckets as /metrics gives them: [upper bound, count]. */
export type HistogramBuckets = readonly (readonly [number, number])[];

/**
 * Latency percentiles (ms) of the agent's histogram `name` (e.g.
 * spire_agent_sds_api_change_to_push_elapsed_time), read from its admin
 * socket's /metrics and interpolated within buckets as PromQL's histogram_quantile.
 * With `since` (an earlier answer's buckets), only the observations made
 * after it count, as PromQL's increase() over a window.
 */
export async function agentLatency(adminSocket: string, name: string, since?: HistogramBuckets): Promise<{ p50: number; p99: number; buckets: HistogramBuckets } | undefined> {
  const body = await new Promise<string>((resolve, reject) => {
    const req = httpRequest({ socketPath: adminSocket, path: '/metrics' }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => (b += d.toString()));
      res.on('end', () => resolve(b));
    });
    req.on('error', reject);
    req.end();
  });
  const buckets: [number, number][] = [];
  for (const m of body.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm'))) buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  const window = since === undefined ? buckets : buckets.map(([le, n]): [number, number] => [le, n - (since.find(([l]) => l === le)?.[1] ?? 0)]);
  const p50 = quantileFromBuckets(window, 0.5);
  const p99 = quantileFromBuckets(window, 0.99);
  return p50 === undefined || p99 === undefined ? undefined : { p50, p99, buckets };
}

export interface BenchEntry {
  path: string;
  selector: string;
  x509SvidTtl?: number;
  federatesWith?: string[];
}

/** An agent attested with a fresh join token; `entries` are parented to it. `root`: another checkout's bin/herald-agent (A/B runs). */
export async function startAgentProc(server: ServerProc, opts: { entries: BenchEntry[]; syncInterval?: string; extraAgent?: string; beforeStart?: () => Promise<void>; env?: NodeJS.ProcessEnv; root?: string }): Promise<AgentProc> {
  const td = server.trustDomain;
  const socket = join(server.dir, 'agent.sock');
  // Not beside the Workload API socket: the agent refuses that, as SPIRE does.
  const adminDir = await mkdtemp(join(tmpdir(), 'herald-bench-admin-'));
  const adminSocket = join(adminDir, 'admin.sock');
  const token = (await server.admin<{ value: string }>(Services.agent, 'CreateJoinToken', { ttl: 600 })).value;
  if (opts.entries.length > 0) {
    const res = await server.admin<{ results: { status: { code: number; message: string } }[] }>(Services.entry, 'BatchCreateEntry', {
      entries: opts.entries.map((e) => ({
        spiffe_id: { trust_domain: td, path: e.path },
        parent_id: { trust_domain: td, path: `/spire/agent/join_token/${token}` },
        selectors: [{ type: e.selector.split(':')[0], value: e.selector.split(':').slice(1).join(':') }],
        x509_svid_ttl: e.x509SvidTtl ?? 0,
        federates_with: e.federatesWith ?? [],
      })),
    });
    const bad = res.results.find((r) => r.status.code !== 0);
    if (bad) throw new Error(`entry create failed: ${bad.status.message}`);
  }
  await writeFile(join(server.dir, 'agent.yaml'), `agent:
  data_dir: ${join(server.dir, 'agent-data')}
  log_level: WARN
  server_address: 127.0.0.1
  server_port: ${server.port}
  socket_path: ${socket}
  trust_domain: ${td}
  insecure_bootstrap: true
  sync_interval: ${opts.syncInterval ?? '1s'}
  admin_socket_path: ${adminSocket}
${opts.extraAgent ?? ''}
plugins:
  KeyManager: { disk: { plugin_data: { directory: ${join(server.dir, 'agent-data')} } } }
  NodeAttestor: { join_token: { plugin_data: {} } }
  WorkloadAttestor: { unix: { plugin_data: { discover_workload_path: true } } }
`);
  await opts.beforeStart?.();
  const proc = spawn(join(opts.root ?? ROOT, 'bin/herald-agent'), ['run', '-config', join(server.dir, 'agent.yaml'), '-joinToken', token], { stdio: ['ignore', 'inherit', 'inherit'], env: opts.env ?? process.env });
  await waitHealthy(socket);
  return {
    socket,
    adminSocket,
    pid: proc.pid!,
    stop: async () => {
      await stopProcess(proc);
      await rm(adminDir, { recursive: true, force: true });
    },
  };
}

export interface BenchEnv {
  dir: string;
  serverSocket: string;
  agentSocket: string;
  agentAdminSocket: string;
  agentPid: number;
  stop(): Promise<void>;
}

/** A server and one agent with the given entries. */
export async function startServerAndAgent(opts: { trustDomain: string; entries: BenchEntry[]; syncInterval?: string }): Promise<BenchEnv> {
  const server = await startServerProc({ trustDomain: opts.trustDomain });
  const agent = await startAgentProc(server, opts);
  return {
    dir: server.dir,
    serverSocket: server.socket,
    agentSocket: agent.socket,
    agentAdminSocket: agent.adminSocket,
    agentPid: agent.pid,
    async stop() {
      await agent.stop();
      await server.stop();
    },
  };
}
