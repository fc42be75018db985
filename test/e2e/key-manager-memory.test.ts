// Issue 17: `KeyManager: memory`, with the real binaries. The agent's key
// never touches its data_dir (SPIRE stores the SVID and the bundle, not the
// key) and a restarted agent attests again — by itself with x509pop, with a
// new token with join_token. A herald-server with the memory key manager
// restarts with a new CA (SPIRE's SlotLoader: a slot whose key the key
// manager lacks is unusable) and keeps the old one in the bundle.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readdir, readFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateToken, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { runCommand } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';
import { makePopCert } from '../helpers/x509pop.ts';
import { AGENT_BIN } from '../helpers/herald.ts';

let tmp: { path: string; cleanup: () => Promise<void> };
const running: { stop(): Promise<void> }[] = [];

beforeEach(async () => {
  tmp = await makeTempDir('herald-km-mem-');
});

afterEach(async () => {
  for (const p of running.splice(0).reverse()) await p.stop();
  await tmp.cleanup();
});

/** Whether `buf` parses as a private key: PEM, or DER as PKCS#8, SEC1 or PKCS#1. */
function isPrivateKey(buf: Buffer): boolean {
  const attempts: Parameters<typeof createPrivateKey>[0][] = [
    { key: buf, format: 'der', type: 'pkcs8' },
    { key: buf, format: 'der', type: 'sec1' },
    { key: buf, format: 'der', type: 'pkcs1' },
  ];
  for (const a of attempts) {
    try {
      createPrivateKey(a);
      return true;
    } catch {
      // not this encoding
    }
  }
  return false;
}

/** Every file under `dir` that holds a private key: a PEM block, a whole-file DER key, or a base64 run that decodes to one. */
async function filesWithPrivateKeys(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    const buf = await readFile(path);
    const text = buf.toString('latin1');
    const base64Runs = text.match(/[A-Za-z0-9+/]{60,}={0,2}/g) ?? [];
    if (/PRIVATE KEY-----/.test(text) || isPrivateKey(buf) || base64Runs.some((r) => isPrivateKey(Buffer.from(r, 'base64')))) found.push(path);
  }
  return found;
}

const fetchX509 = async (agent: AgentHandle): Promise<string | undefined> => {
  const res = await agent.cli('api', 'fetch', 'x509', '-output', 'json');
  return res.code === 0 ? JSON.parse(res.stdout).svids[0]?.spiffe_id : undefined;
};

