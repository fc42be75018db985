// The entry cache on a real PostgreSQL shared by several datastores (as
// several servers share it): writers that commit out of event id order, push
// propagation over LISTEN/NOTIFY (with the poll far too slow to be the cause),
// the notice channel reconnecting, full loads that wait for a writer in
// flight, and the digest consistency check repairing drift.
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DataStore } from '../../../src/server/datastore/datastore.ts';
import { openPostgresDataStore, WRITE_LOCK_KEY } from '../../../src/server/datastore/postgres.ts';
import { DigestBuilder } from '../../../src/server/datastore/sql/entry-digest.ts';
import type { RegistrationEntry } from '../../../src/server/datastore/types.ts';
import { EntryCache, type DriftReport } from '../../../src/server/entry-cache/entry-cache.ts';
import { SpiffeId } from '../../../src/spiffe/id.ts';
import { usePostgresCluster } from '../../helpers/postgres-cluster.ts';
import { waitFor } from '../../helpers/wait.ts';

const id = (s: string) => SpiffeId.require(`spiffe://example.org${s}`);
const AGENT = id('/spire/agent/join_token/t1');
// Far beyond every wait below: a change seen in time came by notice, not by poll.
const SLOW_POLL = { refreshIntervalMs: 600_000, verifyIntervalMs: 0 };

const cluster = usePostgresCluster();

