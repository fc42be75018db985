// Real herald-server / herald-agent processes for end-to-end tests: configs
// in a temp dir, free ports, sockets inside the temp dir, the bin/ launchers.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { runCommand, startProcess, type RunningProcess } from './process.ts';

export const ROOT = join(import.meta.dirname, '../..');
export const SERVER_BIN = join(ROOT, 'bin/herald-server');
export const AGENT_BIN = join(ROOT, 'bin/herald-agent');

export interface ServerHandle {
  readonly dir: string;
  readonly socketPath: string;
  readonly port: number;
  readonly trustDomain: string;
  readonly configPath: string;
  proc: RunningProcess;
  /** Runs a herald-server CLI command against this server's admin socket. */
  cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface ServerOptions {
  dir: string;
  trustDomain?: string;
  caTtl?: string;
  x509SvidTtl?: string;
  jwtSvidTtl?: string;
  /** Extra YAML under `server:` (indented by the caller as two spaces). */
  extraServer?: string;
  /** Extra top-level YAML (e.g. health_checks). */
  extraTop?: string;
  /** Extra YAML under `plugins:` (e.g. UpstreamAuthority), indented by the caller as two spaces. */
  extraPlugins?: string;
  /** Enables the x509pop node attestor with this CA bundle (PEM path). */
  x509popCaBundle?: string;
  /** More NodeAttestor plugins, as `name: { plugin_data: … }` items of the NodeAttestor map (flow YAML). */
  extraNodeAttestors?: string;
  logLevel?: string;
  /** The KeyManager plugin's YAML value (default: disk, keys_path in server-data). */
  keyManager?: string;
  /** The DataStore plugin's YAML value (default: sql on SQLite in server-data). */
  dataStore?: string;
}

export async function startServer(o: ServerOptions): Promise<ServerHandle> {
  const port = await freePort();
  const td = o.trustDomain ?? 'example.org';
  const socketPath = join(o.dir, 'server.sock');
  const configPath = join(o.dir, 'server.yaml');
  await writeFile(
    configPath,
    `server:
  bind_address: 127.0.0.1
  bind_port: ${port}
  socket_path: ${socketPath}
  trust_domain: ${td}
  data_dir: ${join(o.dir, 'server-data')}
  log_level: ${o.logLevel ?? 'DEBUG'}
  ca_ttl: ${o.caTtl ?? '24h'}
  default_x509_svid_ttl: ${o.x509SvidTtl ?? '1h'}
  default_jwt_svid_ttl: ${o.jwtSvidTtl ?? '5m'}
${o.extraServer ?? ''}
plugins:
  DataStore: ${o.dataStore ?? `{ sql: { plugin_data: { database_type: sqlite3, connection_string: ${join(o.dir, 'server-data/datastore.sqlite3')} } } }`}
  KeyManager: ${o.keyManager ?? `{ disk: { plugin_data: { keys_path: ${join(o.dir, 'server-data/keys.json')} } } }`}
  NodeAttestor: { join_token: { plugin_data: {} }${o.x509popCaBundle ? `, x509pop: { plugin_data: { ca_bundle_path: ${o.x509popCaBundle} } }` : ''}${o.extraNodeAttestors ? `, ${o.extraNodeAttestors}` : ''} }
${o.extraPlugins ?? ''}
${o.extraTop ?? ''}`,
  );
  const launch = (): RunningProcess => startProcess(SERVER_BIN, ['run', '-config', configPath], { cwd: o.dir });
  const handle: ServerHandle = {
    dir: o.dir,
    socketPath,
    port,
    trustDomain: td,
    configPath,
    proc: launch(),
    cli: (...args) => runCommand(SERVER_BIN, [...args, '-socketPath', socketPath], { cwd: o.dir }),
    async restart() {
      await handle.proc.stop();
      handle.proc = launch();
      await handle.proc.waitForOutput('Server started');
    },
    stop: () => handle.proc.stop(),
  };
  await handle.proc.waitForOutput('Server started');
  return handle;
}

export interface AgentHandle {
  readonly socketPath: string;
  readonly dataDir: string;
  proc: RunningProcess;
  cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  restart(extraArgs?: string[]): Promise<void>;
  stop(): Promise<void>;
}

export interface AgentOptions {
  dir: string;
  server: ServerHandle;
  joinToken?: string;
  name?: string;
  syncInterval?: string;
  extraAgent?: string;
  /** Extra top-level YAML (e.g. health_checks). */
  extraTop?: string;
  logLevel?: string;
  /** The WorkloadAttestor plugins' YAML value (default: unix with discover_workload_path). */
  workloadAttestor?: string;
  /** The NodeAttestor plugin's YAML value (default: join_token). */
  nodeAttestor?: string;
  /** The KeyManager plugin's YAML value (default: disk, in the data_dir). */
  keyManager?: string;
  /** Bootstrap from this bundle file instead of insecure_bootstrap. */
  trustBundlePath?: string;
  /** Extra environment for the agent process (e.g. libfaketime's LD_PRELOAD), kept across restarts. */
  env?: Record<string, string>;
}

export async function startAgent(o: AgentOptions): Promise<AgentHandle> {
  const name = o.name ?? 'agent';
  const socketPath = join(o.dir, `${name}.sock`);
  const dataDir = join(o.dir, `${name}-data`);
  const configPath = join(o.dir, `${name}.yaml`);
  await writeFile(
    configPath,
    `agent:
  data_dir: ${dataDir}
  log_level: ${o.logLevel ?? 'DEBUG'}
  server_address: 127.0.0.1
  server_port: ${o.server.port}
  socket_path: ${socketPath}
  trust_domain: ${o.server.trustDomain}
  ${o.trustBundlePath ? `trust_bundle_path: ${o.trustBundlePath}` : 'insecure_bootstrap: true'}
  sync_interval: ${o.syncInterval ?? '1s'}
${o.extraAgent ?? ''}
plugins:
  KeyManager: ${o.keyManager ?? `{ disk: { plugin_data: { directory: ${dataDir} } } }`}
  NodeAttestor: ${o.nodeAttestor ?? '{ join_token: { plugin_data: {} } }'}
  WorkloadAttestor: ${o.workloadAttestor ?? '{ unix: { plugin_data: { discover_workload_path: true } } }'}
${o.extraTop ?? ''}`,
  );
  const launch = (extra: string[]): RunningProcess =>
    startProcess(AGENT_BIN, ['run', '-config', configPath, ...extra], { cwd: o.dir, ...(o.env ? { env: { ...process.env, ...o.env } } : {}) });
  const handle: AgentHandle = {
    socketPath,
    dataDir,
    proc: launch(o.joinToken ? ['-joinToken', o.joinToken] : []),
    cli: (...args) => runCommand(AGENT_BIN, [...args, '-socketPath', socketPath], { cwd: o.dir }),
    async restart(extra = []) {
      await handle.proc.stop();
      handle.proc = launch(extra);
      await handle.proc.waitForOutput('Starting Workload and SDS APIs');
    },
    stop: () => handle.proc.stop(),
  };
  await handle.proc.waitForOutput('Starting Workload and SDS APIs');
  return handle;
}

/** `Token: <uuid>` → the token. */
export async function generateToken(server: ServerHandle, spiffeId?: string): Promise<string> {
  const res = await server.cli('token', 'generate', ...(spiffeId ? ['-spiffeID', spiffeId] : []));
  const m = /^Token: (\S+)$/m.exec(res.stdout);
  if (res.code !== 0 || !m) throw new Error(`token generate failed: ${res.stdout}${res.stderr}`);
  return m[1]!;
}
