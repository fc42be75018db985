// SPIFFE bundle format (shared/spec/bundle-and-federation.md §2) and the
// X.509 / JWT bundle encodings of the Workload API.
import { beforeAll, describe, expect, it } from 'vitest';
import { JwtBundle } from '../../src/spiffe/bundle/jwt-bundle.ts';
import { BundleSet } from '../../src/spiffe/bundle/set.ts';
import { SpiffeBundle } from '../../src/spiffe/bundle/spiffe-bundle.ts';
import { X509Bundle } from '../../src/spiffe/bundle/x509-bundle.ts';
import { splitDer } from '../../src/spiffe/bundle/der.ts';
import { BundleError } from '../../src/spiffe/errors.ts';
import { generateKeyPair } from '../../src/spiffe/keys.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { makeCa, type TestCert } from '../helpers/test-ca.ts';

const td = TrustDomain.fromString('example.org');
let ca1: TestCert;
let ca2: TestCert;

beforeAll(async () => {
  ca1 = await makeCa('example.org');
  ca2 = await makeCa('example.org');
});

function caught(fn: () => unknown): BundleError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BundleError) return err;
    throw err;
  }
  throw new Error('expected a BundleError');
}

describe('SpiffeBundle', () => {
  it('round-trips keys, sequence and refresh hint', () => {
    const jwtKey = generateKeyPair('ec-p256').publicKey;
    const rsaKey = generateKeyPair('rsa-2048').publicKey;
    const b = new SpiffeBundle(td, {
      x509Authorities: [ca1.cert, ca2.cert],
      jwtAuthorities: new Map([['kid-1', jwtKey], ['kid-2', rsaKey]]),
      refreshHintSeconds: 300,
      sequenceNumber: 2n,
    });
    const json = b.marshal();
    const doc = JSON.parse(json);
    expect(doc.spiffe_sequence).toBe(2);
    expect(doc.spiffe_refresh_hint).toBe(300);
    expect(doc.keys.map((k: { use: string }) => k.use)).toEqual(['x509-svid', 'x509-svid', 'jwt-svid', 'jwt-svid']);
    expect(doc.keys[0].kid).toBeUndefined();
    expect(doc.keys[0].x5c).toEqual([ca1.cert.raw.toString('base64')]);
    expect(doc.keys[2]).toMatchObject({ kty: 'EC', crv: 'P-256', kid: 'kid-1' });
    expect(doc.keys[3]).toMatchObject({ kty: 'RSA', kid: 'kid-2' });
    const back = SpiffeBundle.parse(td, json);
    expect(back.equal(b)).toBe(true);
    expect(back.x509Authorities.map((c) => c.fingerprint256)).toEqual([ca1.cert.fingerprint256, ca2.cert.fingerprint256]);
  });

  it('keeps sequence numbers above 2^53 exact', () => {
    const json = `{"spiffe_sequence":18446744073709551615,"keys":[]}`;
    const b = SpiffeBundle.parse(td, json);
    expect(b.sequenceNumber).toBe(18446744073709551615n);
    expect(b.marshal()).toContain('"spiffe_sequence":18446744073709551615');
  });

  it('ignores keys of unknown use or kty and x509 entries without x5c, with warnings', () => {
    const json = JSON.stringify({ keys: [
      { kty: 'EC', use: 'wit-svid', crv: 'P-256', x: 'a', y: 'b' },
      { kty: 'OKP', use: 'jwt-svid', kid: 'x' },
      { kty: 'EC', use: 'x509-svid', x5c: [] },
      { kty: 'EC', use: 'x509-svid', x5c: [ca1.cert.raw.toString('base64'), 'ignored'] },
    ] });
    const b = SpiffeBundle.parse(td, json);
    expect(b.x509Authorities).toHaveLength(1);
    expect(b.parseWarnings).toHaveLength(3);
  });

  it('an empty keys array is a bundle with no authorities (all revoked)', () => {
    const b = SpiffeBundle.parse(td, '{"keys":[]}');
    expect(b.x509Authorities).toHaveLength(0);
    expect(b.jwtAuthorities.size).toBe(0);
  });

  it.each([
    ['not JSON', '{', 'ERR_BUNDLE_PARSE'],
    ['an array', '[]', 'ERR_BUNDLE_PARSE'],
    ['keys missing', '{"spiffe_sequence":1}', 'ERR_BUNDLE_NO_AUTHORITIES'],
    ['jwt-svid without kid', JSON.stringify({ keys: [{ kty: 'EC', use: 'jwt-svid', crv: 'P-256', x: 'a', y: 'b' }] }), 'ERR_BUNDLE_JWT_MISSING_KID'],
    ['negative sequence', '{"spiffe_sequence":-1,"keys":[]}', 'ERR_BUNDLE_PARSE'],
    ['fractional refresh hint', '{"spiffe_refresh_hint":1.5,"keys":[]}', 'ERR_BUNDLE_PARSE'],
    ['x5c not a certificate', JSON.stringify({ keys: [{ kty: 'EC', use: 'x509-svid', x5c: ['AAAA'] }] }), 'ERR_BUNDLE_PARSE'],
  ])('rejects %s', (_name, json, code) => {
    expect(caught(() => SpiffeBundle.parse(td, json)).code).toBe(code);
  });

  it('rejects duplicate JWT key IDs', () => {
    const k = generateKeyPair('ec-p256').publicKey.export({ format: 'jwk' });
    const json = JSON.stringify({ keys: [{ ...k, use: 'jwt-svid', kid: 'a' }, { ...k, use: 'jwt-svid', kid: 'a' }] });
    expect(caught(() => SpiffeBundle.parse(td, json)).message).toBe('spiffebundle: duplicate key ID "a"');
  });

  it('equal() sees a changed sequence or key set', () => {
    const a = new SpiffeBundle(td, { x509Authorities: [ca1.cert], sequenceNumber: 1n });
    expect(a.equal(new SpiffeBundle(td, { x509Authorities: [ca1.cert], sequenceNumber: 1n }))).toBe(true);
    expect(a.equal(new SpiffeBundle(td, { x509Authorities: [ca1.cert], sequenceNumber: 2n }))).toBe(false);
    expect(a.equal(new SpiffeBundle(td, { x509Authorities: [ca2.cert], sequenceNumber: 1n }))).toBe(false);
  });
});

