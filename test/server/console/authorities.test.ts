// The slot view: the journal joined with the bundle (tainted, revoked) and
// the active authority's rotation thresholds.
import { describe, expect, it } from 'vitest';
import type { JournalData } from '../../../src/server/ca/journal.ts';
import { x509AuthorityId } from '../../../src/server/api/localauthority-service.ts';
import { authoritiesView } from '../../../src/server/console/authorities.ts';
import type { StoredBundle } from '../../../src/server/datastore/types.ts';
import { TrustDomain } from '../../../src/spiffe/trust-domain.ts';
import { makeCa } from '../../helpers/test-ca.ts';

const TD = TrustDomain.fromString('example.org');
const NOW = 1_000_000_000;
const LIFE = 60_000;

async function fixture() {
  const [oldCa, activeCa, preparedCa] = await Promise.all([makeCa('example.org'), makeCa('example.org'), makeCa('example.org')]);
  const b64 = (c: { cert: { raw: Buffer } }) => c.cert.raw.toString('base64');
  const x509 = (c: typeof oldCa, slotId: 'A' | 'B', status: 'old' | 'active' | 'prepared', issuedAt: number) => ({ slotId, status, issuedAt, notAfter: issuedAt + LIFE, keyId: 'k', certificate: b64(c), upstreamChain: [] as string[] });
  const jwt = (kid: string, slotId: 'A' | 'B', status: 'old' | 'active' | 'prepared', issuedAt: number) => ({ slotId, status, issuedAt, notAfter: issuedAt + LIFE, keyId: 'k', kid, publicKey: '' });
  const journal: JournalData = {
    version: 1,
    x509Cas: [x509(oldCa, 'A', 'old', NOW - 50_000), x509(activeCa, 'B', 'active', NOW - 30_000), x509(preparedCa, 'A', 'prepared', NOW - 1_000)],
    jwtKeys: [jwt('ancient', 'B', 'old', NOW - 3 * LIFE), jwt('old-kid', 'A', 'old', NOW - 50_000), jwt('active-kid', 'B', 'active', NOW - 30_000)],
  };
  const ids = { old: x509AuthorityId({ certificate: oldCa.cert }), active: x509AuthorityId({ certificate: activeCa.cert }), prepared: x509AuthorityId({ certificate: preparedCa.cert }) };
  return { journal, ids, certs: { oldCa, activeCa, preparedCa } };
}

const bundle = (x509: { der: Uint8Array; tainted: boolean }[], jwt: { keyId: string; tainted: boolean }[]): StoredBundle => ({
  trustDomain: TD,
  x509Authorities: x509,
  jwtAuthorities: jwt.map((j) => ({ ...j, publicKey: new Uint8Array(), expiresAt: 0 })),
  refreshHint: 0,
  sequenceNumber: 1n,
});

describe('authoritiesView', () => {
  it('shows each slot with its status and SPIRE authority ID; thresholds on the active one only', async () => {
    const { journal, ids, certs } = await fixture();
    const v = authoritiesView(journal, bundle([certs.oldCa, certs.activeCa, certs.preparedCa].map((c) => ({ der: c.cert.raw, tainted: false })), [{ keyId: 'old-kid', tainted: false }, { keyId: 'active-kid', tainted: false }]), NOW);
    expect(v.x509.map((a) => [a.id, a.slot, a.status, a.tainted, a.revoked])).toEqual([
      [ids.old, 'A', 'old', false, false],
      [ids.active, 'B', 'active', false, false],
      [ids.prepared, 'A', 'prepared', false, false],
    ]);
    const active = v.x509[1]!;
    // SPIRE's thresholds: prepare at half the lifetime, activate at five sixths.
    expect(active.prepareAt).toBe(active.issuedAt + LIFE / 2);
    expect(active.activateAt).toBe(active.notAfter - LIFE / 6);
    expect(v.x509[0]!.prepareAt).toBeUndefined();
    // An authority expired more than a lifetime ago is left out.
    expect(v.jwt.map((a) => a.id)).toEqual(['old-kid', 'active-kid']);
  });

  it('marks tainted authorities from the bundle, and live ones missing from it as revoked', async () => {
    const { journal, certs } = await fixture();
    const v = authoritiesView(journal, bundle([{ der: certs.activeCa.cert.raw, tainted: false }, { der: certs.preparedCa.cert.raw, tainted: false }], [{ keyId: 'old-kid', tainted: true }, { keyId: 'active-kid', tainted: false }]), NOW);
    expect(v.x509.map((a) => a.revoked)).toEqual([true, false, false]);
    expect(v.jwt.map((a) => [a.id, a.tainted, a.revoked])).toEqual([['old-kid', true, false], ['active-kid', false, false]]);
  });

  it('does not call an expired authority, or one under an upstream authority, revoked', async () => {
    const { journal } = await fixture();
    const later = NOW + 15_000; // the old CA (issued NOW-50s, 60s life) has expired
    const upstream: JournalData = { ...journal, x509Cas: journal.x509Cas.map((e) => ({ ...e, upstreamChain: ['x'] })) };
    expect(authoritiesView(journal, bundle([], []), later).x509.map((a) => a.revoked)).toEqual([false, true, true]);
    expect(authoritiesView(upstream, bundle([], []), later).x509.map((a) => a.revoked)).toEqual([false, false, false]);
  });
});
