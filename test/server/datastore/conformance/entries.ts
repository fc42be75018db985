// Conformance: registration entries (create, duplicates, filters, pagination,
// update with masks, delete, prune, bulk create).
import { describe, expect, it } from 'vitest';
import type { EntryFilter, MatchBehavior } from '../../../../src/server/datastore/datastore.ts';
import { EntryExistsError } from '../../../../src/server/datastore/errors.ts';
import type { EntryInput, RegistrationEntry } from '../../../../src/server/datastore/types.ts';
import { T0, bundle, caught, id, sel, td, type Fixture } from './fixture.ts';

const P1 = id('spiffe://example.org/spire/agent/a1');
const P2 = id('spiffe://example.org/spire/agent/a2');

function input(path: string, over: Partial<EntryInput> = {}): EntryInput {
  return { spiffeId: id(`spiffe://example.org${path}`), parentId: P1, selectors: [sel('unix', 'uid:1000')], ...over };
}

const ids = (es: readonly RegistrationEntry[]) => es.map((e) => e.id).sort();

export function entryConformance(f: () => Fixture): void {
  describe('entries: create and get', () => {
    it('stores every field and applies defaults', async () => {
      const { ds } = f();
      await ds.createBundle(bundle('fed.org'));
      const full = await ds.createEntry({
        spiffeId: id('spiffe://example.org/full'),
        parentId: P2,
        selectors: [sel('unix', 'uid:1'), sel('unix', 'gid:2'), sel('unix', 'uid:1')],
        x509SvidTtlSeconds: 3600,
        jwtSvidTtlSeconds: 300,
        dnsNames: ['a.example.org', 'b.example.org'],
        federatesWith: [td('fed.org')],
        admin: true,
        downstream: true,
        hint: 'web',
        expiresAt: T0 + 86400,
      });
      expect(full.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(full.selectors).toEqual([sel('unix', 'uid:1'), sel('unix', 'gid:2')]);
      expect(full.revisionNumber).toBe(0);
      expect(full.createdAt).toBe(T0);
      const got = await ds.getEntry(full.id);
      expect(got).toEqual(full);
      expect(got!.spiffeId.toString()).toBe('spiffe://example.org/full');
      expect(got!.parentId.equals(P2)).toBe(true);
      expect(got!.federatesWith.map((t) => t.name)).toEqual(['fed.org']);

      const minimal = await ds.createEntry(input('/min'));
      expect(minimal).toMatchObject({
        x509SvidTtlSeconds: 0, jwtSvidTtlSeconds: 0, dnsNames: [], federatesWith: [], admin: false, downstream: false, hint: '', expiresAt: 0,
      });
      expect(await ds.getEntry(minimal.id)).toEqual(minimal);
    });

    it('returns undefined for an unknown ID and only the known ones from getEntries', async () => {
      const { ds } = f();
      const a = await ds.createEntry(input('/a'));
      expect(await ds.getEntry('nope')).toBeUndefined();
      expect(ids(await ds.getEntries([a.id, 'nope', a.id]))).toEqual([a.id]);
    });

    it('honours a caller-chosen ID and refuses to reuse one', async () => {
      const { ds } = f();
      const a = await ds.createEntry(input('/a', { id: 'custom-1' }));
      expect(a.id).toBe('custom-1');
      const err = await caught(() => ds.createEntry(input('/b', { id: 'custom-1' })));
      expect(err).toMatchObject({ code: 'ERR_ENTRY_EXISTS', message: 'datastore: entry ID "custom-1" is already in use' });
    });

    it('refuses a similar entry (same SPIFFE ID, parent and selector set in any order)', async () => {
      const { ds } = f();
      const first = await ds.createEntry(input('/w', { selectors: [sel('unix', 'uid:1'), sel('unix', 'gid:1')] }));
      const err = await caught(() => ds.createEntry(input('/w', { selectors: [sel('unix', 'gid:1'), sel('unix', 'uid:1')], hint: 'other' })));
      expect(err).toBeInstanceOf(EntryExistsError);
      expect(err).toMatchObject({ code: 'ERR_ENTRY_EXISTS', message: 'datastore: similar entry already exists' });
      expect((err as unknown as EntryExistsError).existing.id).toBe(first.id);
      // Different selector set, parent or SPIFFE ID: allowed.
      await ds.createEntry(input('/w', { selectors: [sel('unix', 'uid:1')] }));
      await ds.createEntry(input('/w', { selectors: [sel('unix', 'uid:1'), sel('unix', 'gid:1')], parentId: P2 }));
      await ds.createEntry(input('/w2', { selectors: [sel('unix', 'uid:1'), sel('unix', 'gid:1')] }));
      expect(await ds.countEntries()).toBe(4);
    });

    it('refuses an entry without selectors', async () => {
      const { ds } = f();
      const err = await caught(() => ds.createEntry(input('/a', { selectors: [] })));
      expect(err).toMatchObject({ code: 'ERR_INVALID_ARGUMENT_ENTRY', message: 'datastore: invalid registration entry: missing selector list' });
    });

    it('requires a stored bundle for every federated trust domain', async () => {
      const { ds } = f();
      await ds.createBundle(bundle('one.org'));
      const err = await caught(() => ds.createEntry(input('/a', { federatesWith: [td('one.org'), td('two.org')] })));
      expect(err).toMatchObject({ code: 'ERR_FAILED_PRECONDITION_FEDERATED_BUNDLE_NOT_FOUND', message: 'datastore: unable to find federated bundle "two.org"' });
      expect(await ds.countEntries()).toBe(0);
      await ds.createBundle(bundle('two.org'));
      const e = await ds.createEntry(input('/a', { federatesWith: [td('one.org'), td('two.org'), td('one.org')] }));
      expect(e.federatesWith.map((t) => t.name)).toEqual(['one.org', 'two.org']);
    });
  });

  describe('entries: list filters', () => {
    // A: P1 [a:1]            fw []
    // B: P1 [a:1 b:2]        fw [td1]
    // C: P2 [b:2 c:3]        fw [td1 td2]  hint h
    // D: P2 [a:1 b:2 c:3]    fw []         hint h
    async function seed(): Promise<Record<'A' | 'B' | 'C' | 'D', string>> {
      const { ds } = f();
      await ds.createBundle(bundle('td1.org'));
      await ds.createBundle(bundle('td2.org'));
      const A = await ds.createEntry(input('/A', { selectors: [sel('a', '1')] }));
      const B = await ds.createEntry(input('/B', { selectors: [sel('a', '1'), sel('b', '2')], federatesWith: [td('td1.org')] }));
      const C = await ds.createEntry(input('/C', { parentId: P2, selectors: [sel('b', '2'), sel('c', '3')], federatesWith: [td('td1.org'), td('td2.org')], hint: 'h' }));
      const D = await ds.createEntry(input('/D', { parentId: P2, selectors: [sel('a', '1'), sel('b', '2'), sel('c', '3')], hint: 'h' }));
      return { A: A.id, B: B.id, C: C.id, D: D.id };
    }
    const S = (...pairs: string[]) => pairs.map((p) => sel(p.split(':')[0]!, p.split(':')[1]!));
    const bySel = (match: MatchBehavior, ...pairs: string[]): EntryFilter => ({ bySelectors: { selectors: S(...pairs), match } });
    const byFw = (match: MatchBehavior, ...names: string[]): EntryFilter => ({ byFederatesWith: { trustDomains: names.map(td), match } });
    const rows: [string, EntryFilter, string[]][] = [
      ['no filter', {}, ['A', 'B', 'C', 'D']],
      ['parent P1', { byParentId: P1 }, ['A', 'B']],
      ['spiffe ID /C', { bySpiffeId: id('spiffe://example.org/C') }, ['C']],
      ['hint h', { byHint: 'h' }, ['C', 'D']],
      ['hint none', { byHint: 'none' }, []],
      ['selectors a:1 exact', bySel('exact', 'a:1'), ['A']],
      ['selectors a:1 subset', bySel('subset', 'a:1'), ['A']],
      ['selectors a:1 superset', bySel('superset', 'a:1'), ['A', 'B', 'D']],
      ['selectors a:1 match_any', bySel('match_any', 'a:1'), ['A', 'B', 'D']],
      ['selectors a:1 b:2 exact', bySel('exact', 'a:1', 'b:2'), ['B']],
      ['selectors a:1 b:2 subset', bySel('subset', 'a:1', 'b:2'), ['A', 'B']],
      ['selectors a:1 b:2 superset', bySel('superset', 'a:1', 'b:2'), ['B', 'D']],
      ['selectors a:1 b:2 match_any', bySel('match_any', 'a:1', 'b:2'), ['A', 'B', 'C', 'D']],
      ['selectors b:2 c:3 subset', bySel('subset', 'b:2', 'c:3'), ['C']],
      ['selectors b:2 c:3 superset', bySel('superset', 'b:2', 'c:3'), ['C', 'D']],
      ['selectors all three exact', bySel('exact', 'c:3', 'b:2', 'a:1'), ['D']],
      ['selectors all three subset', bySel('subset', 'a:1', 'b:2', 'c:3'), ['A', 'B', 'C', 'D']],
      ['selectors duplicates ignored', bySel('exact', 'a:1', 'a:1'), ['A']],
      ['selectors unknown', bySel('match_any', 'z:9'), []],
      ['selector type and value both match', bySel('match_any', 'a:2'), []],
      ['federates td1 exact', byFw('exact', 'td1.org'), ['B']],
      ['federates td1 subset', byFw('subset', 'td1.org'), ['B']],
      ['federates td1 superset', byFw('superset', 'td1.org'), ['B', 'C']],
      ['federates td1 match_any', byFw('match_any', 'td1.org'), ['B', 'C']],
      ['federates td1 td2 exact', byFw('exact', 'td1.org', 'td2.org'), ['C']],
      ['federates td1 td2 subset', byFw('subset', 'td1.org', 'td2.org'), ['B', 'C']],
      ['federates td1 td2 superset', byFw('superset', 'td1.org', 'td2.org'), ['C']],
      ['federates td2 match_any', byFw('match_any', 'td2.org'), ['C']],
      ['parent P2 + selectors b:2 superset', { byParentId: P2, ...bySel('superset', 'b:2') }, ['C', 'D']],
      ['parent P1 + selectors c:3 match_any', { byParentId: P1, ...bySel('match_any', 'c:3') }, []],
      ['hint h + federates td1', { byHint: 'h', ...byFw('match_any', 'td1.org') }, ['C']],
    ];
    it.each(rows)('%s', async (_name, filter, expected) => {
      const { ds } = f();
      const seeded = await seed();
      const want = expected.map((k) => seeded[k as keyof typeof seeded]).sort();
      expect(ids((await ds.listEntries(filter)).items)).toEqual(want);
      expect(await ds.countEntries(filter)).toBe(want.length);
    });

    it('refuses an empty selector or trust domain set', async () => {
      const { ds } = f();
      expect(await caught(() => ds.listEntries(bySel('exact')))).toMatchObject({
        code: 'ERR_INVALID_ARGUMENT_FILTER', message: 'datastore: cannot filter by an empty selector set',
      });
      expect(await caught(() => ds.countEntries(byFw('subset')))).toMatchObject({
        code: 'ERR_INVALID_ARGUMENT_FILTER', message: 'datastore: cannot filter by an empty federated trust domain set',
      });
    });
  });

  describe('entries: pagination', () => {
    it('pages through everything in creation order, then stops', async () => {
      const { ds } = f();
      const created: string[] = [];
      for (let i = 0; i < 7; i++) created.push((await ds.createEntry(input(`/p${i}`))).id);
      const seen: string[] = [];
      const sizes: number[] = [];
      let token: string | undefined = '';
      for (let guard = 0; token !== undefined && guard < 10; guard++) {
        const page: Awaited<ReturnType<typeof ds.listEntries>> = await ds.listEntries({ pagination: { token, pageSize: 3 } });
        sizes.push(page.items.length);
        seen.push(...page.items.map((e) => e.id));
        token = page.nextPageToken;
      }
      expect(sizes).toEqual([3, 3, 1]);
      expect(seen).toEqual(created);
      // Exactly a page's worth: no trailing empty page.
      const six = await ds.listEntries({ bySelectors: { selectors: [sel('unix', 'uid:1000')], match: 'exact' }, pagination: { pageSize: 7 } });
      expect(six.items).toHaveLength(7);
      expect(six.nextPageToken).toBeUndefined();
    });

    it('pages a filtered list and survives deletions between pages', async () => {
      const { ds } = f();
      for (let i = 0; i < 6; i++) await ds.createEntry(input(`/q${i}`, { parentId: i % 2 === 0 ? P1 : P2 }));
      const p1 = await ds.listEntries({ byParentId: P1, pagination: { pageSize: 2 } });
      expect(p1.items.map((e) => e.spiffeId.path)).toEqual(['/q0', '/q2']);
      await ds.deleteEntry(p1.items[1]!.id);
      const p2 = await ds.listEntries({ byParentId: P1, pagination: { pageSize: 2, token: p1.nextPageToken! } });
      expect(p2.items.map((e) => e.spiffeId.path)).toEqual(['/q4']);
      expect(p2.nextPageToken).toBeUndefined();
    });

    it('refuses a malformed page token and a non-positive page size', async () => {
      const { ds } = f();
      expect(await caught(() => ds.listEntries({ pagination: { token: 'abc', pageSize: 2 } }))).toMatchObject({
        code: 'ERR_INVALID_ARGUMENT_PAGE_TOKEN', message: 'datastore: could not parse page token "abc"',
      });
      expect(await caught(() => ds.listEntries({ pagination: { pageSize: 0 } }))).toBeInstanceOf(TypeError);
    });
  });

  describe('entries: update', () => {
    it('writes only the masked fields and bumps the revision', async () => {
      const { ds } = f();
      const e = await ds.createEntry(input('/u', { hint: 'old', x509SvidTtlSeconds: 60 }));
      const u = await ds.updateEntry({ id: e.id, hint: 'new', x509SvidTtlSeconds: 999, selectors: [sel('unix', 'uid:5')] }, { hint: true, selectors: true });
      expect(u).toMatchObject({ hint: 'new', x509SvidTtlSeconds: 60, selectors: [sel('unix', 'uid:5')], revisionNumber: 1, createdAt: e.createdAt });
      expect(await ds.getEntry(e.id)).toEqual(u);
      // Selector rows follow the update.
      expect(ids((await ds.listEntries({ bySelectors: { selectors: [sel('unix', 'uid:5')], match: 'exact' } })).items)).toEqual([e.id]);
      expect(await ds.countEntries({ bySelectors: { selectors: [sel('unix', 'uid:1000')], match: 'match_any' } })).toBe(0);
      // No mask: every field given is written.
      const v = await ds.updateEntry({ id: e.id, dnsNames: ['x.org'], admin: true, parentId: P2 });
      expect(v).toMatchObject({ dnsNames: ['x.org'], admin: true, hint: 'new', revisionNumber: 2 });
      expect(v.parentId.equals(P2)).toBe(true);
    });

    it('refuses a mask naming a field without a value', async () => {
      const { ds } = f();
      const e = await ds.createEntry(input('/u'));
      expect(await caught(() => ds.updateEntry({ id: e.id }, { hint: true }))).toBeInstanceOf(TypeError);
    });

    it('reports an unknown entry', async () => {
      const { ds } = f();
      expect(await caught(() => ds.updateEntry({ id: 'missing', hint: 'x' }))).toMatchObject({
        code: 'ERR_ENTRY_NOT_FOUND', message: 'datastore: entry "missing" not found',
      });
    });

    it('refuses an update that makes it similar to another entry', async () => {
      const { ds } = f();
      const a = await ds.createEntry(input('/a'));
      const b = await ds.createEntry(input('/b'));
      const err = await caught(() => ds.updateEntry({ id: b.id, spiffeId: a.spiffeId }));
      expect(err).toMatchObject({ code: 'ERR_ENTRY_EXISTS' });
      expect((err as unknown as EntryExistsError).existing.id).toBe(a.id);
      expect(await ds.getEntry(b.id)).toEqual(b);
      // Updating an entry without changing its identity is fine.
      await ds.updateEntry({ id: a.id, spiffeId: a.spiffeId, hint: 'same identity' });
    });

    it('rolls back an update naming a trust domain without a bundle', async () => {
      const { ds } = f();
      const e = await ds.createEntry(input('/a'));
      expect(await caught(() => ds.updateEntry({ id: e.id, hint: 'x', federatesWith: [td('nobody.org')] }))).toMatchObject({
        code: 'ERR_FAILED_PRECONDITION_FEDERATED_BUNDLE_NOT_FOUND',
      });
      expect(await ds.getEntry(e.id)).toEqual(e);
    });
  });

  describe('entries: delete, prune and bulk create', () => {
    it('deletes and returns the entry', async () => {
      const { ds } = f();
      await ds.createBundle(bundle('fed.org'));
      const e = await ds.createEntry(input('/d', { federatesWith: [td('fed.org')] }));
      expect(await ds.deleteEntry(e.id)).toEqual(e);
      expect(await ds.getEntry(e.id)).toBeUndefined();
      expect(await ds.countEntries({ byFederatesWith: { trustDomains: [td('fed.org')], match: 'match_any' } })).toBe(0);
      expect(await caught(() => ds.deleteEntry(e.id))).toMatchObject({ code: 'ERR_ENTRY_NOT_FOUND' });
      // The bundle has no entries left, so restrict mode lets it go.
      await ds.deleteBundle(td('fed.org'), 'restrict');
    });

    it('prunes entries that expired before the given time, never those without expiry', async () => {
      const { ds } = f();
      const old = await ds.createEntry(input('/old', { expiresAt: T0 - 10 }));
      const edge = await ds.createEntry(input('/edge', { expiresAt: T0 }));
      const never = await ds.createEntry(input('/never'));
      expect(await ds.pruneEntries(T0)).toBe(1);
      expect(await ds.getEntry(old.id)).toBeUndefined();
      expect(ids((await ds.listEntries()).items)).toEqual(ids([edge, never]));
      expect(await ds.pruneEntries(T0)).toBe(0);
    });

    it('creates a batch in one transaction: all or nothing', async () => {
      const { ds } = f();
      const existing = await ds.createEntry(input('/x0'));
      const batch = [input('/b0'), input('/b1'), input('/x0'), input('/b3')];
      const err = await caught(() => ds.createEntries(batch));
      expect(err).toMatchObject({ code: 'ERR_ENTRY_EXISTS' });
      expect((err as unknown as EntryExistsError).existing.id).toBe(existing.id);
      expect(await ds.countEntries()).toBe(1);
      // A duplicate inside the batch is caught too.
      expect(await caught(() => ds.createEntries([input('/b0'), input('/b0')]))).toMatchObject({ code: 'ERR_ENTRY_EXISTS' });
      expect(await ds.countEntries()).toBe(1);
      const made = await ds.createEntries([input('/b0'), input('/b1')]);
      expect(made.map((e) => e.spiffeId.path)).toEqual(['/b0', '/b1']);
      expect(await ds.countEntries()).toBe(3);
      expect(await ds.createEntries([])).toEqual([]);
    });
  });
}
