// Pins the DER Herald writes for the seed-000 profile (CA certificates and
// X509-SVID leaves) for a fixed key, serial and time, so refactoring the
// profile into the credential template builder and its default composer
// (uniqueid) changes no byte. ECDSA signatures are randomised, so the
// to-be-signed part is pinned and the signature is checked to verify. The
// keys are derived from fixed labels at run time (no key is committed).
import { X509Certificate, createECDH, createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { beforeEach, describe, expect, it, vi } from 'vitest';

// Serials come from randomBytes(16): make them a fixed sequence.
let serialCounter = 0;
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return {
    ...real,
    randomBytes: (n: number) => {
      if (n !== 16) return real.randomBytes(n);
      serialCounter++;
      return Buffer.alloc(16, serialCounter);
    },
  };
});

const { SpiffeId } = await import('../../../src/spiffe/id.ts');
const { TrustDomain } = await import('../../../src/spiffe/trust-domain.ts');
const { element } = await import('../../../src/spiffe/der-writer.ts');
const profile = await import('./profile-adapter.ts');

/** The same EC key on every run: its scalar is a hash of `label`. */
function fixedEcKey(crv: 'P-256' | 'P-384', label: string): KeyObject {
  const size = crv === 'P-256' ? 32 : 48;
  const d = createHash(crv === 'P-256' ? 'sha256' : 'sha384').update(label).digest();
  const ecdh = createECDH(crv === 'P-256' ? 'prime256v1' : 'secp384r1');
  ecdh.setPrivateKey(d);
  const point = ecdh.getPublicKey();
  const b64 = (b: Buffer): string => b.toString('base64url');
  return createPrivateKey({ key: { kty: 'EC', crv, d: b64(d), x: b64(point.subarray(1, 1 + size)), y: b64(point.subarray(1 + size)) }, format: 'jwk' });
}
const caP256 = fixedEcKey('P-256', 'herald profile pin: CA');
const upstreamP256 = fixedEcKey('P-256', 'herald profile pin: upstream CA');
const caP384 = fixedEcKey('P-384', 'herald profile pin: CA P-384');
const leafSpki = createPublicKey(fixedEcKey('P-256', 'herald profile pin: leaf')).export({ format: 'der', type: 'spki' });
const td = TrustDomain.fromString('example.org');
const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
const DAY = 86_400_000;

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const tbsOf = (der: Buffer): Buffer => {
  const tbs = element(der, element(der, 0).contentStart);
  return der.subarray(tbs.start, tbs.end);
};

beforeEach(() => {
  serialCounter = 0;
});

describe('seed-000 profile, byte for byte', () => {
  it('self-signed CA and a workload leaf without DNS names', async () => {
    const ca = await profile.selfSignedCa({ trustDomain: td, key: caP256, notBefore: T0, notAfter: T0 + DAY });
    expect(sha256(tbsOf(ca.raw))).toBe('60c66823c3ce06912ba15fe7972ab1c9db7d5dd352d39ca9152b03ff753fa257');
    expect(ca.verify(createPublicKey(caP256))).toBe(true);
    const leaf = await profile.leaf({ ca, caKey: caP256, spki: leafSpki, id: SpiffeId.fromString('spiffe://example.org/myservice'), now: T0 + 1000, ttlMs: 3_600_000 });
    expect(sha256(tbsOf(leaf))).toBe('1c13ed7c61bf2aaa173b8058a3ce4018f1473f15f5125955a87b9842e2552c7a');
    expect(new X509Certificate(leaf).verify(createPublicKey(caP256))).toBe(true);
    expect(new X509Certificate(leaf).subject).toBe('C=US\nO=SPIRE\nx500UniqueIdentifier=f7fa051b660f2be34e54056a8c4e281a');
  });

  it('a leaf with DNS names (CN = the first) capped at the CA\'s expiry', async () => {
    const ca = await profile.selfSignedCa({ trustDomain: td, key: caP256, notBefore: T0, notAfter: T0 + 60_000 });
    const leaf = await profile.leaf({ ca, caKey: caP256, spki: leafSpki, id: SpiffeId.fromString('spiffe://example.org/db'), now: T0 + 1000, ttlMs: 3_600_000, dnsNames: ['db.example.org', 'db'] });
    expect(sha256(tbsOf(leaf))).toBe('e681092bfd10d76480aec25bfd72daa08fc24eae6c9d251712a7aaac6799dcd1');
    expect(new X509Certificate(leaf).verify(createPublicKey(caP256))).toBe(true);
  });

  it('a CA with a common name and a non-printable organization, signed by an upstream CA', async () => {
    const upstream = await profile.selfSignedCa({ trustDomain: TrustDomain.fromString('upstream.example'), key: upstreamP256, notBefore: T0 - DAY, notAfter: T0 + 10 * DAY, subject: { country: ['DE'], organization: ['Upstream'], commonName: 'Upstream Root' } });
    expect(sha256(tbsOf(upstream.raw))).toBe('1abef4c4c68dad623db126d8719a8b023ff3933f95ffec8d66700efcaf09fec7');
    expect(upstream.verify(createPublicKey(upstreamP256))).toBe(true);
    const ca = await profile.upstreamSignedCa({
      trustDomain: td, publicKey: createPublicKey(caP256), upstream: { certificate: upstream, key: upstreamP256 }, notBefore: T0, notAfter: T0 + 20 * DAY,
      subject: { country: ['US'], organization: ['Ünïcode Org'], commonName: 'Herald CA' },
    });
    expect(sha256(tbsOf(ca.raw))).toBe('50b3a668cda99b879ad49fd70463f02ab26b354c034a07129cc7562191f8c7e1');
    expect(ca.verify(createPublicKey(upstreamP256))).toBe(true);
    const leaf = await profile.leaf({ ca, caKey: caP256, spki: leafSpki, id: SpiffeId.fromString('spiffe://example.org/x'), now: T0 + 1000, ttlMs: 3_600_000 });
    expect(sha256(tbsOf(leaf))).toBe('0fc03c4ec5dd92b9aa871b3db41ee62ec6b37896a2580ca438082428ec2016de');
    expect(new X509Certificate(leaf).verify(createPublicKey(caP256))).toBe(true);
  });

  it('an ECDSA P-384 CA and leaf: the to-be-signed bytes are pinned, the signatures verify', async () => {
    const ca = await profile.selfSignedCa({ trustDomain: td, key: caP384, notBefore: T0, notAfter: T0 + DAY });
    expect(sha256(tbsOf(ca.raw))).toBe('0436fee77dc4dd27eda274738bc027d37dd4c21f326921ff70aa8d120c2f692e');
    expect(ca.verify(createPublicKey(caP384))).toBe(true);
    const leaf = await profile.leaf({ ca, caKey: caP384, spki: leafSpki, id: SpiffeId.fromString('spiffe://example.org/ec'), now: T0 + 1000, ttlMs: 3_600_000, dnsNames: ['ec.example.org'] });
    expect(sha256(tbsOf(leaf))).toBe('3bab6a9579a624ac264fb1096c7710504652bbdb1fbf9f6d4ad4e87d31a0a50d');
    expect(new X509Certificate(leaf).verify(createPublicKey(caP384))).toBe(true);
  });
});