describe('herald-agent with KeyManager memory', { timeout: 120_000 }, () => {
  it('attests and serves without its key on disk; after a restart an x509pop agent attests again by itself', async () => {
    makePopCert(tmp.path, 'ca', { ca: true });
    const node = makePopCert(tmp.path, 'node-1', { issuer: 'ca' });
    const server = await startServer({ dir: tmp.path, x509popCaBundle: join(tmp.path, 'ca.pem') });
    running.push(server);
    expect((await server.cli('entry', 'create', '-node', '-spiffeID', 'spiffe://example.org/node-1', '-selector', 'x509pop:subject:cn:node-1')).code).toBe(0);
    expect((await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/node-1', '-spiffeID', 'spiffe://example.org/w', '-selector', `unix:uid:${process.getuid!()}`)).code).toBe(0);
    const agent = await startAgent({
      dir: tmp.path,
      server,
      keyManager: '{ memory: { plugin_data: {} } }',
      nodeAttestor: `{ x509pop: { plugin_data: { private_key_path: ${node.key}, certificate_path: ${node.cert} } } }`,
    });
    running.push(agent);
    expect(await waitFor('the workload SVID', () => fetchX509(agent))).toBe('spiffe://example.org/w');

    // As SPIRE: the SVID and the bundle are stored, the key is not.
    const files = (await readdir(agent.dataDir)).sort();
    expect(files).toContain('agent_svid.der');
    expect(files).toContain('bundle.der');
    expect(await filesWithPrivateKeys(agent.dataDir)).toEqual([]);

    await agent.restart();
    const after = agent.proc.output();
    expect(after).toContain('SVID recovered, but no keys found. Generating new keypair');
    expect(after).toContain('Node attestation was successful');
    expect(after).not.toContain('Using the stored agent SVID');
    expect(await waitFor('the workload SVID after the restart', () => fetchX509(agent))).toBe('spiffe://example.org/w');
    expect(await filesWithPrivateKeys(agent.dataDir)).toEqual([]);
  });

  it('a join_token agent needs a new token after a restart; the disk KeyManager keeps its key and reuses the SVID', async () => {
    const server = await startServer({ dir: tmp.path });
    running.push(server);
    const mem = await startAgent({ dir: tmp.path, server, name: 'mem', keyManager: '{ memory: { plugin_data: {} } }', joinToken: await generateToken(server) });
    running.push(mem);
    expect(await filesWithPrivateKeys(mem.dataDir)).toEqual([]);
    await mem.stop();
    const res = await runCommand(AGENT_BIN, ['run', '-config', join(tmp.path, 'mem.yaml')], { cwd: tmp.path, timeoutMs: 20_000 });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('KeyManager memory');
    expect(res.stderr).toContain('-joinToken');
    await mem.restart(['-joinToken', await generateToken(server)]);
    expect(mem.proc.output()).toContain('Node attestation was successful');
    expect(await filesWithPrivateKeys(mem.dataDir)).toEqual([]);

    // KeyManager disk: today's behaviour, and proof the scan finds a key where there is one.
    const disk = await startAgent({ dir: tmp.path, server, name: 'disk', joinToken: await generateToken(server) });
    running.push(disk);
    expect(await filesWithPrivateKeys(disk.dataDir)).toEqual([join(disk.dataDir, 'agent_svid.key')]);
    await disk.restart();
    expect(disk.proc.output()).toContain('Using the stored agent SVID');
  });
});

/** `bundle show` (PEM) → certificates. */
async function bundleCerts(server: ServerHandle): Promise<X509Certificate[]> {
  const res = await server.cli('bundle', 'show');
  expect(res.code).toBe(0);
  return (res.stdout.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
}

async function mint(server: ServerHandle, name: string): Promise<X509Certificate> {
  const dir = join(tmp.path, name);
  await mkdir(dir);
  const res = await server.cli('x509', 'mint', '-spiffeID', `spiffe://example.org/${name}`, '-write', dir);
  expect(res.code, res.stderr).toBe(0);
  return new X509Certificate(await readFile(join(dir, 'svid.pem')));
}

/** The bundle certificate that signed `svid`, if any. */
const signerIn = (bundle: X509Certificate[], svid: X509Certificate): X509Certificate | undefined =>
  bundle.find((ca) => svid.checkIssued(ca) && svid.verify(ca.publicKey));

describe('herald-server with KeyManager memory', { timeout: 120_000 }, () => {
  it('restarts with a new CA; the old one stays in the bundle and what it signed still verifies', async () => {
    const server = await startServer({ dir: tmp.path, keyManager: '{ memory: { plugin_data: {} } }' });
    running.push(server);
    const oldSvid = await mint(server, 'before');
    const [oldCa, ...others] = await bundleCerts(server);
    expect(others).toEqual([]);
    expect(signerIn([oldCa!], oldSvid)).toBeDefined();

    await server.restart();
    expect(server.proc.output()).toContain('X509CA slot unusable');
    expect((await server.cli('healthcheck')).stdout).toBe('Server is healthy.\n');

    const bundle = await bundleCerts(server);
    expect(bundle).toHaveLength(2);
    expect(bundle.some((c) => c.raw.equals(oldCa!.raw))).toBe(true);
    expect(signerIn(bundle, oldSvid)?.raw.equals(oldCa!.raw)).toBe(true);
    const newSvid = await mint(server, 'after');
    const newCa = signerIn(bundle, newSvid);
    expect(newCa).toBeDefined();
    expect(newCa!.raw.equals(oldCa!.raw)).toBe(false);

    // A second restart also works (the journal's stale entries are not mistaken for usable ones).
    await server.restart();
    expect((await server.cli('healthcheck')).stdout).toBe('Server is healthy.\n');
    expect(await bundleCerts(server)).toHaveLength(3);
  });
});
