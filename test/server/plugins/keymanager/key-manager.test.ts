// Key managers hand out signers ({ id, publicKey, sign }) and say whether
// their keys outlive the process; keys held in this process can be exported
// (only for the signing workers).
import { createPrivateKey, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskKeyManager } from '../../../../src/server/plugins/keymanager/disk/disk.ts';
import { MemoryKeyManager } from '../../../../src/server/plugins/keymanager/memory/memory.ts';
import type { KeyManager } from '../../../../src/server/plugins/keymanager/types.ts';
import { makeTempDir } from '../../../helpers/tmp.ts';

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await dir.cleanup();
});

const spki = (k: KeyObject): string => (k.type === 'public' ? k : createPublicKey(k)).export({ format: 'der', type: 'spki' }).toString('hex');

describe.each([
  ['disk', async (): Promise<KeyManager> => DiskKeyManager.open(join(dir.path, 'keys.json')), true],
  ['memory', async (): Promise<KeyManager> => new MemoryKeyManager(), false],
] as const)('%s key manager', (_name, open, durable) => {
  it.each(['ec-p256', 'ec-p384', 'rsa-2048'] as const)('generates %s keys that sign for their public key', async (type) => {
    const km = await open();
    expect(km.durable).toBe(durable);
    const key = await km.generateKey('x509-CA-A', type);
    expect(key.id).toBe('x509-CA-A');
    expect(key.type).toBe(type);
    const data = Buffer.from('to be signed');
    const hash = type === 'ec-p384' ? 'sha384' : 'sha256';
    expect(verify(hash, data, key.publicKey, await key.sign(data, hash))).toBe(true);
    // Exportable (held in this process): the export is the same key.
    const exported = createPrivateKey({ key: key.exportPkcs8!(), format: 'der', type: 'pkcs8' });
    expect(spki(exported)).toBe(spki(key.publicKey));
    expect(spki((await km.getKey('x509-CA-A'))!.publicKey)).toBe(spki(key.publicKey));
    expect(await km.getKey('x509-CA-B')).toBeUndefined();
  });
});

it('the disk key manager gives the same key back after reopening', async () => {
  const path = join(dir.path, 'keys.json');
  const key = await (await DiskKeyManager.open(path)).generateKey('JWT-Signer-A', 'ec-p256');
  const again = await (await DiskKeyManager.open(path)).getKey('JWT-Signer-A');
  expect(again?.type).toBe('ec-p256');
  expect(spki(again!.publicKey)).toBe(spki(key.publicKey));
  const data = Buffer.from('x');
  expect(verify('sha256', data, key.publicKey, await again!.sign(data, 'sha256'))).toBe(true);
});
