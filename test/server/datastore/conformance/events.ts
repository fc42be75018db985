// Conformance: the entry change feed and in-process change notices, seen
// from the same and from another connection (another server).
import { describe, expect, it } from 'vitest';
import type { ChangeKind } from '../../../../src/server/datastore/datastore.ts';
import { DigestBuilder, entryBucket } from '../../../../src/server/datastore/sql/entry-digest.ts';
import { EntryCache } from '../../../../src/server/entry-cache/entry-cache.ts';
import { T0, bundle, caught, id, sel, td, type Fixture } from './fixture.ts';

const parent = id('spiffe://example.org/spire/agent/a1');
const input = (path: string) => ({ spiffeId: id(`spiffe://example.org${path}`), parentId: parent, selectors: [sel('unix', 'uid:1')] });

export function eventConformance(f: () => Fixture): void {
  describe('entry events', () => {
    it('appends one event per change, ids increasing', async () => {
      const { ds } = f();
      const a = await ds.createEntry(input('/a'));
      const b = await ds.createEntry(input('/b'));
      await ds.updateEntry({ id: a.id, hint: 'x' });
      await ds.deleteEntry(b.id);
      const { events, prunedThrough } = await ds.listEntryEvents(0);
      expect(events.map((e) => e.entryId)).toEqual([a.id, b.id, a.id, b.id]);
      for (let i = 1; i < events.length; i++) expect(events[i]!.id).toBeGreaterThan(events[i - 1]!.id);
      expect(prunedThrough).toBe(0);
      expect((await ds.listEntryEvents(events[1]!.id)).events.map((e) => e.entryId)).toEqual([a.id, b.id]);
      expect((await ds.listEntryEvents(0, 2)).events).toHaveLength(2);
      expect((await ds.entrySnapshot()).lastEventId).toBe(events[3]!.id);
    });

    it('records events for bundle deletion in delete and dissociate modes, none for a failed write', async () => {
      const { ds } = f();
      await ds.createBundle(bundle('fed.org'));
      const e = await ds.createEntry({ ...input('/a'), federatesWith: [td('fed.org')] });
      const before = (await ds.listEntryEvents(0)).events.length;
      await caught(() => ds.createEntry(input('/a')));
      await caught(() => ds.deleteBundle(td('fed.org'), 'restrict'));
      expect((await ds.listEntryEvents(0)).events).toHaveLength(before);
      await ds.deleteBundle(td('fed.org'), 'dissociate');
      const evs = (await ds.listEntryEvents(0)).events;
      expect(evs).toHaveLength(before + 1);
      expect(evs[evs.length - 1]!.entryId).toBe(e.id);
    });

    it('prunes old events and reports how far, so readers know to reload', async () => {
      const { ds, clock } = f();
      await ds.createEntry(input('/a'));
      await ds.createEntry(input('/b'));
      clock.advance(3600_000);
      const c = await ds.createEntry(input('/c'));
      const all = (await ds.listEntryEvents(0)).events;
      expect(await ds.pruneEntryEvents(T0 + 60)).toBe(2);
      const after = await ds.listEntryEvents(0);
      expect(after.prunedThrough).toBe(all[1]!.id);
      expect(after.events.map((e) => e.entryId)).toEqual([c.id]);
      expect(await ds.pruneEntryEvents(T0 + 7200)).toBe(1);
      const snap = await ds.entrySnapshot();
      expect(snap.lastEventId).toBe(all[2]!.id);
      expect(snap.entries).toHaveLength(3);
      // A new event after everything was pruned still gets a larger id.
      await ds.createEntry(input('/d'));
      expect((await ds.listEntryEvents(snap.lastEventId)).events[0]!.id).toBeGreaterThan(snap.lastEventId);
    });

    it('notifies listeners after commit, not for failed writes, and stops after unsubscribe', async () => {
      const { ds } = f();
      const seen: ChangeKind[] = [];
      const off = ds.onChange((n) => n.remote || seen.push(n.kind));
      const e = await ds.createEntry(input('/a'));
      await caught(() => ds.createEntry(input('/a')));
      await ds.createBundle(bundle('fed.org'));
      await ds.updateBundle(bundle('fed.org'));
      await ds.createJoinToken({ token: 't', expiresAt: T0 + 60 });
      await ds.createAttestedNode({ spiffeId: parent, attestationDataType: 'join_token', certSerialNumber: '1', certNotAfter: T0 + 60 });
      await ds.setNodeSelectors(parent, [sel('a', 'b')]);
      await ds.createFederationRelationship({ trustDomain: td('fed.org'), bundleEndpointUrl: 'https://fed.org/b', profile: { type: 'https_web' } });
      off();
      await ds.deleteEntry(e.id);
      expect(seen).toEqual(['entries', 'bundles', 'join_tokens', 'nodes', 'node_selectors', 'federation_relationships']);
    });

    it('reads changes, rechecked gaps, bucket digests and bucket reloads in one snapshot', async () => {
      const { ds } = f();
      const a = await ds.createEntry(input('/a'));
      const b = await ds.createEntry(input('/b'));
      await ds.deleteEntry(b.id);
      const r = await ds.readEntryChanges({ afterId: 0, digest: true, reloadBuckets: [entryBucket(a.id)] });
      expect(r.events.map((e) => e.entryId)).toEqual([a.id, b.id, b.id]);
      expect(r.entries.map((e) => e.id)).toEqual([a.id]);
      const digest = new DigestBuilder();
      digest.add(a.id, 0);
      expect(r.digests).toEqual(digest.result());
      expect(r.bucketEntries!.map((e) => e.id)).toEqual([a.id]);
      const [first, , last] = r.events;
      const again = await ds.readEntryChanges({ afterId: last!.id, recheck: [[first!.id, first!.id]] });
      expect(again.events).toEqual([first]);
      await expect(ds.readEntryChanges({ afterId: -1 })).rejects.toThrow(/afterId must be a non-negative integer/);
    });

    it('a cache on another connection follows this one through the feed', async () => {
      const { ds, openAnother } = f();
      const other = await openAnother();
      const cache = await EntryCache.load({ source: other });
      const a = await ds.createEntry(input('/a'));
      const b = await ds.createEntry(input('/b'));
      await cache.refresh();
      expect(cache.getAuthorizedEntries(parent, []).map((e) => e.id).sort()).toEqual([a.id, b.id].sort());
      await ds.updateEntry({ id: a.id, parentId: id('spiffe://example.org/spire/agent/a2') });
      await ds.deleteEntry(b.id);
      await cache.refresh();
      expect(cache.getAuthorizedEntries(parent, [])).toEqual([]);
      expect(cache.getEntry(a.id)?.revisionNumber).toBe(1);
      expect(cache.stats).toMatchObject({ fullLoads: 1, incrementalRefreshes: 2, pendingGaps: 0 });
      // Another server's write is visible to plain reads too.
      expect((await other.getEntry(a.id))?.parentId.path).toBe('/spire/agent/a2');
    });
  });
}
