// Which agents an entry change concerns, with the real entry cache over a
// real SQLite datastore: two agents' watches; entries under an agent, under
// its entries (at any depth) and node aliases matching its selectors nudge
// that agent only; a full load nudges everyone; the per-agent cap, closing
// one watch and closing all; a batch that concerns many agents spreads
// their nudges.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.ts';
import { HeraldError } from '../../../src/common/errors.ts';
import type { DataStore } from '../../../src/server/datastore/datastore.ts';
import { openSqliteDataStore } from '../../../src/server/datastore/sqlite.ts';
import type { EntryInput } from '../../../src/server/datastore/types.ts';
import { EntryCache } from '../../../src/server/entry-cache/entry-cache.ts';
import { EntryWatchers } from '../../../src/server/entry-cache/entry-watchers.ts';
import { SpiffeId } from '../../../src/spiffe/id.ts';
import { makeTempDir } from '../../helpers/tmp.ts';
import { waitFor } from '../../helpers/wait.ts';

const T0 = Date.UTC(2026, 0, 1);
const id = (s: string) => SpiffeId.require(`spiffe://example.org${s}`);
const sel = (type: string, value: string) => ({ type, value });
const A = id('/spire/agent/x509pop/a');
const B = id('/spire/agent/x509pop/b');
const SERVER = id('/spire/server');
const A_SELECTORS = [sel('x509pop', 'subject:cn:a'), sel('x509pop', 'ca:fp:1')];
const B_SELECTORS = [sel('x509pop', 'subject:cn:b'), sel('x509pop', 'ca:fp:1')];

