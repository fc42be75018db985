// The CA manager with real key files, journal and SQLite datastore, driven
// by a manual clock: A/B rotation (prepare → publish → activate), restart
// keeping the CA, and refusal to start on damaged files.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.ts';
import { GrpcCode, grpcStatusFor } from '../../../src/common/errors.ts';
import { DataStoreAuthorityPublisher } from '../../../src/server/ca/bundle-publisher.ts';
import { DiskKeyManager } from '../../../src/server/plugins/keymanager/disk/disk.ts';
import { MemoryKeyManager } from '../../../src/server/plugins/keymanager/memory/memory.ts';
import type { KeyManager } from '../../../src/server/plugins/keymanager/types.ts';
import { CaManager, keyMismatch } from '../../../src/server/ca/manager.ts';
import { SelfSignedCaMinter } from '../../../src/server/ca/self-signed-minter.ts';
import { openSqliteDataStore } from '../../../src/server/datastore/index.ts';
import type { DataStore } from '../../../src/server/datastore/index.ts';
import { TrustDomain } from '../../../src/spiffe/trust-domain.ts';
import { mountTmpfs } from '../../helpers/small-fs.ts';
import { makeTempDir } from '../../helpers/tmp.ts';

const td = TrustDomain.fromString('example.org');
const HOUR = 3_600_000;
const CA_TTL = 24 * HOUR;

let dir: { path: string; cleanup: () => Promise<void> };
let ds: DataStore;
let clock: ManualClock;

async function newManager(keyManager?: KeyManager): Promise<CaManager> {
  const m = new CaManager({
    trustDomain: td,
    caKeyType: 'ec-p256',
    jwtKeyType: 'ec-p256',
    caTtlMs: CA_TTL,
    journalPath: join(dir.path, 'journal.json'),
    keyManager: keyManager ?? (await DiskKeyManager.open(join(dir.path, 'keys.json'))),
    minter: new SelfSignedCaMinter(td),
    publisher: new DataStoreAuthorityPublisher(ds, td, 300),
    clock,
    log: pino({ level: 'silent' }),
  });
  await m.initialize();
  return m;
}

beforeEach(async () => {
  dir = await makeTempDir();
  clock = new ManualClock(Date.now());
  ds = await openSqliteDataStore({ path: join(dir.path, 'datastore.sqlite3') });
});

afterEach(async () => {
  await ds.close();
  await dir.cleanup();
});