describe('X509Bundle', () => {
  it('round-trips PEM and concatenated DER', () => {
    const b = new X509Bundle(td, [ca1.cert, ca2.cert]);
    expect(X509Bundle.parse(td, b.marshal()).equal(b)).toBe(true);
    const raw = b.marshalRaw();
    expect(splitDer(raw)).toHaveLength(2);
    expect(X509Bundle.parseRaw(td, raw).equal(b)).toBe(true);
  });

  it('rejects truncated DER and PEM without certificates', () => {
    expect(caught(() => X509Bundle.parseRaw(td, ca1.cert.raw.subarray(0, 50))).code).toBe('ERR_BUNDLE_X509_PARSE');
    expect(caught(() => X509Bundle.parse(td, 'hello')).code).toBe('ERR_BUNDLE_X509_PARSE');
  });
});

describe('JwtBundle', () => {
  it('parses both the Workload API shape and the SPIFFE bundle shape', () => {
    const key = generateKeyPair('ec-p384').publicKey;
    const jwks = new JwtBundle(td, new Map([['k', key]])).marshal();
    expect(JSON.parse(jwks)).toEqual({ keys: [{ ...key.export({ format: 'jwk' }), kid: 'k' }] });
    expect(JwtBundle.parse(td, jwks).findAuthority('k')).toBeDefined();
    const spiffe = new SpiffeBundle(td, { x509Authorities: [ca1.cert], jwtAuthorities: new Map([['k', key]]) }).marshal();
    const parsed = JwtBundle.parse(td, spiffe);
    expect([...parsed.jwtAuthorities.keys()]).toEqual(['k']);
  });

  it('requires a kid on every key', () => {
    const key = generateKeyPair('ec-p256').publicKey.export({ format: 'jwk' });
    expect(caught(() => JwtBundle.parse(td, JSON.stringify({ keys: [key] }))).message).toBe('jwtbundle: error adding authority 0 of JWKS: keyID cannot be empty');
  });
});

describe('BundleSet', () => {
  it('serves each trust domain its own bundle only', () => {
    const other = TrustDomain.fromString('other.org');
    const set = new BundleSet([new SpiffeBundle(td, { x509Authorities: [ca1.cert] }), new SpiffeBundle(other, { x509Authorities: [ca2.cert] })]);
    expect(set.getX509BundleForTrustDomain(td)!.x509Authorities[0]!.fingerprint256).toBe(ca1.cert.fingerprint256);
    expect(set.getX509BundleForTrustDomain(other)!.x509Authorities[0]!.fingerprint256).toBe(ca2.cert.fingerprint256);
    expect(set.getBundleForTrustDomain(TrustDomain.fromString('nobody.org'))).toBeUndefined();
    set.remove(other);
    expect(set.bundles().map((b) => b.trustDomain.name)).toEqual(['example.org']);
  });
});
