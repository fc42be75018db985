// Pins the DER Herald writes for the seed-000 profile (CA certificates and
// X509-SVID leaves) for a fixed key, serial and time, so refactoring the
// profile into the credential template builder and its default composer
// (uniqueid) changes no byte. RSA CA keys sign deterministically (PKCS#1
// v1.5), so the whole certificate is pinned; with an ECDSA CA key only the
// to-be-signed part is (its signature is randomised) and the signature is
// checked to verify.
import { X509Certificate, createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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

const fixture = (name: string): KeyObject => createPrivateKey(readFileSync(join(import.meta.dirname, '../../fixtures/credtemplate', name)));
const caRsa = fixture('ca-rsa.pem');
const upstreamRsa = fixture('upstream-rsa.pem');
const caP384 = fixture('ca-p384.pem');
const leafSpki = createPublicKey(fixture('leaf-p256.pem')).export({ format: 'der', type: 'spki' });
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
  it('self-signed CA (RSA) and a workload leaf without DNS names', async () => {
    const ca = await profile.selfSignedCa({ trustDomain: td, key: caRsa, notBefore: T0, notAfter: T0 + DAY });
    expect(sha256(ca.raw)).toBe('8308a6291cd6645bd0d2768a7cb0aa9b4704eb2f8443fa398827abacdce67490');
    const leaf = await profile.leaf({ ca, caKey: caRsa, spki: leafSpki, id: SpiffeId.fromString('spiffe://example.org/myservice'), now: T0 + 1000, ttlMs: 3_600_000 });
    expect(sha256(leaf)).toBe('5c2685374cffeff5164d3653acee7d615cf6a999c8d8f245bf3cef17f775347d');
    expect(new X509Certificate(leaf).subject).toBe('C=US\nO=SPIRE\nx500UniqueIdentifier=f7fa051b660f2be34e54056a8c4e281a');
  });

  it('a leaf with DNS names (CN = the first) capped at the CA\'s expiry', async () => {
    const ca = await profile.selfSignedCa({ trustDomain: td, key: caRsa, notBefore: T0, notAfter: T0 + 60_000 });
    const leaf = await profile.leaf({ ca, caKey: caRsa, spki: leafSpki, id: SpiffeId.fromString('spiffe://example.org/db'), now: T0 + 1000, ttlMs: 3_600_000, dnsNames: ['db.example.org', 'db'] });
    expect(sha256(leaf)).toBe('27cf00b9cbafc2c4009c5b4cd9b371b9ad24e1195a6fa864c3bff1c620fbbac6');
  });

  it('a CA with a common name and a non-printable organization, signed by an upstream CA', async () => {
    const upstream = await profile.selfSignedCa({ trustDomain: TrustDomain.fromString('upstream.example'), key: upstreamRsa, notBefore: T0 - DAY, notAfter: T0 + 10 * DAY, subject: { country: ['DE'], organization: ['Upstream'], commonName: 'Upstream Root' } });
    expect(sha256(upstream.raw)).toBe('92cd38a7cae6db4999f674b9d840836ad4fc3c61fe9651ec1a7ec5b0716c603f');
    const ca = await profile.upstreamSignedCa({
      trustDomain: td, publicKey: createPublicKey(caRsa), upstream: { certificate: upstream, key: upstreamRsa }, notBefore: T0, notAfter: T0 + 20 * DAY,
      subject: { country: ['US'], organization: ['Ünïcode Org'], commonName: 'Herald CA' },
    });
    expect(sha256(ca.raw)).toBe('7d84fe38851ae9e10ce7251cf8c7ef18cbd812550e8d1ba92c46d4a9734caf63');
    const leaf = await profile.leaf({ ca, caKey: caRsa, spki: leafSpki, id: SpiffeId.fromString('spiffe://example.org/x'), now: T0 + 1000, ttlMs: 3_600_000 });
    expect(sha256(leaf)).toBe('2084c287fc56f16bea885ec5609af17340934d55beb37a0b2d5b84f0f0f2df72');
  });

  it('an ECDSA P-384 CA and leaf: the to-be-signed bytes are pinned, the signatures verify', async () => {
    const ca = await profile.selfSignedCa({ trustDomain: td, key: caP384, notBefore: T0, notAfter: T0 + DAY });
    expect(sha256(tbsOf(ca.raw))).toBe('51baa3ca4d4195db84df363ca9a9c644ba132735eba5fe6e3de7e4294d626d9c');
    expect(ca.verify(createPublicKey(caP384))).toBe(true);
    const leaf = await profile.leaf({ ca, caKey: caP384, spki: leafSpki, id: SpiffeId.fromString('spiffe://example.org/ec'), now: T0 + 1000, ttlMs: 3_600_000, dnsNames: ['ec.example.org'] });
    expect(sha256(tbsOf(leaf))).toBe('d2ca48f3e9c42289ddabd8a7ee3494162f13ebfdc5e765c7675c397d50aa032c');
    expect(new X509Certificate(leaf).verify(createPublicKey(caP384))).toBe(true);
  });
});