describe('entry cache on a shared PostgreSQL', () => {
  let uri: string;
  const open: DataStore[] = [];
  const clients: pg.Client[] = [];
  const caches: EntryCache[] = [];
  let server1: DataStore;
  let server2: DataStore;

  const datastore = async () => {
    const ds = await openPostgresDataStore({ connectionString: uri });
    open.push(ds);
    return ds;
  };
  const raw = async () => {
    const c = new pg.Client({ connectionString: uri });
    await c.connect();
    clients.push(c);
    return c;
  };
  const cacheOn = async (ds: DataStore, opts: Partial<ConstructorParameters<typeof EntryCache>[0]> = {}) => {
    const c = await EntryCache.load({ source: ds, ...SLOW_POLL, ...opts });
    caches.push(c);
    c.start();
    return c;
  };
  const create = (ds: DataStore, path: string) => ds.createEntry({ spiffeId: id(path), parentId: AGENT, selectors: [{ type: 'unix', value: 'uid:1' }] });
  /** A writer that skips Herald's lock: gets an xid, changes the entry, takes an event id, and waits. */
  const beginLateWriter = async (entry: RegistrationEntry, hint: string) => {
    const c = await raw();
    await c.query('BEGIN');
    await c.query('UPDATE registered_entries SET hint = $1, revision_number = revision_number + 1 WHERE entry_id = $2', [hint, entry.id]);
    const r = await c.query('INSERT INTO entry_events (entry_id, created_at) VALUES ($1, 0) RETURNING id', [entry.id]);
    return { client: c, eventId: Number(r.rows[0].id) };
  };

  beforeEach(async () => {
    uri = await cluster().createDatabase();
    server1 = await datastore();
    server2 = await datastore();
  });
  afterEach(async () => {
    for (const c of caches.splice(0)) await c.stop();
    for (const c of clients.splice(0)) await c.end().catch(() => {});
    for (const d of open.splice(0)) await d.close();
  });

  it('pushes another server’s change within the notice latency, not the poll interval', async () => {
    const cache = await cacheOn(server2);
    const started = Date.now();
    const e = await create(server1, '/pushed');
    await waitFor('server 2 to see the entry', () => cache.getEntry(e.id), { timeoutMs: 5000, intervalMs: 5 });
    expect(Date.now() - started).toBeLessThan(5000);
    await server1.deleteEntry(e.id);
    await waitFor('server 2 to drop the entry', () => cache.getEntry(e.id) === undefined, { timeoutMs: 5000, intervalMs: 5 });
  });

  it('never loses an event whose id committed after a higher one', async () => {
    const x = await create(server1, '/x');
    const cache = await cacheOn(server2);
    const late = await beginLateWriter(x, 'late');
    const y = await create(server1, '/y'); // event id above the late writer's, committed first
    await waitFor('server 2 to see /y', () => cache.getEntry(y.id), { timeoutMs: 5000, intervalMs: 5 });
    expect(cache.lastEventId).toBeGreaterThan(late.eventId);
    expect(cache.stats.pendingGaps).toBe(1);
    expect(cache.getEntry(x.id)!.hint).toBe('');
    await late.client.query("SELECT pg_notify('herald_changes', 'another-writer entries')");
    await late.client.query('COMMIT');
    await waitFor('the late commit to reach the cache', () => cache.getEntry(x.id)!.hint === 'late', { timeoutMs: 5000, intervalMs: 5 });
    expect(cache.getEntry(x.id)!.revisionNumber).toBe(1);
    await cache.refresh();
    expect(cache.stats.pendingGaps).toBe(0);
  });

  it('lets go of a gap once its writer rolled back', async () => {
    const x = await create(server1, '/x');
    const cache = await cacheOn(server2);
    const late = await beginLateWriter(x, 'never');
    const y = await create(server1, '/y');
    await waitFor('server 2 to see /y', () => cache.getEntry(y.id), { timeoutMs: 5000, intervalMs: 5 });
    await cache.refresh();
    expect(cache.stats.pendingGaps).toBe(1); // still in flight: it may commit
    await late.client.query('ROLLBACK');
    await cache.refresh();
    expect(cache.stats.pendingGaps).toBe(0);
    expect(cache.getEntry(x.id)!.hint).toBe('');
  });

  it('waits for a writer in flight before a full load', async () => {
    const x = await create(server1, '/x');
    const w = await raw();
    await w.query('BEGIN');
    await w.query(`SELECT pg_advisory_xact_lock(${WRITE_LOCK_KEY}), pg_current_xact_id()`);
    await w.query("UPDATE registered_entries SET hint = 'in-flight', revision_number = revision_number + 1 WHERE entry_id = $1", [x.id]);
    await w.query('INSERT INTO entry_events (entry_id, created_at) VALUES ($1, 0)', [x.id]);
    let loaded: EntryCache | undefined;
    const loading = EntryCache.load({ source: server2, ...SLOW_POLL }).then((c) => (loaded = c));
    // The load holds until the writer is done (it asked for the writers' lock).
    await waitFor('the load to wait on the writers’ lock', async () => {
      const r = await w.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
      return r.rows[0].n > 0;
    }, { timeoutMs: 5000, intervalMs: 10 });
    expect(loaded).toBeUndefined();
    await w.query('COMMIT');
    const cache = await loading;
    caches.push(cache);
    expect(cache.getEntry(x.id)!.hint).toBe('in-flight');
  });

  it('catches up after its notice connection is cut', async () => {
    const cache = await cacheOn(server2);
    const admin = await raw();
    const listeners = "FROM pg_stat_activity WHERE application_name = 'herald-server-notices' AND datname = current_database()";
    await waitFor('the notice listener', async () => (await admin.query(`SELECT 1 ${listeners}`)).rowCount === 1, { timeoutMs: 5000 });
    // Cut the listener, then write at once: the notice may go nowhere; the reconnect catches up.
    await admin.query(`SELECT pg_terminate_backend(pid) ${listeners}`);
    const e = await create(server1, '/after-cut');
    await waitFor('server 2 to see the entry', () => cache.getEntry(e.id), { timeoutMs: 10_000, intervalMs: 10 });
    const later = await create(server1, '/later');
    await waitFor('notices to flow again', () => cache.getEntry(later.id), { timeoutMs: 5000, intervalMs: 5 });
  });

  /** server2 as its cache sees it, counting reads, with a switch that holds its notice channel down (other servers' notices unheard, as during a LISTEN outage). */
  const observed = () => {
    const o = {
      channelUp: true,
      reads: 0,
      source: {
        entrySnapshot: () => server2.entrySnapshot(),
        readEntryChanges: (req: Parameters<DataStore['readEntryChanges']>[0]) => {
          o.reads++;
          return server2.readEntryChanges(req);
        },
        onChange: (l: Parameters<DataStore['onChange']>[0]) => server2.onChange((n) => (o.channelUp || n.remote !== true ? l(n) : undefined)),
        followsChanges: () => o.channelUp && server2.followsChanges!(),
        sharedWithOtherServers: () => server2.sharedWithOtherServers!(),
      },
    };
    return o;
  };

  it('serves syncs from memory while the notice channel is up, and reads the database while it is down', async () => {
    // The channel's own detection of a cut is covered on a real cut by sync-reads-postgres.test.ts.
    expect(server2.sharedWithOtherServers!()).toBe(true);
    const o = observed();
    const cache = await cacheOn(server2, { source: o.source });
    // The channel opens with the first subscriber, the cache.
    await waitFor('the notice channel', () => server2.followsChanges!(), { timeoutMs: 10_000, intervalMs: 10 });
    const heard = await create(server1, '/heard');
    await waitFor('the notice', () => cache.getEntry(heard.id), { timeoutMs: 5000, intervalMs: 5 });
    const reads = o.reads;
    for (let i = 0; i < 20; i++) await cache.current();
    expect(o.reads).toBe(reads);

    o.channelUp = false;
    const unheard = await create(server1, '/unheard');
    // Within a second of its last refresh the cache answers from memory; after that, a sync reads first.
    await new Promise((r) => setTimeout(r, 1100));
    await cache.current();
    expect(cache.getEntry(unheard.id)?.id).toBe(unheard.id);
  });

  it('computes the same bucket digests in SQL as the cache does', async () => {
    const made: RegistrationEntry[] = [];
    for (let i = 0; i < 40; i++) made.push(await create(server1, `/d${i}`));
    await server1.updateEntry({ id: made[0]!.id, hint: 'h' });
    const r = await server2.readEntryChanges({ afterId: 0, digest: true });
    const b = new DigestBuilder();
    for (const e of r.entries) b.add(e.id, e.revisionNumber);
    expect(r.digests).toEqual(b.result());
    expect(r.digests!.size).toBeGreaterThan(1);
  });

  it('repairs and reports drift the event table never told it about', async () => {
    const a = await create(server1, '/a');
    const b = await create(server1, '/b');
    const drift: DriftReport[] = [];
    const cache = await cacheOn(server2, { onDrift: (r) => drift.push(r) });
    await cache.verify();
    expect(drift).toEqual([]);
    const c = await raw();
    // Changes behind the event table's back (as a lost event would leave them).
    await c.query('DELETE FROM registered_entries WHERE entry_id = $1', [a.id]);
    await c.query('UPDATE registered_entries SET revision_number = 7 WHERE entry_id = $1', [b.id]);
    await cache.refresh();
    expect(cache.getEntry(a.id)).toBeDefined(); // no event: a refresh cannot know
    await cache.verify();
    expect(drift).toEqual([{ stale: [a.id], missing: [], outdated: [b.id] }]);
    expect(cache.getEntry(a.id)).toBeUndefined();
    expect(cache.getEntry(b.id)!.revisionNumber).toBe(7);
    expect(cache.stats).toMatchObject({ consistencyChecks: 2, driftRepaired: 2 });
    await cache.verify();
    expect(drift).toHaveLength(1);
  });
});