describe('entry watchers', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let ds: DataStore;
  let cache: EntryCache;
  let watchers: EntryWatchers;
  const nudges = { a: 0, b: 0 };
  const create = (spiffeId: string, parentId: SpiffeId, over: Partial<EntryInput> = {}) =>
    ds.createEntry({ spiffeId: id(spiffeId), parentId, selectors: [sel('unix', 'uid:1')], ...over });
  /** The nudges since the last call, after the cache applied every write so far. */
  const nudged = async (): Promise<{ a: number; b: number }> => {
    await cache.refresh();
    const n = { ...nudges };
    nudges.a = nudges.b = 0;
    return n;
  };

  beforeEach(async () => {
    tmp = await makeTempDir('herald-watchers-');
    const clock = new ManualClock(T0);
    ds = await openSqliteDataStore({ path: join(tmp.path, 'datastore.sqlite3'), clock });
    cache = await EntryCache.load({ source: ds, clock });
    watchers = new EntryWatchers(cache);
    nudges.a = nudges.b = 0;
    watchers.watch(A, A_SELECTORS, () => nudges.a++, () => {});
    watchers.watch(B, B_SELECTORS, () => nudges.b++, () => {});
  });
  afterEach(async () => {
    watchers.close();
    await cache.stop();
    await ds.close();
    await tmp.cleanup();
  });

  it("an entry for one agent nudges that agent only, on create, update and delete", async () => {
    const e = await create('/web', A);
    expect(await nudged()).toEqual({ a: 1, b: 0 });
    await ds.updateEntry({ id: e.id, dnsNames: ['web.example.org'] }, { dnsNames: true });
    expect(await nudged()).toEqual({ a: 1, b: 0 });
    await ds.deleteEntry(e.id);
    expect(await nudged()).toEqual({ a: 1, b: 0 });
    // An entry of neither agent nudges nobody.
    await create('/elsewhere', id('/spire/agent/x509pop/c'));
    expect(await nudged()).toEqual({ a: 0, b: 0 });
  });

  it("an entry moved from one agent to the other nudges both (its before and after)", async () => {
    const e = await create('/web', A);
    await nudged();
    await ds.updateEntry({ id: e.id, parentId: B }, { parentId: true });
    expect(await nudged()).toEqual({ a: 1, b: 1 });
  });

  it("entries under the agent's entries, at any depth, nudge it", async () => {
    await create('/node-group', A);
    await nudged();
    // Parented to the SPIFFE ID of A's entry: authorized to A (SPIRE's descendants).
    await create('/workload', id('/node-group'));
    expect(await nudged()).toEqual({ a: 1, b: 0 });
    // One level further: the set was recomputed after the last nudge.
    await create('/sidecar', id('/workload'));
    expect(await nudged()).toEqual({ a: 1, b: 0 });
  });

  it("a node alias whose selectors are all the agent's nudges that agent, and entries under it then do too", async () => {
    await create('/alias/a', SERVER, { selectors: [sel('x509pop', 'subject:cn:a')] });
    expect(await nudged()).toEqual({ a: 1, b: 0 });
    await create('/under-alias', id('/alias/a'));
    expect(await nudged()).toEqual({ a: 1, b: 0 });
    // An alias on a selector both agents have: both.
    await create('/alias/ca', SERVER, { selectors: [sel('x509pop', 'ca:fp:1')] });
    expect(await nudged()).toEqual({ a: 1, b: 1 });
    // An alias neither matches fully: nobody.
    await create('/alias/none', SERVER, { selectors: [sel('x509pop', 'subject:cn:a'), sel('x509pop', 'subject:cn:b')] });
    expect(await nudged()).toEqual({ a: 0, b: 0 });
  });

  it('a cycle of entries (each parented to the other\'s SPIFFE ID) under an agent is walked once', async () => {
    await create('/cycle-a', A);
    await create('/cycle-b', id('/cycle-a'));
    await nudged();
    // /cycle-a again, now also under /cycle-b: the walk up from it meets /cycle-a and /cycle-b again.
    await create('/cycle-a', id('/cycle-b'));
    expect(await nudged()).toEqual({ a: 1, b: 0 });
    await create('/cycle-c', id('/cycle-b'));
    expect(await nudged()).toEqual({ a: 1, b: 0 });
  });

  it('refuses a watch beyond the overall cap', () => {
    const capped = new EntryWatchers(cache, { maxWatches: 1 });
    try {
      capped.watch(A, A_SELECTORS, () => {}, () => {});
      expect(() => capped.watch(B, B_SELECTORS, () => {}, () => {})).toThrow(/already holds 1 entry watches/);
    } finally {
      capped.close();
    }
  });

  it('a batch nudges each agent once, however many of its entries changed', async () => {
    for (let i = 0; i < 5; i++) await create(`/w${i}`, A);
    expect(await nudged()).toEqual({ a: 1, b: 0 });
  });

  it('a full load (events pruned) nudges every agent', async () => {
    await create('/x', id('/spire/agent/x509pop/c'));
    await ds.pruneEntryEvents(Math.floor(T0 / 1000) + 60);
    expect(await nudged()).toEqual({ a: 1, b: 1 });
    expect(cache.stats.fullLoads).toBe(2);
  });

  it('caps the watches per agent; a closed watch is not nudged and frees its place', async () => {
    const extra = [1, 2, 3].map(() => watchers.watch(A, A_SELECTORS, () => nudges.a++, () => {}));
    let refused: unknown;
    try {
      watchers.watch(A, A_SELECTORS, () => {}, () => {});
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(HeraldError);
    expect((refused as HeraldError).code).toBe('ERR_RESOURCE_EXHAUSTED_ENTRY_WATCHES');
    for (const w of extra) w.close();
    await create('/web', A);
    expect(await nudged()).toEqual({ a: 1, b: 0 });
    expect(watchers.size).toBe(2);
    watchers.watch(A, A_SELECTORS, () => {}, () => {}).close();
  });

  it('a batch that concerns more agents than spreadAbove spreads their nudges over the window, one each', async () => {
    // Two agents at 150 ms each: a window of 300 ms.
    const spread = new EntryWatchers(cache, { spreadAbove: 1, spreadMsPerAgent: 150, maxSpreadMs: 5_000 });
    const got: string[] = [];
    spread.watch(A, A_SELECTORS, () => got.push('a'), () => {});
    spread.watch(B, B_SELECTORS, () => got.push('b'), () => {});
    try {
      // An alias both agents match: two agents, above the threshold of one.
      await create('/alias/ca', SERVER, { selectors: [sel('x509pop', 'ca:fp:1')] });
      await cache.refresh();
      expect(got).toEqual([]);
      // A second batch for both while their nudges are due adds nothing.
      await create('/under-ca', id('/alias/ca'));
      await cache.refresh();
      await waitFor('both nudged', () => got.length === 2, { timeoutMs: 5_000 });
      expect(got.sort()).toEqual(['a', 'b']);
      // One agent concerned: at once again.
      await create('/only-a', A);
      await cache.refresh();
      expect(got).toEqual(['a', 'b', 'a']);
    } finally {
      spread.close();
    }
    // The suite's own watches were nudged at once each time.
    expect(await nudged()).toEqual({ a: 3, b: 2 });
  });

  it('close() ends every watch and refuses new ones', async () => {
    let ended = 0;
    const w = new EntryWatchers(cache);
    w.watch(A, A_SELECTORS, () => nudges.a++, () => ended++);
    w.watch(B, B_SELECTORS, () => nudges.b++, () => ended++);
    w.close();
    expect(ended).toBe(2);
    expect(w.size).toBe(0);
    expect(() => w.watch(A, [], () => {}, () => {})).toThrow(/shutting down/);
    // The closed set no longer follows the cache (the suite's own watches still do).
    await create('/web', A);
    expect(await nudged()).toEqual({ a: 1, b: 0 });
  });
});
