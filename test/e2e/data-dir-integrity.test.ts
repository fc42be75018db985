// Issue 15, items 2 and 7, with the real binaries: one daemon per data_dir
// (a second server or agent is refused, naming the holder; a SIGKILLed
// holder does not block the restart), and a 0-byte datastore beside the CA
// journal is refused unless `run -allowEmptyDatastore`.
import { readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskKeyManager } from '../../src/server/plugins/keymanager/disk/disk.ts';
import { AGENT_BIN, generateToken, SERVER_BIN, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { freePort } from '../helpers/ports.ts';
import { runCommand, startProcess, type RunningProcess } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';

let tmp: { path: string; cleanup: () => Promise<void> };
const running: { stop(): Promise<void> }[] = [];

beforeEach(async () => {
  tmp = await makeTempDir('herald-dd-');
});

afterEach(async () => {
  for (const p of running.splice(0).reverse()) await p.stop();
  await tmp.cleanup();
});

/** The server's config with its own port and admin socket, same data_dir. */
async function secondServerConfig(server: ServerHandle): Promise<string> {
  const text = (await readFile(server.configPath, 'utf8'))
    .replace(/bind_port: \d+/, `bind_port: ${await freePort()}`)
    .replace(/socket_path: .*/, `socket_path: ${join(tmp.path, 'second.sock')}`);
  const path = join(tmp.path, 'second.yaml');
  await writeFile(path, text);
  return path;
}

describe('one daemon per data_dir', { timeout: 90_000 }, () => {
  it('refuses a second herald-server on the same data_dir, naming the holder; a SIGKILLed holder does not block a restart', async () => {
    const server = await startServer({ dir: tmp.path });
    running.push(server);
    const dataDir = join(tmp.path, 'server-data');
    const keysBefore = await readFile(join(dataDir, 'keys.json'), 'utf8');
    const second = await secondServerConfig(server);

    const res = await runCommand(SERVER_BIN, ['run', '-config', second], { cwd: tmp.path, timeoutMs: 20_000 });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`Error: herald-server: data_dir ${dataDir} is in use by herald-server (pid ${server.proc.pid}, running since `);
    expect(res.stderr).toContain('stop the other one, or give this one its own data_dir');
    // The running server's CA keys are untouched and it still serves.
    expect(await readFile(join(dataDir, 'keys.json'), 'utf8')).toBe(keysBefore);
    expect((await server.cli('healthcheck')).stdout).toBe('Server is healthy.\n');

    // The kernel drops the lock with the process: no stale lock after SIGKILL.
    await server.proc.stop('SIGKILL');
    const restarted: RunningProcess = startProcess(SERVER_BIN, ['run', '-config', second], { cwd: tmp.path });
    running.push(restarted);
    await restarted.waitForOutput('Server started');
    expect(await readFile(join(dataDir, 'keys.json'), 'utf8')).toBe(keysBefore);
  });

  it('refuses a second herald-agent on the same data_dir, naming the holder', async () => {
    const server = await startServer({ dir: tmp.path });
    running.push(server);
    const agent: AgentHandle = await startAgent({ dir: tmp.path, server, joinToken: await generateToken(server) });
    running.push(agent);
    const text = (await readFile(join(tmp.path, 'agent.yaml'), 'utf8')).replace(/socket_path: .*/, `socket_path: ${join(tmp.path, 'second-agent.sock')}`);
    await writeFile(join(tmp.path, 'second-agent.yaml'), text);

    const res = await runCommand(AGENT_BIN, ['run', '-config', join(tmp.path, 'second-agent.yaml')], { cwd: tmp.path, timeoutMs: 20_000 });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`herald-agent: data_dir ${agent.dataDir} is in use by herald-agent (pid ${agent.proc.pid}, running since `);
    expect((await agent.cli('healthcheck')).code).toBe(0);
  });
});

describe('CA key check at start', { timeout: 90_000 }, () => {
  it('refuses to start when the key file no longer holds the key of the active CA (another server rewrote it)', async () => {
    const server = await startServer({ dir: tmp.path });
    running.push(server);
    await server.stop();
    const dataDir = join(tmp.path, 'server-data');
    // What a second server on this data_dir did before the lock: its own key under the same ID.
    await (await DiskKeyManager.open(join(dataDir, 'keys.json'))).generateKey('x509-CA-A', 'ec-p256');

    const res = await runCommand(SERVER_BIN, ['run', '-config', server.configPath], { cwd: tmp.path, timeoutMs: 20_000 });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(
      `ca: the active X.509 CA (slot A, key "x509-CA-A") in ${join(dataDir, 'journal.json')} does not match its private key in the key manager (the public keys differ); refusing to start`,
    );
  });
});

describe('missing or empty datastore beside the CA journal', { timeout: 90_000 }, () => {
  it('refuses to start on a 0-byte datastore; -allowEmptyDatastore starts empty with the same CA', async () => {
    const server = await startServer({ dir: tmp.path });
    running.push(server);
    const created = await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/node', '-spiffeID', 'spiffe://example.org/w', '-selector', 'unix:uid:1000');
    expect(created.code).toBe(0);
    const bundleBefore = (await server.cli('bundle', 'show')).stdout;
    await server.stop();
    const dsPath = join(tmp.path, 'server-data', 'datastore.sqlite3');
    await truncate(dsPath, 0);

    const refused = await runCommand(SERVER_BIN, ['run', '-config', server.configPath], { cwd: tmp.path, timeoutMs: 20_000 });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `Error: datastore: the SQLite datastore ${dsPath} is empty (0 bytes, no Herald schema), but the CA journal ${join(tmp.path, 'server-data', 'journal.json')} exists: ` +
        'starting would silently lose every registration entry, agent and federated bundle it held, so the server refuses to start.',
    );
    expect(refused.stderr).toContain('herald-server run -allowEmptyDatastore');

    const allowed = startProcess(SERVER_BIN, ['run', '-config', server.configPath, '-allowEmptyDatastore'], { cwd: tmp.path });
    running.push(allowed);
    await allowed.waitForOutput('Server started');
    expect(allowed.output()).toContain('-allowEmptyDatastore: a missing or empty datastore will be created');
    expect(allowed.output()).toContain('publishing its authorities again');
    // The CA from the journal is kept and published again; the entries are gone, as the operator chose.
    expect((await server.cli('bundle', 'show')).stdout).toBe(bundleBefore);
    expect((await server.cli('entry', 'count')).stdout).toMatch(/^0 registration entries/);
  });
});
