// Admin sockets another local user could hijack, and what the CLI says
// when it cannot reach one. Real herald-server / herald-agent processes; the
// "other user" is `nobody` (the tests run as root).
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_BIN, SERVER_BIN, generateToken, startServer, type ServerHandle } from '../helpers/herald.ts';
import { runCommand, startProcess } from '../helpers/process.ts';
import { freePort } from '../helpers/ports.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const NOBODY = 65534;

describe('admin socket directories and owners', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;

  beforeAll(async () => {
    tmp = await makeTempDir('herald-admsock-');
    server = await startServer({ dir: tmp.path });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await tmp?.cleanup();
  });

  /** A directory pre-created by another user, open to everyone: the hijack setup. */
  const othersDir = async (name: string, uid = NOBODY, mode = 0o777): Promise<string> => {
    const dir = join(tmp.path, name);
    await mkdir(dir);
    await chown(dir, uid, uid);
    await chmod(dir, mode);
    return dir;
  };

  /** herald-server run with its own data dir and port, and the admin socket at `socketPath`. */
  const runServer = async (socketPath: string, env: Record<string, string> = {}) => {
    const name = `srv-${Math.random().toString(36).slice(2, 8)}`;
    const data = join(tmp.path, name);
    const cfg = join(tmp.path, `${name}.yaml`);
    await writeFile(
      cfg,
      `server:
  bind_address: 127.0.0.1
  bind_port: ${await freePort()}
  socket_path: ${socketPath}
  trust_domain: example.org
  data_dir: ${data}
plugins:
  DataStore: { sql: { plugin_data: { database_type: sqlite3, connection_string: ${join(data, 'datastore.sqlite3')} } } }
  KeyManager: { disk: { plugin_data: { keys_path: ${join(data, 'keys.json')} } } }
  NodeAttestor: { join_token: { plugin_data: {} } }
`,
    );
    return startProcess(SERVER_BIN, ['run', '-config', cfg], { cwd: tmp.path, env: { ...process.env, ...env } });
  };

  it('herald-server refuses a socket directory owned by another user and writable by all, naming it and the opt-in', async () => {
    const dir = await othersDir('hijack');
    const proc = await runServer(join(dir, 'api.sock'));
    expect(await proc.exited()).toBe(1);
    const out = proc.output();
    expect(out).toContain(`refusing to use ${dir} for the admin socket`);
    expect(out).toContain('is owned by another user');
    expect(out).toContain('HERALD_ALLOW_INSECURE_SOCKET_DIR=1');
  }, 30_000);

  it('herald-server refuses its own directory when group or others can write to it', async () => {
    const dir = await othersDir('open', 0, 0o777);
    const proc = await runServer(join(dir, 'api.sock'));
    expect(await proc.exited()).toBe(1);
    expect(proc.output()).toMatch(new RegExp(`${dir} \\(owner uid 0, mode 0777\\) is writable by group and other users`));
  }, 30_000);

  it('with HERALD_ALLOW_INSECURE_SOCKET_DIR=1 it starts there, with a warning', async () => {
    const dir = await othersDir('optin');
    const proc = await runServer(join(dir, 'api.sock'), { HERALD_ALLOW_INSECURE_SOCKET_DIR: '1' });
    try {
      await proc.waitForOutput('Server started', 30_000);
      expect(proc.output()).toContain('HERALD_ALLOW_INSECURE_SOCKET_DIR is set');
    } finally {
      await proc.stop();
    }
  }, 40_000);

  it('the CLI refuses a socket owned by another user and sends it nothing', async () => {
    // An impostor's socket: another user's listener where the server's should be.
    const dir = await othersDir('impostor', 0, 0o755);
    const path = join(dir, 'api.sock');
    let connections = 0;
    const impostor: Server = createServer(() => connections++);
    await new Promise<void>((r) => impostor.listen(path, r));
    await chown(path, NOBODY, NOBODY);
    try {
      const res = await runCommand(SERVER_BIN, ['entry', 'show', '-socketPath', path], { cwd: tmp.path });
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`refusing to talk to ${path}: the socket is owned by uid ${NOBODY}, not by you (uid 0) or root`);
      const health = await runCommand(SERVER_BIN, ['healthcheck', '-socketPath', path], { cwd: tmp.path });
      expect(health.code).toBe(1);
      expect(health.stderr).toContain('refusing to talk to');
      expect(connections).toBe(0);
    } finally {
      impostor.close();
    }
  }, 30_000);

  it('herald-agent refuses an admin socket directory another user controls', async () => {
    const token = await generateToken(server);
    const elsewhere = await makeTempDir('herald-agadm-');
    try {
      const dir = join(elsewhere.path, 'adm');
      await mkdir(dir);
      await chown(dir, NOBODY, NOBODY);
      await chmod(dir, 0o777);
      const cfg = join(tmp.path, 'agent-adm.yaml');
      await writeFile(
        cfg,
        `agent:
  data_dir: ${join(tmp.path, 'agent-adm-data')}
  server_address: 127.0.0.1
  server_port: ${server.port}
  socket_path: ${join(tmp.path, 'agent-adm.sock')}
  admin_socket_path: ${join(dir, 'admin.sock')}
  trust_domain: example.org
  insecure_bootstrap: true
plugins:
  KeyManager: { disk: { plugin_data: { directory: ${join(tmp.path, 'agent-adm-data')} } } }
  NodeAttestor: { join_token: { plugin_data: {} } }
  WorkloadAttestor: { unix: { plugin_data: {} } }
`,
      );
      const res = await runCommand(AGENT_BIN, ['run', '-config', cfg, '-joinToken', token], { cwd: tmp.path, timeoutMs: 20_000 });
      expect(res.code).toBe(1);
      expect(res.stderr + res.stdout).toContain(`refusing to use ${dir} for the agent admin socket`);
    } finally {
      await elsewhere.cleanup();
    }
  }, 30_000);
});