describe('CaManager', () => {
  it('starts with an active CA and JWT key in slot A, published in the bundle', async () => {
    const m = await newManager();
    const ca = m.currentX509Ca();
    expect(ca.slotId).toBe('A');
    expect(m.currentJwtKey().slotId).toBe('A');
    expect(m.nextX509Ca()).toBeUndefined();
    const bundle = await ds.getBundle(td);
    expect(bundle!.x509Authorities.map((a) => Buffer.from(a.der).equals(ca.certificate.raw))).toEqual([true]);
    expect(bundle!.jwtAuthorities.map((a) => a.keyId)).toEqual([m.currentJwtKey().kid]);
  });

  it('prepares the next CA at half-life (published before use) and activates it at 5/6', async () => {
    const m = await newManager();
    const a = m.currentX509Ca();
    const seq0 = (await ds.getBundle(td))!.sequenceNumber;

    clock.advance(CA_TTL / 2 - 60_000);
    await m.rotate();
    expect(m.nextX509Ca()).toBeUndefined();

    clock.advance(120_000);
    await m.rotate();
    const b = m.nextX509Ca()!;
    expect(b.slotId).toBe('B');
    expect(m.currentX509Ca()).toBe(a); // still signing with A
    const bundle = (await ds.getBundle(td))!;
    expect(bundle.x509Authorities).toHaveLength(2); // B is trusted before it signs
    expect(bundle.jwtAuthorities).toHaveLength(2);
    expect(bundle.sequenceNumber).toBeGreaterThan(seq0);

    clock.advance(CA_TTL / 3);
    await m.rotate();
    expect(m.currentX509Ca()).toBe(b);
    expect(m.currentJwtKey().slotId).toBe('B');
    // A stays in the bundle until what it signed has expired.
    expect((await ds.getBundle(td))!.x509Authorities).toHaveLength(2);
  });

  it('keeps the same CA and JWT key across a restart', async () => {
    const m1 = await newManager();
    const before = { ca: m1.currentX509Ca().certificate.fingerprint256, kid: m1.currentJwtKey().kid };
    const m2 = await newManager();
    expect({ ca: m2.currentX509Ca().certificate.fingerprint256, kid: m2.currentJwtKey().kid }).toEqual(before);
    expect(m2.currentX509Ca().key.exportPkcs8!()).toEqual(m1.currentX509Ca().key.exportPkcs8!());
  });

  it('activateNow forces a rotation to the other slot', async () => {
    const m = await newManager();
    const a = m.currentX509Ca().certificate.fingerprint256;
    await m.activateNow();
    expect(m.currentX509Ca().slotId).toBe('B');
    expect(m.currentX509Ca().certificate.fingerprint256).not.toBe(a);
  });

  it('refuses to start on a corrupt journal and leaves it and the keys untouched', async () => {
    await newManager();
    const journalPath = join(dir.path, 'journal.json');
    await writeFile(journalPath, '{ not json');
    const keysBefore = await readFile(join(dir.path, 'keys.json'));
    await expect(newManager()).rejects.toMatchObject({ code: 'ERR_CA_JOURNAL_CORRUPT' });
    expect(await readFile(journalPath, 'utf8')).toBe('{ not json');
    expect(await readFile(join(dir.path, 'keys.json'))).toEqual(keysBefore);
  });

  it('refuses to start on a corrupt key file and never overwrites it', async () => {
    await newManager();
    await writeFile(join(dir.path, 'keys.json'), '{"keys":{"x509-CA-A":{"type":"ec-p256","pkcs8":"AAAA"}}}');
    await expect(newManager()).rejects.toMatchObject({ code: 'ERR_KEY_MANAGER_CORRUPT' });
    expect(await readFile(join(dir.path, 'keys.json'), 'utf8')).toContain('"AAAA"');
  });

  it('refuses to start when the journal names a key the key file lacks', async () => {
    await newManager();
    await writeFile(join(dir.path, 'keys.json'), '{"keys":{}}');
    await expect(newManager()).rejects.toMatchObject({ code: 'ERR_CA_KEY_MISSING' });
  });

  it('durable: the disk key manager is durable, the memory one is not', async () => {
    expect((await DiskKeyManager.open(join(dir.path, 'keys.json'))).durable).toBe(true);
    expect(new MemoryKeyManager().durable).toBe(false);
  });

  // SPIRE's SlotLoader: a slot whose key a non-durable key manager lacks is unusable, not fatal.
  it('with the memory key manager a restart prepares a new CA and JWT key; the old ones stay in the bundle and are recorded as old', async () => {
    const m1 = await newManager(new MemoryKeyManager());
    const old = { ca: m1.currentX509Ca().certificate, kid: m1.currentJwtKey().kid };
    clock.advance(1000);
    const m2 = await newManager(new MemoryKeyManager());
    expect(m2.currentX509Ca().certificate.fingerprint256).not.toBe(old.ca.fingerprint256);
    expect(m2.currentJwtKey().kid).not.toBe(old.kid);
    expect(m2.oldX509Record()?.certificate.fingerprint256).toBe(old.ca.fingerprint256);
    expect(m2.oldJwtRecord()?.kid).toBe(old.kid);
    const bundle = await ds.getBundle(td);
    expect(bundle!.x509Authorities).toHaveLength(2);
    expect(bundle!.jwtAuthorities.map((a) => a.keyId).sort()).toEqual([old.kid, m2.currentJwtKey().kid].sort());
    // And again: the journal's entries from both earlier runs are unusable, and the latest is the old one.
    clock.advance(1000);
    const m3 = await newManager(new MemoryKeyManager());
    expect(m3.oldX509Record()?.certificate.fingerprint256).toBe(m2.currentX509Ca().certificate.fingerprint256);
    expect((await ds.getBundle(td))!.x509Authorities).toHaveLength(3);
  });

  // Another server on the same keys file (issue 15 item 2): it generated its
  // own key under the same ID, so the journal's CA no longer matches it.
  it('refuses to start when the active X.509 CA no longer matches its key (another server rewrote the key file)', async () => {
    const m1 = await newManager();
    const other = await DiskKeyManager.open(join(dir.path, 'keys.json'));
    await other.generateKey(m1.currentX509Ca().keyId, 'ec-p256');
    const err = await newManager().then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_CA_KEY_MISMATCH' });
    expect((err as Error).message).toMatch(/^ca: the active X\.509 CA \(slot A, key "x509-CA-A"\) in .*journal\.json does not match its private key .*the public keys differ.*refusing to start/);
  });

  it('refuses to start when the active JWT key no longer matches the published public key', async () => {
    const m1 = await newManager();
    const other = await DiskKeyManager.open(join(dir.path, 'keys.json'));
    await other.generateKey(m1.currentJwtKey().keyId, 'ec-p256');
    await expect(newManager()).rejects.toMatchObject({ code: 'ERR_CA_KEY_MISMATCH', message: expect.stringMatching(/^ca: the active JWT key \(slot A, key "JWT-Signer-A"\)/) });
  });

  it('drops a prepared X.509 CA whose key does not match and prepares a matching one', async () => {
    const m1 = await newManager();
    await m1.prepareNow();
    const badB = m1.nextX509Ca()!;
    const other = await DiskKeyManager.open(join(dir.path, 'keys.json'));
    await other.generateKey(badB.keyId, 'ec-p256');
    const m2 = await newManager();
    expect(m2.currentX509Ca().certificate.fingerprint256).toBe(m1.currentX509Ca().certificate.fingerprint256);
    expect(m2.nextX509Ca()).toBeUndefined();
    await m2.prepareNow();
    const b = m2.nextX509Ca()!;
    expect(b.certificate.fingerprint256).not.toBe(badB.certificate.fingerprint256);
    expect(await keyMismatch(b.key, b.certificate.publicKey)).toBeUndefined();
    await m2.activateNow();
    expect(m2.currentX509Ca().slotId).toBe('B');
  });

  // Issue 15 item 6: a full disk under the key file and journal is named, not "internal error".
  it('names a full disk when a new key or the journal cannot be written (RESOURCE_EXHAUSTED) and keeps the current CA', async () => {
    const fs = await mountTmpfs(join(dir.path, 'small'), 1);
    try {
      const m = new CaManager({
        trustDomain: td, caKeyType: 'ec-p256', jwtKeyType: 'ec-p256', caTtlMs: CA_TTL,
        journalPath: join(fs.path, 'journal.json'),
        keyManager: await DiskKeyManager.open(join(fs.path, 'keys.json')),
        minter: new SelfSignedCaMinter(td),
        publisher: new DataStoreAuthorityPublisher(ds, td, 300),
        clock,
        log: pino({ level: 'silent' }),
      });
      await m.initialize();
      const a = m.currentX509Ca().certificate.fingerprint256;
      await m.prepare('jwt');
      await fs.fill();

      const keyErr = await m.prepare('x509').then(() => undefined, (e: unknown) => e as Error);
      expect(keyErr).toMatchObject({ code: 'ERR_KEY_MANAGER_WRITE' });
      expect(keyErr!.message).toBe(`keymanager(disk): cannot write ${join(fs.path, 'keys.json')}: ENOSPC: no space left on device, write`);
      expect(grpcStatusFor(keyErr)).toBe(GrpcCode.RESOURCE_EXHAUSTED);
      expect(m.nextX509Ca()).toBeUndefined();

      const journalErr = await m.activate('jwt').then(() => undefined, (e: unknown) => e as Error);
      expect(journalErr).toMatchObject({ code: 'ERR_CA_JOURNAL_WRITE' });
      expect(journalErr!.message).toBe(`ca journal: cannot write ${join(fs.path, 'journal.json')}: ENOSPC: no space left on device, write`);
      expect(grpcStatusFor(journalErr)).toBe(GrpcCode.RESOURCE_EXHAUSTED);
      expect(m.currentX509Ca().certificate.fingerprint256).toBe(a);
      expect(m.currentJwtKey().slotId).toBe('A');
    } finally {
      await fs.unmount();
    }
  });
});

