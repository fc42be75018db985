// The per-server cache of what agent syncs read (sync-reads.ts) on a real
// PostgreSQL shared by two datastores, as two servers share it: repeated
// reads cost no query, and a change at the other server — ban, eviction,
// re-attestation's selectors, a bundle change — is seen by notice; with the
// notice channel down every read goes to the database, and what changed
// meanwhile is seen after it reconnects.
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DataStore } from '../../../src/server/datastore/datastore.ts';
import { openPostgresDataStore } from '../../../src/server/datastore/postgres.ts';
import { withSyncReadCache, type SyncReadCache } from '../../../src/server/datastore/sync-reads.ts';
import { SpiffeId } from '../../../src/spiffe/id.ts';
import { TrustDomain } from '../../../src/spiffe/trust-domain.ts';
import { usePostgresCluster } from '../../helpers/postgres-cluster.ts';
import { waitFor } from '../../helpers/wait.ts';

const TD = TrustDomain.require('example.org');
const AGENT = SpiffeId.require('spiffe://example.org/spire/agent/x509pop/node-1');

const cluster = usePostgresCluster();

describe('sync read cache on a shared PostgreSQL', () => {
  let uri: string;
  const open: DataStore[] = [];
  const caches: SyncReadCache[] = [];
  let other: DataStore;
  let cache: SyncReadCache;
  let ds: DataStore;

  beforeEach(async () => {
    uri = await cluster().createDatabase();
    for (let i = 0; i < 2; i++) open.push(await openPostgresDataStore({ connectionString: uri }));
    other = open[0]!;
    cache = withSyncReadCache(open[1]!);
    caches.push(cache);
    ds = cache.ds;
    await waitFor('the notice channel', () => ds.followsChanges?.() === true, { timeoutMs: 10_000, intervalMs: 10 });
    // Written here, so that no notice of the setup arrives during a test.
    await ds.createAttestedNode({ spiffeId: AGENT, attestationDataType: 'x509pop', certSerialNumber: '1', certNotAfter: 2e9, canReattest: true });
    await ds.setNodeSelectors(AGENT, [{ type: 'x509pop', value: 'subject:cn:a' }]);
    await ds.createBundle({ trustDomain: TD, x509Authorities: [], jwtAuthorities: [], refreshHint: 0, sequenceNumber: 0n });
  });
  afterEach(async () => {
    for (const c of caches.splice(0)) c.close();
    for (const d of open.splice(0)) await d.close();
  });

  const syncReads = () => Promise.all([ds.getAttestedNode(AGENT), ds.getNodeSelectors(AGENT), ds.getBundle(TD)]);

  it('answers repeated sync reads from memory', async () => {
    await syncReads();
    const before = cache.stats().misses;
    for (let i = 0; i < 50; i++) await syncReads();
    expect(cache.stats().misses).toBe(before);
    expect(cache.stats().hits).toBeGreaterThanOrEqual(150);
  });

  it('sees a ban, new selectors, a bundle change and an eviction at the other server by notice', async () => {
    await syncReads();
    await other.banAttestedNode(AGENT);
    await waitFor('the ban', async () => (await ds.getAttestedNode(AGENT))?.banned === true, { timeoutMs: 5000, intervalMs: 5 });
    await other.setNodeSelectors(AGENT, [{ type: 'x509pop', value: 'subject:cn:b' }]);
    await waitFor('the new selectors', async () => (await ds.getNodeSelectors(AGENT))[0]?.value === 'subject:cn:b', { timeoutMs: 5000, intervalMs: 5 });
    const { sequenceNumber } = (await ds.getBundle(TD))!;
    await other.setBundle({ trustDomain: TD, x509Authorities: [], jwtAuthorities: [{ keyId: 'k', publicKey: Buffer.from('x'), expiresAt: 0, tainted: false }], refreshHint: 0, sequenceNumber: 0n });
    await waitFor('the bundle change', async () => (await ds.getBundle(TD))!.sequenceNumber > sequenceNumber, { timeoutMs: 5000, intervalMs: 5 });
    await other.deleteAttestedNode(AGENT);
    await waitFor('the eviction', async () => (await ds.getAttestedNode(AGENT)) === undefined, { timeoutMs: 5000, intervalMs: 5 });
  });

  it('does not keep a value read before a notice that arrived while the read was in flight', async () => {
    // The database answers before the ban; the answer reaches the cache only after the ban's notice.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let answered!: () => void;
    const read = new Promise<void>((r) => (answered = r));
    const slow = new Proxy(open[1]!, {
      get(target, prop, receiver) {
        if (prop === 'getAttestedNode') {
          return async (...args: Parameters<DataStore['getAttestedNode']>) => {
            const node = await target.getAttestedNode(...args);
            answered();
            await gate;
            return node;
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const c = withSyncReadCache(slow);
    caches.push(c);
    await waitFor('the notice channel', () => c.ds.followsChanges?.() === true, { timeoutMs: 10_000, intervalMs: 10 });
    const inFlight = c.ds.getAttestedNode(AGENT);
    await read;
    const heard = new Promise<void>((resolve) => {
      const off = open[1]!.onChange((n) => {
        if (n.kind === 'nodes' && n.subject === AGENT.toString()) {
          off();
          resolve();
        }
      });
    });
    await other.banAttestedNode(AGENT);
    await heard;
    release();
    expect((await inFlight)?.banned).toBe(false);
    // The answer from before the notice was not kept: the next read goes to the database and shows the ban.
    const misses = c.stats().misses;
    expect((await c.ds.getAttestedNode(AGENT))?.banned).toBe(true);
    expect(c.stats().misses).toBe(misses + 1);
  });

  it('sees its own writes at once', async () => {
    await syncReads();
    await ds.banAttestedNode(AGENT);
    expect((await ds.getAttestedNode(AGENT))?.banned).toBe(true);
  });

  it('reads the database while the notice channel is down, and trusts nothing older after it reconnects', async () => {
    await syncReads();
    const admin = new pg.Client({ connectionString: uri });
    await admin.connect();
    try {
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'herald-server-notices' AND datname = current_database()`);
      await waitFor('the channel to be seen down', () => ds.followsChanges?.() === false, { timeoutMs: 10_000, intervalMs: 5 });
      // A change whose notice nobody hears.
      await other.banAttestedNode(AGENT);
      expect((await ds.getAttestedNode(AGENT))?.banned).toBe(true);
      await waitFor('the channel to reconnect', () => ds.followsChanges?.() === true, { timeoutMs: 10_000, intervalMs: 5 });
      const misses = cache.stats().misses;
      expect((await ds.getAttestedNode(AGENT))?.banned).toBe(true);
      expect(cache.stats().misses).toBe(misses + 1);
    } finally {
      await admin.end();
    }
  });

  it('serves the last value read while the database is unavailable', async () => {
    await syncReads();
    await cluster().pause();
    try {
      const [node, selectors, bundle] = await syncReads();
      expect(node?.certSerialNumber).toBe('1');
      expect(selectors).toHaveLength(1);
      expect(bundle?.trustDomain.name).toBe('example.org');
      await expect(ds.banAttestedNode(AGENT)).rejects.toMatchObject({ code: 'ERR_DATASTORE_UNAVAILABLE' });
    } finally {
      await cluster().resume();
    }
  });

  it('never answers a fresh read from memory while the database is unavailable', async () => {
    // A fresh read decides a refusal (caller.ts): an agent whose renewed SVID
    // the held record predates must get Unavailable and retry, not a
    // PermissionDenied that makes a join_token agent delete its SVID for good
    // (found by the chaos soak: a PostgreSQL restart right after a renewal).
    await syncReads();
    await cluster().pause();
    try {
      expect((await ds.getAttestedNode(AGENT))?.certSerialNumber).toBe('1');
      await expect(ds.getAttestedNode(AGENT, { fresh: true })).rejects.toMatchObject({ code: 'ERR_DATASTORE_UNAVAILABLE' });
    } finally {
      await cluster().resume();
    }
  });
});
