// Real herald-server and herald-agent processes for benchmarks (temp dir,
// free port), with an admin-socket client. Same launchers users run.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callUnary, udsClient } from '../../src/cli/grpc-client.ts';
import { Services } from '../../src/common/grpc/protos.ts';

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

export interface BenchEnv {
  dir: string;
  agentConfig: string;
  serverSocket: string;
  agentSocket: string;
  agentPid: number;
  stop(): Promise<void>;
}

/** A server and one agent (join token) with the given entries parented to the agent. */
export async function startServerAndAgent(opts: {
  trustDomain: string;
  entries: { path: string; selector: string; x509SvidTtl?: number }[];
  syncInterval?: string;
}): Promise<BenchEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'herald-bench-'));
  const port = await freePort();
  const serverSocket = join(dir, 'server.sock');
  const agentSocket = join(dir, 'agent.sock');
  await writeFile(join(dir, 'server.yaml'), `server:
  bind_address: 127.0.0.1
  bind_port: ${port}
  socket_path: ${serverSocket}
  trust_domain: ${opts.trustDomain}
  data_dir: ${join(dir, 'server-data')}
  log_level: WARN
plugins:
  DataStore: { sql: { plugin_data: { database_type: sqlite3, connection_string: ${join(dir, 'server-data/ds.sqlite3')} } } }
  KeyManager: { memory: { plugin_data: {} } }
  NodeAttestor: { join_token: { plugin_data: {} } }
`);
  await writeFile(join(dir, 'agent.yaml'), `agent:
  data_dir: ${join(dir, 'agent-data')}
  log_level: WARN
  server_address: 127.0.0.1
  server_port: ${port}
  socket_path: ${agentSocket}
  trust_domain: ${opts.trustDomain}
  insecure_bootstrap: true
  sync_interval: ${opts.syncInterval ?? '1s'}
plugins:
  KeyManager: { disk: { plugin_data: { directory: ${join(dir, 'agent-data')} } } }
  NodeAttestor: { join_token: { plugin_data: {} } }
  WorkloadAttestor: { unix: { plugin_data: { discover_workload_path: true } } }
`);
  const procs: ChildProcess[] = [];
  procs.push(spawn(join(ROOT, 'bin/herald-server'), ['run', '-config', join(dir, 'server.yaml')], { stdio: ['ignore', 'inherit', 'inherit'] }));
  await waitHealthy(serverSocket);
  const agentApi = udsClient(Services.agent, serverSocket);
  const entryApi = udsClient(Services.entry, serverSocket);
  const token = (await callUnary<{ value: string }>(agentApi, 'CreateJoinToken', { ttl: 600 })).value;
  await callUnary(entryApi, 'BatchCreateEntry', {
    entries: opts.entries.map((e) => ({
      spiffe_id: { trust_domain: opts.trustDomain, path: e.path },
      parent_id: { trust_domain: opts.trustDomain, path: `/spire/agent/join_token/${token}` },
      selectors: [{ type: e.selector.split(':')[0], value: e.selector.split(':').slice(1).join(':') }],
      x509_svid_ttl: e.x509SvidTtl ?? 0,
    })),
  });
  agentApi.close();
  entryApi.close();
  const agent = spawn(join(ROOT, 'bin/herald-agent'), ['run', '-config', join(dir, 'agent.yaml'), '-joinToken', token], { stdio: ['ignore', 'inherit', 'inherit'] });
  procs.push(agent);
  await waitHealthy(agentSocket);
  return {
    dir,
    agentConfig: join(dir, 'agent.yaml'),
    serverSocket,
    agentSocket,
    agentPid: agent.pid!,
    async stop() {
      for (const p of procs.reverse()) {
        p.kill('SIGTERM');
        await new Promise((r) => p.once('exit', r));
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
