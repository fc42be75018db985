// The agent's sync against a real gRPC server on a Unix socket (the SPIRE
// bundle/entry/svid methods it calls), with a manual clock: the bundle is
// stored and the client rebuilt when it changes, SVIDs are asked for in CSR
// batches only when missing, changed, half-way through their life or signed
// by a tainted authority, federated bundles follow the entries, and a bad
// SVID from the server is refused. Each check waits on the synchronizer's
// `synced` event, the server's recorded calls or a cache subscription.
import { once } from 'node:events';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.ts';
import { AgentMetrics } from '../../../src/agent/telemetry.ts';
import { valueOf } from '../../../src/common/telemetry/metrics.ts';
import { WorkloadCache } from '../../../src/agent/cache/workload-cache.ts';
import type { WorkloadUpdate } from '../../../src/agent/cache/types.ts';
import type { NodeAttestorClient } from '../../../src/agent/plugins/nodeattestor/types.ts';
import { AgentStorage, BUNDLE_FILE } from '../../../src/agent/storage.ts';
import { AgentSvidRotator } from '../../../src/agent/svid/rotator.ts';
import { Synchronizer, type SyncResult } from '../../../src/agent/sync/synchronizer.ts';
import { parseCertificatesDer } from '../../../src/spiffe/bundle/der.ts';
import { SpiffeBundle } from '../../../src/spiffe/bundle/spiffe-bundle.ts';
import { JwtSvidCache } from '../../../src/spiffe/jwt-svid-cache.ts';
import { SpireApiServer, TD, otherRoot } from '../../helpers/spire-api-server.ts';
import { makeTempDir } from '../../helpers/tmp.ts';

const log = pino({ level: 'silent' });
const joinToken: NodeAttestorClient = { type: 'join_token', canReattest: false, attestationData: async () => Buffer.from('t'), answer: async () => Buffer.alloc(0) };
const MIN = 60_000;

