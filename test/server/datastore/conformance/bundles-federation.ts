// Conformance: bundles (sequence numbers, append/merge, delete modes) and
// federation relationships.
import type { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyIdOfSpki } from '../../../../src/spiffe/x509-leaf-der.ts';
import { makeCa } from '../../../helpers/test-ca.ts';
import type { StoredBundle } from '../../../../src/server/datastore/types.ts';
import { bundle, caught, id, sel, td, type Fixture } from './fixture.ts';

const der = (...b: number[]) => new Uint8Array([0x30, ...b]);

export function bundleAndFederationConformance(f: () => Fixture): void {
  describe('bundles', () => {
    it('round-trips every field, including a sequence number above 2^53', async () => {
      const { ds } = f();
      const b = bundle('big.org', {
        x509Authorities: [{ der: der(1), tainted: false }, { der: der(2), tainted: true }],
        jwtAuthorities: [{ keyId: 'kid-a', publicKey: der(7, 7), expiresAt: 123, tainted: true }],
        refreshHint: 60,
        sequenceNumber: 18_446_744_073_709_551_000n,
      });
      expect(await ds.createBundle(b)).toEqual(b);
      expect(await ds.getBundle(td('big.org'))).toEqual(b);
      expect(await ds.getBundle(td('none.org'))).toBeUndefined();
      expect(await caught(() => ds.createBundle(b))).toMatchObject({
        code: 'ERR_ALREADY_EXISTS_BUNDLE', message: 'datastore: bundle for trust domain "big.org" already exists',
      });
    });

    it('lists by trust domain name with pagination and counts', async () => {
      const { ds } = f();
      for (const n of ['c.org', 'a.org', 'b-x.org', 'b.org']) await ds.createBundle(bundle(n));
      const p1 = await ds.listBundles({ pagination: { pageSize: 3 } });
      expect(p1.items.map((b) => b.trustDomain.name)).toEqual(['a.org', 'b-x.org', 'b.org']);
      const p2 = await ds.listBundles({ pagination: { pageSize: 3, token: p1.nextPageToken! } });
      expect(p2.items.map((b) => b.trustDomain.name)).toEqual(['c.org']);
      expect(p2.nextPageToken).toBeUndefined();
      expect((await ds.listBundles()).items).toHaveLength(4);
      expect(await ds.countBundles()).toBe(4);
    });

    it('taints an authority, then revokes it; refuses the other orders with the rule broken', async () => {
      const { ds } = f();
      const [ca1, ca2] = [await makeCa('example.org'), await makeCa('example.org')];
      const ski = (c: X509Certificate) => keyIdOfSpki(c.publicKey.export({ format: 'der', type: 'spki' })).toString('hex');
      const jwt = (keyId: string) => ({ keyId, publicKey: der(7), expiresAt: 0, tainted: false });
      const b = await ds.createBundle(
        bundle('t.org', { x509Authorities: [{ der: ca1.cert.raw, tainted: false }, { der: ca2.cert.raw, tainted: false }], jwtAuthorities: [jwt('j1'), jwt('j2')], sequenceNumber: 1n }),
      );
      const x1 = { kind: 'x509', subjectKeyId: ski(ca1.cert) } as const;
      expect(await caught(() => ds.changeAuthority(td('t.org'), x1, 'revoke'))).toMatchObject({ code: 'ERR_FAILED_PRECONDITION_AUTHORITY_NOT_TAINTED' });
      const tainted = await ds.changeAuthority(td('t.org'), x1, 'taint');
      expect(tainted.x509Authorities.map((a) => a.tainted)).toEqual([true, false]);
      expect(tainted.sequenceNumber).toBe(b.sequenceNumber + 1n);
      expect(await caught(() => ds.changeAuthority(td('t.org'), x1, 'taint'))).toMatchObject({ code: 'ERR_FAILED_PRECONDITION_AUTHORITY_TAINTED' });
      const revoked = await ds.changeAuthority(td('t.org'), x1, 'revoke');
      expect(revoked.x509Authorities.map((a) => Buffer.from(a.der).equals(ca2.cert.raw))).toEqual([true]);
      expect(await caught(() => ds.changeAuthority(td('t.org'), x1, 'taint'))).toMatchObject({ code: 'ERR_NOT_FOUND_AUTHORITY' });

      await ds.changeAuthority(td('t.org'), { kind: 'jwt', keyId: 'j2' }, 'taint');
      const after = await ds.changeAuthority(td('t.org'), { kind: 'jwt', keyId: 'j2' }, 'revoke');
      expect(after.jwtAuthorities.map((a) => a.keyId)).toEqual(['j1']);
      expect((await ds.getBundle(td('t.org')))!.sequenceNumber).toBe(b.sequenceNumber + 4n);
      expect(await caught(() => ds.changeAuthority(td('none.org'), { kind: 'jwt', keyId: 'j1' }, 'taint'))).toMatchObject({ code: 'ERR_BUNDLE_NOT_FOUND' });
    });

    it('increases the sequence number on every change and only then', async () => {
      const { ds } = f();
      const seqs: bigint[] = [];
      const track = (b: StoredBundle) => { seqs.push(b.sequenceNumber); return b; };
      track(await ds.createBundle(bundle('s.org', { sequenceNumber: 5n })));
      track(await ds.updateBundle(bundle('s.org', { refreshHint: 10, sequenceNumber: 0n }), { refreshHint: true }));
      track(await ds.setBundle(bundle('s.org', { x509Authorities: [{ der: der(9), tainted: false }], sequenceNumber: 0n })));
      track(await ds.appendBundle(bundle('s.org', { x509Authorities: [{ der: der(10), tainted: false }], jwtAuthorities: [], sequenceNumber: 0n })));
      track(await ds.updateBundle(bundle('s.org', { sequenceNumber: 100n })));
      expect(seqs).toEqual([5n, 6n, 7n, 8n, 100n]);
      const now = (await ds.getBundle(td('s.org')))!;
      expect(now.sequenceNumber).toBe(100n);
      // Nothing changes: no write, same sequence.
      expect((await ds.setBundle({ ...now, sequenceNumber: 3n })).sequenceNumber).toBe(100n);
      expect((await ds.appendBundle({ ...now, sequenceNumber: 0n })).sequenceNumber).toBe(100n);
      expect((await ds.updateBundle({ ...now, refreshHint: 999 }, { x509Authorities: true })).sequenceNumber).toBe(100n);
    });

    it('updates the masked fields only and reports a missing bundle', async () => {
      const { ds } = f();
      const orig = await ds.createBundle(bundle('m.org'));
      const u = await ds.updateBundle(bundle('m.org', { refreshHint: 1, x509Authorities: [], jwtAuthorities: [] }), { jwtAuthorities: true });
      expect(u).toEqual({ ...orig, jwtAuthorities: [], sequenceNumber: 2n });
      expect(await caught(() => ds.updateBundle(bundle('x.org')))).toMatchObject({
        code: 'ERR_BUNDLE_NOT_FOUND', message: 'datastore: bundle for trust domain "x.org" not found',
      });
    });

    it('appends only the authorities not already present and creates when missing', async () => {
      const { ds } = f();
      const created = await ds.appendBundle(bundle('ap.org'));
      expect(created.sequenceNumber).toBe(1n);
      const merged = await ds.appendBundle(bundle('ap.org', {
        x509Authorities: [{ der: der(1, 2, 3), tainted: false }, { der: der(4), tainted: false }],
        jwtAuthorities: [{ keyId: 'k1', publicKey: der(9, 9), expiresAt: 0, tainted: false }, { keyId: 'k2', publicKey: der(5), expiresAt: 0, tainted: false }],
        refreshHint: 1,
      }));
      expect(merged.x509Authorities.map((a) => [...a.der])).toEqual([[0x30, 1, 2, 3], [0x30, 4]]);
      expect(merged.jwtAuthorities.map((a) => a.keyId)).toEqual(['k1', 'k2']);
      expect(merged.refreshHint).toBe(300);
      expect(merged.sequenceNumber).toBe(2n);
      expect(await ds.getBundle(td('ap.org'))).toEqual(merged);
    });

    describe('delete modes', () => {
      async function seed(): Promise<string> {
        const { ds } = f();
        await ds.createBundle(bundle('fed.org'));
        await ds.createBundle(bundle('keep.org'));
        const e = await ds.createEntry({
          spiffeId: id('spiffe://example.org/w'), parentId: id('spiffe://example.org/a'), selectors: [sel('a', '1')], federatesWith: [td('fed.org'), td('keep.org')],
        });
        return e.id;
      }

      it('restrict refuses while entries federate with it', async () => {
        const { ds } = f();
        await seed();
        expect(await caught(() => ds.deleteBundle(td('fed.org')))).toMatchObject({
          code: 'ERR_FAILED_PRECONDITION_BUNDLE_IN_USE', message: 'datastore: cannot delete bundle; federated with 1 registration entries',
        });
        expect(await ds.getBundle(td('fed.org'))).toBeDefined();
      });

      it('delete removes the entries too', async () => {
        const { ds } = f();
        const entryId = await seed();
        await ds.deleteBundle(td('fed.org'), 'delete');
        expect(await ds.getBundle(td('fed.org'))).toBeUndefined();
        expect(await ds.getEntry(entryId)).toBeUndefined();
      });

      it('dissociate removes the trust domain from the entries', async () => {
        const { ds } = f();
        const entryId = await seed();
        await ds.deleteBundle(td('fed.org'), 'dissociate');
        const e = (await ds.getEntry(entryId))!;
        expect(e.federatesWith.map((t) => t.name)).toEqual(['keep.org']);
        expect(e.revisionNumber).toBe(1);
        expect(await ds.countEntries({ byFederatesWith: { trustDomains: [td('fed.org')], match: 'match_any' } })).toBe(0);
        expect(await ds.countEntries({ byFederatesWith: { trustDomains: [td('keep.org')], match: 'exact' } })).toBe(1);
      });

      it('reports a missing bundle', async () => {
        const { ds } = f();
        expect(await caught(() => ds.deleteBundle(td('none.org'), 'delete'))).toMatchObject({ code: 'ERR_BUNDLE_NOT_FOUND' });
      });
    });
  });

  describe('federation relationships', () => {
    const spiffeProfile = { type: 'https_spiffe' as const, endpointSpiffeId: id('spiffe://fed.org/spire/server') };

    it('creates both profiles, gets and lists them in name order', async () => {
      const { ds } = f();
      const web = await ds.createFederationRelationship({ trustDomain: td('web.org'), bundleEndpointUrl: 'https://web.org/bundle', profile: { type: 'https_web' } });
      expect(web).toEqual({ trustDomain: td('web.org'), bundleEndpointUrl: 'https://web.org/bundle', profile: { type: 'https_web' } });
      const fed = await ds.createFederationRelationship({
        trustDomain: td('fed.org'), bundleEndpointUrl: 'https://fed.org:8443', profile: spiffeProfile, trustDomainBundle: bundle('fed.org'),
      });
      expect(fed.profile).toEqual(spiffeProfile);
      expect(fed.trustDomainBundle).toEqual(bundle('fed.org'));
      expect(await ds.getBundle(td('fed.org'))).toEqual(bundle('fed.org'));
      expect(await ds.getFederationRelationship(td('fed.org'))).toEqual(fed);
      expect(await ds.getFederationRelationship(td('none.org'))).toBeUndefined();
      const p1 = await ds.listFederationRelationships({ pagination: { pageSize: 1 } });
      expect(p1.items.map((r) => r.trustDomain.name)).toEqual(['fed.org']);
      const p2 = await ds.listFederationRelationships({ pagination: { pageSize: 1, token: p1.nextPageToken! } });
      expect(p2.items).toEqual([web]);
      expect(p2.nextPageToken).toBeUndefined();
      expect(await caught(() => ds.createFederationRelationship({ trustDomain: td('web.org'), bundleEndpointUrl: 'https://x', profile: { type: 'https_web' } }))).toMatchObject({
        code: 'ERR_ALREADY_EXISTS_FEDERATION_RELATIONSHIP', message: 'datastore: federation relationship with "web.org" already exists',
      });
    });

    it('updates masked fields, replaces the bundle, deletes and leaves the bundle', async () => {
      const { ds } = f();
      await ds.createFederationRelationship({ trustDomain: td('fed.org'), bundleEndpointUrl: 'https://old', profile: { type: 'https_web' } });
      const u = await ds.updateFederationRelationship({ trustDomain: td('fed.org'), bundleEndpointUrl: 'https://ignored', profile: spiffeProfile }, { profile: true });
      expect(u).toEqual({ trustDomain: td('fed.org'), bundleEndpointUrl: 'https://old', profile: spiffeProfile });
      const v = await ds.updateFederationRelationship({ trustDomain: td('fed.org'), bundleEndpointUrl: 'https://new', trustDomainBundle: bundle('fed.org', { refreshHint: 5 }) });
      expect(v.bundleEndpointUrl).toBe('https://new');
      expect(v.trustDomainBundle?.refreshHint).toBe(5);
      await ds.deleteFederationRelationship(td('fed.org'));
      expect(await ds.getFederationRelationship(td('fed.org'))).toBeUndefined();
      expect(await ds.getBundle(td('fed.org'))).toBeDefined();
      for (const op of [
        () => ds.deleteFederationRelationship(td('fed.org')),
        () => ds.updateFederationRelationship({ trustDomain: td('fed.org'), bundleEndpointUrl: 'https://x' }),
      ]) {
        expect(await caught(op)).toMatchObject({ code: 'ERR_NOT_FOUND_FEDERATION_RELATIONSHIP', message: 'datastore: federation relationship with "fed.org" not found' });
      }
    });

    it('refuses a bundle for another trust domain', async () => {
      const { ds } = f();
      expect(await caught(() => ds.createFederationRelationship({
        trustDomain: td('fed.org'), bundleEndpointUrl: 'https://x', profile: { type: 'https_web' }, trustDomainBundle: bundle('other.org'),
      }))).toBeInstanceOf(TypeError);
      expect(await ds.getBundle(td('other.org'))).toBeUndefined();
    });
  });
}
