// SPIRE's own spire-server and spire-agent (v1.13.3, built by scripts/setup),
// configured and started for interop tests against Herald.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spireBinaries } from '../../demo/lib/tools.ts';
import { freePort } from './ports.ts';
import { runCommand, startProcess, type RunningProcess } from './process.ts';
import { waitFor } from './wait.ts';

export { spireBinaries, SPIRE_VERSION } from '../../demo/lib/tools.ts';

export interface SpireServerHandle {
  proc: RunningProcess;
  port: number;
  socketPath: string;
  trustDomain: string;
  /** spire-server's CLI on this server's socket. */
  cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

/** A spire-server on loopback (SQLite, in-memory keys) with `plugins` (HCL blocks, e.g. a NodeAttestor) added; resolves once healthy. */
export async function startSpireServer(opts: { dir: string; trustDomain?: string; plugins: string }): Promise<SpireServerHandle> {
  const { server } = spireBinaries();
  const f = (n: string) => join(opts.dir, n);
  const trustDomain = opts.trustDomain ?? 'spire.test';
  const port = await freePort();
  const socketPath = f('spire-server.sock');
  await mkdir(f('spire-data'), { recursive: true });
  await writeFile(f('spire-server.conf'), spireServerConf({ port, socketPath, trustDomain, dataDir: f('spire-data'), plugins: opts.plugins }));
  const proc = startProcess(server, ['run', '-config', f('spire-server.conf')]);
  const cli = (...args: string[]) => runCommand(server, [...args, '-socketPath', socketPath]);
  await waitFor('spire-server healthy', async () => (await cli('healthcheck')).code === 0, { timeoutMs: 30_000 }).catch((err: Error) => {
    throw new Error(`${err.message}\n--- spire-server output ---\n${proc.output().slice(-3000)}`);
  });
  return { proc, port, socketPath, trustDomain, cli, stop: () => proc.stop() };
}

/**
 * A spire-server config on 127.0.0.1:`port` (SQLite in `dataDir`, in-memory keys) with `plugins`
 * (HCL blocks) added; `serverExtra` adds lines to the server block (TTLs, key type …).
 */
export function spireServerConf(o: { port: number; socketPath: string; trustDomain: string; dataDir: string; plugins: string; logLevel?: string; serverExtra?: string }): string {
  return `server {
  bind_address = "127.0.0.1"
  bind_port = "${o.port}"
  socket_path = "${o.socketPath}"
  trust_domain = "${o.trustDomain}"
  data_dir = "${o.dataDir}"
  log_level = "${o.logLevel ?? 'DEBUG'}"
${o.serverExtra ?? ''}}
plugins {
  DataStore "sql" { plugin_data { database_type = "sqlite3" connection_string = "${join(o.dataDir, 'datastore.sqlite3')}" } }
  KeyManager "memory" { plugin_data {} }
  ${o.plugins}
}
`;
}

/**
 * A spire-agent config for a server on 127.0.0.1:`serverPort` (insecure bootstrap,
 * in-memory keys, the unix workload attestor), with `nodeAttestor` as its NodeAttestor block;
 * `agentExtra` adds lines to the agent block.
 */
export function spireAgentConf(o: { dataDir: string; socketPath: string; serverPort: number; trustDomain: string; nodeAttestor: string; logLevel?: string; agentExtra?: string }): string {
  return `agent {
  data_dir = "${o.dataDir}"
  log_level = "${o.logLevel ?? 'DEBUG'}"
  server_address = "127.0.0.1"
  server_port = "${o.serverPort}"
  socket_path = "${o.socketPath}"
  trust_domain = "${o.trustDomain}"
  insecure_bootstrap = true
${o.agentExtra ?? ''}}
plugins {
  ${o.nodeAttestor}
  KeyManager "memory" { plugin_data {} }
  WorkloadAttestor "unix" { plugin_data {} }
}
`;
}

/** Writes `name`.conf (spireAgentConf) in `dir` and starts spire-agent on it; its Workload API socket is `dir/name.sock`. */
export async function startSpireAgent(o: { dir: string; name?: string; serverPort: number; trustDomain: string; nodeAttestor: string; args?: string[] }): Promise<{ proc: RunningProcess; socketPath: string; dataDir: string }> {
  const name = o.name ?? 'spire-agent';
  const socketPath = join(o.dir, `${name}.sock`);
  const dataDir = join(o.dir, `${name}-data`);
  const conf = join(o.dir, `${name}.conf`);
  await writeFile(conf, spireAgentConf({ dataDir, socketPath, serverPort: o.serverPort, trustDomain: o.trustDomain, nodeAttestor: o.nodeAttestor }));
  const proc = startProcess(spireBinaries().agent, ['run', '-config', conf, ...(o.args ?? [])]);
  return { proc, socketPath, dataDir };
}