describe('agent sync', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let clock: ManualClock;
  let server: SpireApiServer;
  let storage: AgentStorage;
  let rotator: AgentSvidRotator;
  let cache: WorkloadCache;
  let metrics: AgentMetrics;
  let sync: Synchronizer;

  /** One sync, seen through the `synced` event. */
  const syncOnce = async (): Promise<SyncResult> => {
    const synced = once(sync, 'synced') as Promise<[SyncResult]>;
    const returned = await sync.sync();
    const [result] = await synced;
    expect(result).toEqual(returned);
    return result;
  };
  const batches = (): string[][] => server.callsOf('BatchNewX509SVID').map((c) => c.entryIds!);
  const chainOf = (entryId: string): X509Certificate[] => parseCertificatesDer(cache.svid(entryId)!.certificates);

  beforeEach(async () => {
    tmp = await makeTempDir('herald-sync-');
    clock = new ManualClock(Date.now());
    server = await SpireApiServer.start(tmp.path, clock);
    storage = await AgentStorage.open(join(tmp.path, 'data'));
    rotator = new AgentSvidRotator({ trustDomain: TD, serverAddress: server.address, storage, nodeAttestor: joinToken, clock, log });
    // Insecure bootstrap: the sync's first bundle gives the client its roots.
    await rotator.attest(joinToken);
    rotator.rebuildClient();
    cache = new WorkloadCache({ bundle: new SpiffeBundle(TD) });
    metrics = new AgentMetrics();
    const jwt = new JwtSvidCache({ clock, mint: (id, aud) => rotator.client.newJwtSvid(id, aud) });
    sync = new Synchronizer({ connection: rotator, storage, cache, jwt, workloadKeyType: 'ec-p256', csrBatchSize: 2, clock, log, metrics });
    server.entries = [1, 2, 3, 4, 5].map((i) => ({ id: `e${i}`, spiffeId: `spiffe://example.org/w${i}` }));
  });

  afterEach(async () => {
    rotator.close();
    await server.stop();
    await tmp.cleanup();
  });

  it('first sync: stores the bundle, gives the client its roots, asks for every SVID in CSR batches and publishes once', async () => {
    const sub = cache.subscribe([{ type: 'unix', value: 'uid:1000' }]);
    const updates: WorkloadUpdate[] = [];
    sub.onChange((u) => updates.push(u));
    const clientBefore = rotator.client;

    const result = await syncOnce();
    expect(result).toEqual({ entries: 5, requested: 5, fetched: 5, published: 1, bundleUpdated: true });
    expect(batches()).toEqual([['e1', 'e2'], ['e3', 'e4'], ['e5']]);
    expect(updates).toHaveLength(1);
    expect(updates[0]!.identities.map((i) => i.svid.id.toString())).toEqual(['spiffe://example.org/w1']);
    for (const e of server.entries) expect(cache.svid(e.id)?.id.toString()).toBe(e.spiffeId);
    expect(await valueOf(metrics.svidsFetched)).toBe(5);
    for (const e of server.entries) {
      // The cache keeps bytes, not OpenSSL objects: the chain as the server signed it, the key
      // the agent generated for it, the leaf's expiry; in one buffer of their size, not a view
      // into the server's response.
      const svid = cache.svid(e.id)!;
      const [leaf] = chainOf(e.id);
      expect(leaf!.checkPrivateKey(createPrivateKey({ key: svid.privateKey, format: 'der', type: 'pkcs8' }))).toBe(true);
      expect(svid.notAfter).toBe(Date.parse(leaf!.validTo));
      expect(svid.certificates.buffer.byteLength).toBe(svid.certificates.length + svid.privateKey.length);
      expect(svid.privateKey.buffer).toBe(svid.certificates.buffer);
    }

    // The bundle is in data_dir and the client was rebuilt to verify the server against it.
    const stored = await readFile(join(tmp.path, 'data', BUNDLE_FILE));
    expect(new X509Certificate(stored).raw.equals(server.roots[0]!.raw)).toBe(true);
    expect(rotator.roots!.map((c) => c.serialNumber)).toEqual(server.roots.map((c) => c.serialNumber));
    expect(rotator.client).not.toBe(clientBefore);
    sub.close();
  });

  it('asks again only for changed entries, and for all once half their life is over', async () => {
    await syncOnce();
    const calls = server.callsOf('BatchNewX509SVID').length;

    // Nothing changed: no CSR at all, nothing published.
    expect(await syncOnce()).toEqual({ entries: 5, requested: 0, fetched: 0, published: 0, bundleUpdated: false });
    expect(server.callsOf('BatchNewX509SVID')).toHaveLength(calls);

    // One entry's revision changes: only it.
    server.entries[2] = { ...server.entries[2]!, revision: 1 };
    const before = chainOf('e3')[0]!.serialNumber;
    expect((await syncOnce()).requested).toBe(1);
    expect(batches().at(-1)).toEqual(['e3']);
    expect(chainOf('e3')[0]!.serialNumber).not.toBe(before);

    // 22 minutes on (1 h SVIDs, renewed at 45-50 % of their life after jitter): none due yet.
    clock.advance(22 * MIN);
    expect((await syncOnce()).requested).toBe(0);
    // Past half-life: every SVID is renewed.
    clock.advance(9 * MIN);
    expect((await syncOnce()).requested).toBe(5);
  });

  it('a tainted authority: the new bundle is stored and every SVID it signed is replaced at once', async () => {
    await syncOnce();
    const oldChain = chainOf('e1');
    expect(sync.signedByTainted(oldChain)).toBe(false);

    await server.rotateAndTaint();
    const result = await syncOnce();
    expect(result.bundleUpdated).toBe(true);
    expect(result.requested).toBe(5);
    expect(sync.signedByTainted(oldChain)).toBe(true);
    for (const e of server.entries) {
      const leaf = chainOf(e.id)[0]!;
      expect(leaf.checkIssued(server.cas[0]!.certificate)).toBe(true);
      expect(sync.signedByTainted([leaf])).toBe(false);
    }
    expect(cache.bundle().x509Authorities).toHaveLength(2);
    // The rebuilt client trusts both CAs.
    expect(rotator.roots).toHaveLength(2);
    // Nothing left to rotate.
    expect((await syncOnce()).requested).toBe(0);
  });

  it('federated bundles follow the entries; a missing one is skipped, a failed fetch keeps the last one', async () => {
    const other = await otherRoot('other.org');
    server.federated.set('other.org', [other]);
    server.entries[0] = { ...server.entries[0]!, revision: 1, federatesWith: ['other.org', 'missing.org'] };
    await syncOnce();
    expect([...cache.federatedBundles().keys()]).toEqual(['other.org']);
    expect(cache.federatedBundles().get('other.org')!.x509Authorities[0]!.raw.equals(other)).toBe(true);

    server.failNext.set('GetFederatedBundle', { code: 14, details: 'server is busy' });
    await syncOnce();
    expect([...cache.federatedBundles().keys()]).toEqual(['other.org']);

    server.entries[0] = { ...server.entries[0]!, revision: 2, federatesWith: [] };
    await syncOnce();
    expect(cache.federatedBundles().size).toBe(0);
  });

  it('refuses an SVID for another SPIFFE ID, keeps none for it, and asks again on the next sync', async () => {
    server.entries[1] = { ...server.entries[1]!, signAs: 'spiffe://example.org/not-w2' };
    const result = await syncOnce();
    expect(result).toMatchObject({ requested: 5, fetched: 4 });
    expect(cache.svid('e2')).toBeUndefined();
    expect(await valueOf(metrics.svidsRejected)).toBe(1);
    expect((await syncOnce()).requested).toBe(1);
    expect(await valueOf(metrics.svidsRejected)).toBe(2);
  });

  it('an empty bundle from the server fails the sync and keeps the current bundle', async () => {
    await syncOnce();
    const bundle = cache.bundle();
    const cas = server.cas;
    server.cas = [];
    await expect(sync.sync()).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE_EMPTY_BUNDLE' });
    server.cas = cas;
    expect(cache.bundle()).toBe(bundle);
  });
});
