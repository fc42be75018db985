// The agent's data_dir: its SVID, key and bundle survive restarts; a
// damaged or unusable directory is reported clearly and nothing is
// overwritten.
import { chmod, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentStorage } from '../../src/agent/storage.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { makeCa, makeLeaf } from '../helpers/test-ca.ts';
import { makeTempDir } from '../helpers/tmp.ts';

describe('AgentStorage', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    tmp = await makeTempDir('herald-agent-storage-');
  });
  afterEach(async () => {
    await chmod(tmp.path, 0o700).catch(() => undefined);
    await tmp.cleanup();
  });

  it('round-trips the agent SVID, key and bundle', async () => {
    const ca = await makeCa('example.org');
    const leaf = await makeLeaf(SpiffeId.fromString('spiffe://example.org/spire/agent/join_token/x').toString(), ca, { subject: 'O=Agent' });
    const s = await AgentStorage.open(join(tmp.path, 'data'));
    await s.storeSvid({ chain: [leaf.cert], privateKey: leaf.key });
    await s.storeBundle([ca.cert]);
    const again = await AgentStorage.open(join(tmp.path, 'data'));
    const svid = (await again.loadSvid())!;
    expect(svid.chain[0]!.raw.equals(leaf.cert.raw)).toBe(true);
    expect(svid.chain[0]!.checkPrivateKey(svid.privateKey!)).toBe(true);
    expect((await again.loadBundle())![0]!.raw.equals(ca.cert.raw)).toBe(true);
  });

  it('with keys in memory (KeyManager memory) stores the SVID and bundle but never the key, and loads the SVID without one', async () => {
    const ca = await makeCa('example.org');
    const leaf = await makeLeaf(SpiffeId.fromString('spiffe://example.org/spire/agent/join_token/x').toString(), ca, { subject: 'O=Agent' });
    const dir = join(tmp.path, 'data');
    const s = await AgentStorage.open(dir, { keysInMemory: true });
    expect(s.keysDurable).toBe(false);
    await s.storeSvid({ chain: [leaf.cert], privateKey: leaf.key });
    await s.storeBundle([ca.cert]);
    expect((await readdir(dir)).sort()).toEqual(['agent_svid.der', 'bundle.der']);
    // A key file left by an earlier disk-KeyManager run is not read.
    await writeFile(join(dir, 'agent_svid.key'), leaf.key.export({ format: 'der', type: 'pkcs8' }));
    const svid = (await (await AgentStorage.open(dir, { keysInMemory: true })).loadSvid())!;
    expect(svid.chain[0]!.raw.equals(leaf.cert.raw)).toBe(true);
    expect(svid.privateKey).toBeUndefined();
    await s.deleteSvid();
    expect((await readdir(dir)).sort()).toEqual(['bundle.der']);
  });

  it('keeps the key when KeyManager disk directory names data_dir another way (a symlink, a trailing slash)', async () => {
    const ca = await makeCa('example.org');
    const leaf = await makeLeaf(SpiffeId.fromString('spiffe://example.org/spire/agent/join_token/x').toString(), ca, { subject: 'O=Agent' });
    const dir = join(tmp.path, 'data');
    await mkdir(dir);
    await symlink(dir, join(tmp.path, 'link'));
    for (const keyDir of [join(tmp.path, 'link'), `${dir}/`]) {
      const s = await AgentStorage.open(dir, { keyDir });
      await s.storeSvid({ chain: [leaf.cert], privateKey: leaf.key });
      expect((await readdir(dir)).sort()).toEqual(['agent_svid.der', 'agent_svid.key']);
      expect((await (await AgentStorage.open(dir, { keyDir })).loadSvid())!.privateKey).toBeDefined();
    }
  });

  it('with KeyManager disk directory, writes the key there (not in data_dir), and still finds a key an earlier run left in data_dir', async () => {
    const ca = await makeCa('example.org');
    const leaf = await makeLeaf(SpiffeId.fromString('spiffe://example.org/spire/agent/join_token/x').toString(), ca, { subject: 'O=Agent' });
    const dir = join(tmp.path, 'data');
    const keyDir = join(tmp.path, 'keys');
    // An earlier run (data_dir only) left SVID and key together.
    const before = await AgentStorage.open(dir);
    await before.storeSvid({ chain: [leaf.cert], privateKey: leaf.key });
    const s = await AgentStorage.open(dir, { keyDir });
    expect((await s.loadSvid())!.chain[0]!.checkPrivateKey((await s.loadSvid())!.privateKey!)).toBe(true);
    // The next write moves the key: one copy, in the key directory, mode 0600.
    await s.storeSvid({ chain: [leaf.cert], privateKey: leaf.key });
    expect(await readdir(dir)).toEqual(['agent_svid.der']);
    expect(await readdir(keyDir)).toEqual(['agent_svid.key']);
    expect((await stat(join(keyDir, 'agent_svid.key'))).mode & 0o777).toBe(0o600);
    expect((await (await AgentStorage.open(dir, { keyDir })).loadSvid())!.privateKey).toBeDefined();
    await s.deleteSvid();
    expect([...(await readdir(dir)), ...(await readdir(keyDir))]).toEqual([]);
    // A key in the key directory without an SVID in this data_dir (another data_dir's): attest anew, not an error.
    await writeFile(join(keyDir, 'agent_svid.key'), leaf.key.export({ format: 'der', type: 'pkcs8' }));
    expect(await (await AgentStorage.open(join(tmp.path, 'other-data'), { keyDir })).loadSvid()).toBeUndefined();
  });

  it('reports a corrupt SVID file by name and leaves it in place', async () => {
    const s = await AgentStorage.open(tmp.path);
    await writeFile(join(tmp.path, 'agent_svid.der'), 'garbage');
    await writeFile(join(tmp.path, 'agent_svid.key'), 'garbage');
    await expect(s.loadSvid()).rejects.toThrow(/cannot parse the stored agent SVID in .*: .*remove agent_svid\.der and agent_svid\.key to re-attest/);
    expect(await readFile(join(tmp.path, 'agent_svid.der'), 'utf8')).toBe('garbage');
  });

  it('reports a key without its certificate', async () => {
    const s = await AgentStorage.open(tmp.path);
    await writeFile(join(tmp.path, 'agent_svid.key'), 'x');
    await expect(s.loadSvid()).rejects.toThrow(/has agent_svid\.key without agent_svid\.der/);
  });

  it('reports a corrupt bundle file', async () => {
    const s = await AgentStorage.open(tmp.path);
    await writeFile(join(tmp.path, 'bundle.der'), 'not der');
    await expect(s.loadBundle()).rejects.toThrow(/cannot parse .*bundle\.der/);
  });

  it('refuses a data_dir that is a file', async () => {
    const file = join(tmp.path, 'file');
    await writeFile(file, '');
    await expect(AgentStorage.open(file)).rejects.toThrow(/data_dir .* is not usable/);
  });
});
