// The authorized-entries cache over a real SQLite datastore: SPIRE's
// node-alias semantics, incremental refresh from the event feed, reload after
// pruned events, in-process notices and polling for other servers' writes.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.ts';
import type { DataStore } from '../../../src/server/datastore/datastore.ts';
import { openSqliteDataStore } from '../../../src/server/datastore/sqlite.ts';
import type { EntryInput, RegistrationEntry } from '../../../src/server/datastore/types.ts';
import { EntryCache } from '../../../src/server/entry-cache/entry-cache.ts';
import { SpiffeId } from '../../../src/spiffe/id.ts';
import { makeTempDir } from '../../helpers/tmp.ts';
import { waitFor } from '../../helpers/wait.ts';

const T0 = Date.UTC(2026, 0, 1) / 1000;
const id = (s: string) => SpiffeId.require(s.startsWith('spiffe://') ? s : `spiffe://example.org${s}`);
const sel = (type: string, value: string) => ({ type, value });
const AGENT = id('/spire/agent/k8s_psat/c1/n1');
const SERVER = id('/spire/server');
const AGENT_SELECTORS = [sel('k8s_psat', 'cluster:c1'), sel('k8s_psat', 'node:n1')];

describe('entry cache', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let clock: ManualClock;
  let ds: DataStore;
  let cache: EntryCache | undefined;
  const others: DataStore[] = [];
  const path = () => join(tmp.path, 'datastore.sqlite3');
  const create = (spiffeId: string, parentId: SpiffeId | string, over: Partial<EntryInput> = {}) =>
    ds.createEntry({ spiffeId: id(spiffeId), parentId: typeof parentId === 'string' ? id(parentId) : parentId, selectors: [sel('unix', 'uid:1')], ...over });
  const paths = (es: readonly RegistrationEntry[]) => es.map((e) => e.spiffeId.toString()).sort();

  beforeEach(async () => {
    tmp = await makeTempDir('herald-cache-');
    clock = new ManualClock(T0 * 1000);
    ds = await openSqliteDataStore({ path: path(), clock });
  });
  afterEach(async () => {
    await cache?.stop();
    cache = undefined;
    for (const o of others.splice(0)) await o.close();
    await ds.close();
    await tmp.cleanup();
  });

  describe('authorized entries', () => {
    async function seed(): Promise<void> {
      await create('/w1', AGENT);
      await create('/w2', '/w1');
      await create('/w3', '/w2');
      await create('/w1', '/w3', { selectors: [sel('unix', 'uid:2')] }); // a cycle back to /w1
      await create('/other', '/spire/agent/k8s_psat/c1/n2');
      await create('/alias/c1', SERVER, { selectors: [sel('k8s_psat', 'cluster:c1')] });
      await create('/via-alias', '/alias/c1');
      await create('/alias/c1-n2', SERVER, { selectors: [sel('k8s_psat', 'cluster:c1'), sel('k8s_psat', 'node:n2')] });
      await create('/via-alias-n2', '/alias/c1-n2');
      await create('/alias/foreign', 'spiffe://other.org/spire/server', { selectors: [sel('k8s_psat', 'cluster:c1')] });
      await create('/via-foreign', '/alias/foreign');
      await create('/expired', AGENT, { expiresAt: T0 - 1 });
      await create('/under-expired', '/expired');
      await create('/expires-soon', AGENT, { expiresAt: T0 + 10 });
    }

    it('walks the agent, its matching node aliases and their descendants', async () => {
      await seed();
      cache = await EntryCache.load({ source: ds, clock });
      expect(paths(cache.getAuthorizedEntries(AGENT, AGENT_SELECTORS))).toEqual(
        ['/alias/c1', '/expires-soon', '/via-alias', '/w1', '/w1', '/w2', '/w3'].map((p) => id(p).toString()).sort(),
      );
    });

    it('includes no aliases without agent selectors and drops entries as they expire', async () => {
      await seed();
      cache = await EntryCache.load({ source: ds, clock });
      expect(paths(cache.getAuthorizedEntries(AGENT, []))).toEqual(['/expires-soon', '/w1', '/w1', '/w2', '/w3'].map((p) => id(p).toString()).sort());
      clock.advance(10_000);
      expect(paths(cache.getAuthorizedEntries(AGENT, []))).toEqual(['/w1', '/w1', '/w2', '/w3'].map((p) => id(p).toString()).sort());
    });

    it('gives an unknown agent nothing, and an agent of another trust domain no aliases', async () => {
      await seed();
      cache = await EntryCache.load({ source: ds, clock });
      expect(cache.getAuthorizedEntries(id('/spire/agent/unknown'), [])).toEqual([]);
      expect(cache.getAuthorizedEntries(id('spiffe://third.org/spire/agent/x'), AGENT_SELECTORS)).toEqual([]);
      expect(paths(cache.getAuthorizedEntries(id('spiffe://other.org/spire/agent/x'), AGENT_SELECTORS))).toEqual(
        [id('/alias/foreign').toString(), id('/via-foreign').toString()].sort(),
      );
    });
  });

  describe('refresh', () => {
    it('applies creates, moves and deletes incrementally', async () => {
      const a = await create('/a', AGENT);
      cache = await EntryCache.load({ source: ds, clock });
      expect(cache.size).toBe(1);
      const b = await create('/b', AGENT);
      expect(cache.getEntry(b.id)).toBeUndefined();
      await cache.refresh();
      expect(paths(cache.getAuthorizedEntries(AGENT, []))).toEqual([a, b].map((e) => e.spiffeId.toString()).sort());
      await ds.updateEntry({ id: a.id, parentId: id('/spire/agent/elsewhere') });
      await ds.deleteEntry(b.id);
      await cache.refresh();
      expect(cache.getAuthorizedEntries(AGENT, [])).toEqual([]);
      expect(cache.getAuthorizedEntries(id('/spire/agent/elsewhere'), []).map((e) => e.revisionNumber)).toEqual([1]);
      expect(cache.size).toBe(1);
      expect(cache.stats).toMatchObject({ fullLoads: 1, incrementalRefreshes: 2 });
      await cache.refresh();
      expect(cache.stats.incrementalRefreshes).toBe(2);
    });

    it('reads events in batches', async () => {
      cache = await EntryCache.load({ source: ds, clock, eventBatchSize: 2 });
      for (let i = 0; i < 5; i++) await create(`/n${i}`, AGENT);
      await cache.refresh();
      expect(cache.size).toBe(5);
      expect(cache.stats.incrementalRefreshes).toBe(3);
    });

    it('reloads everything when events it never saw were pruned', async () => {
      await create('/a', AGENT);
      cache = await EntryCache.load({ source: ds, clock });
      const b = await create('/b', AGENT);
      clock.advance(60_000);
      await ds.pruneEntryEvents(T0 + 30);
      await cache.refresh();
      expect(cache.stats.fullLoads).toBe(2);
      expect(cache.getEntry(b.id)).toEqual(b);
      expect(cache.lastEventId).toBe((await ds.entrySnapshot()).lastEventId);
    });

    it('folds concurrent refresh calls together', async () => {
      cache = await EntryCache.load({ source: ds, clock });
      await create('/a', AGENT);
      await Promise.all([cache.refresh(), cache.refresh(), cache.refresh()]);
      expect(cache.size).toBe(1);
      expect(cache.stats.incrementalRefreshes).toBe(1);
    });
  });

  describe('following changes', () => {
    it('refreshes on in-process change notices', async () => {
      cache = await EntryCache.load({ source: ds, clock });
      cache.start();
      const e = await create('/a', AGENT);
      await waitFor('cache to see the new entry', () => cache!.getEntry(e.id), { timeoutMs: 5000, intervalMs: 5 });
    });

    it('polls for changes made by another server', async () => {
      const other = await openSqliteDataStore({ path: path(), clock });
      others.push(other);
      cache = await EntryCache.load({ source: other, clock, refreshIntervalMs: 1000 });
      cache.start();
      const e = await create('/a', AGENT);
      await new Promise((r) => setImmediate(r));
      expect(cache.getEntry(e.id)).toBeUndefined();
      clock.advance(1000);
      await waitFor('poll to pick up the entry', () => cache!.getEntry(e.id), { timeoutMs: 5000, intervalMs: 5 });
    });

    it('reports background failures and keeps serving what it has', async () => {
      const other = await openSqliteDataStore({ path: path(), clock });
      const errors: unknown[] = [];
      const e = await create('/a', AGENT);
      cache = await EntryCache.load({ source: other, clock, refreshIntervalMs: 1000, onRefreshError: (err) => errors.push(err) });
      cache.start();
      await other.close();
      clock.advance(1000);
      await waitFor('refresh error', () => errors.length > 0, { timeoutMs: 5000, intervalMs: 5 });
      expect(errors[0]).toMatchObject({ code: 'ERR_DATASTORE_CLOSED' });
      expect(cache.getAuthorizedEntries(AGENT, []).map((x) => x.id)).toEqual([e.id]);
      await expect(cache.refresh()).rejects.toMatchObject({ code: 'ERR_DATASTORE_CLOSED' });
    });
  });
});