describe('CLI errors', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;

  beforeAll(async () => {
    tmp = await makeTempDir('herald-clierr-');
    server = await startServer({ dir: tmp.path });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await tmp?.cleanup();
  });

  it('a missing socket is a connection error naming the socket, not a raw gRPC status', async () => {
    const path = join(tmp.path, 'nothing-here.sock');
    const res = await runCommand(SERVER_BIN, ['agent', 'list', '-socketPath', path], { cwd: tmp.path });
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(`Error: connection error: dial unix ${path}: connect: no such file or directory (is the server running? -socketPath ${path})\n`);
  });

  it('herald-agent api fetch and watch without an agent say so, naming the socket', async () => {
    const path = join(tmp.path, 'no-agent.sock');
    for (const cmd of [['api', 'fetch', 'x509'], ['api', 'watch']]) {
      const res = await runCommand(AGENT_BIN, [...cmd, '-socketPath', path], { cwd: tmp.path });
      expect(res.code).toBe(1);
      expect(res.stderr).toBe(`Error: connection error: dial unix ${path}: connect: no such file or directory (is the agent running? -socketPath ${path})\n`);
    }
  });

  it('a stale socket (nobody listening) is a connection error too', async () => {
    const path = join(tmp.path, 'stale.sock');
    // A socket file nobody listens on (bound, never listening), as a crashed server leaves.
    execFileSync('python3', ['-c', `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(path)})`]);
    const res = await runCommand(SERVER_BIN, ['agent', 'list', '-socketPath', path], { cwd: tmp.path });
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(`Error: connection error: dial unix ${path}: connect: connection refused (is the server running? -socketPath ${path})\n`);
  });

  it('healthcheck -verbose without a daemon says why, as SPIRE does (herald-agent: in spire-agent\'s words)', async () => {
    const missing = join(tmp.path, 'hc-missing.sock');
    const stale = join(tmp.path, 'hc-stale.sock');
    execFileSync('python3', ['-c', `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(stale)})`]);
    for (const [path, errno, text] of [
      [missing, 'ENOENT', 'no such file or directory'],
      [stale, 'ECONNREFUSED', 'connection refused'],
    ] as const) {
      const s = await runCommand(SERVER_BIN, ['healthcheck', '-verbose', '-socketPath', path], { cwd: tmp.path });
      expect({ code: s.code, stdout: s.stdout, stderr: s.stderr }, errno).toEqual({
        code: 1,
        stdout: 'Checking server health...\n',
        stderr: `Failed to check health: connection error: dial unix ${path}: connect: ${text} (is the server running? -socketPath ${path})\nError: server is unhealthy: unable to determine health\n`,
      });
      const a = await runCommand(AGENT_BIN, ['healthcheck', '-verbose', '-socketPath', path], { cwd: tmp.path });
      expect({ code: a.code, stdout: a.stdout, stderr: a.stderr }, errno).toEqual({
        code: 1,
        stdout: 'Checking agent health...\n',
        stderr: `Failed to check health: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix ${path}: connect: ${text}"\nAgent is unhealthy: unable to determine health\n`,
      });
    }
  });

  it('healthcheck reports a healthy server', async () => {
    const res = await server.cli('healthcheck', '-verbose');
    expect({ code: res.code, stdout: res.stdout, stderr: res.stderr }).toEqual({ code: 0, stdout: 'Checking server health...\nServer is healthy.\n', stderr: '' });
  });

  it.each([' unix:uid:0', 'unix: uid:0', 'unix:uid: 0'])('an entry with the selector %j is refused, naming the selector', async (selector) => {
    const res = await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/node', '-spiffeID', 'spiffe://example.org/ws', '-selector', selector);
    expect(res.code).toBe(1);
    // Refused by the CLI, or by the server (then quoted inside the status message).
    const quoted = selector.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(res.stderr).toMatch(new RegExp(`invalid selector \\\\?"${quoted}\\\\?": `));
    const listed = await server.cli('entry', 'show', '-spiffeID', 'spiffe://example.org/ws');
    expect(listed.stdout).toContain('Found 0 entries');
  });

  it('an entry with an oversized selector value is refused', async () => {
    const res = await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/node', '-spiffeID', 'spiffe://example.org/big', '-selector', `unix:${'x'.repeat(1025)}`);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('the value is 1025 bytes; at most 1024 are allowed');
  });

  it('gRPC statuses are printed with their names, as SPIRE\'s CLI does', async () => {
    const res = await server.cli('agent', 'ban', '-spiffeID', 'spiffe://example.org/spire/agent/join_token/none');
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^Error: rpc error: code = NotFound desc = /);
    expect(res.stderr).not.toMatch(/code: \d/);
  });
});
