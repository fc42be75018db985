// X509-SVID rules (shared/spec/x509-svid.md §2–3): one negative vector per
// rule, asserting the exact code and go-spiffe's message; the leaf profile of
// seed 000 checked field by field and with openssl.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Bundle } from '../../src/spiffe/bundle/x509-bundle.ts';
import { BundleSet } from '../../src/spiffe/bundle/set.ts';
import { SpiffeBundle } from '../../src/spiffe/bundle/spiffe-bundle.ts';
import { X509SvidError } from '../../src/spiffe/errors.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { generateKeyPair } from '../../src/spiffe/keys.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { verify } from '../../src/spiffe/x509-verify.ts';
import { uniqueIdFor } from '../../src/spiffe/x509-template.ts';
import { createCaCertificate, signX509Svid } from '../../src/server/credtemplate/standalone.ts';
import { marshalRaw, parse, parseRaw } from '../../src/spiffe/x509svid.ts';
import { CA_KU, LEAF_KU, makeCa, makeCert, makeLeaf, type TestCert } from '../helpers/test-ca.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { px509 } from '../../src/spiffe/peculiar.ts';
import { isCa } from '../../src/spiffe/x509-ext.ts';

const td = TrustDomain.fromString('example.org');
const KU = px509.KeyUsageFlags;
let root: TestCert;
let otherRoot: TestCert;
let inter: TestCert;
let bundles: BundleSet;

beforeAll(async () => {
  root = await makeCa('example.org');
  otherRoot = await makeCa('other.org');
  inter = await makeCa('example.org', root);
  bundles = new BundleSet([
    SpiffeBundle.fromX509Bundle(new X509Bundle(td, [root.cert])),
    SpiffeBundle.fromX509Bundle(new X509Bundle(TrustDomain.fromString('other.org'), [otherRoot.cert])),
  ]);
});

function caught(fn: () => unknown): X509SvidError {
  try {
    fn();
  } catch (err) {
    if (err instanceof X509SvidError) return err;
    throw err;
  }
  throw new Error('expected an X509SvidError');
}

describe('verify', () => {
  const now = () => Date.now();

  it('accepts a leaf signed by the root, and through an intermediate', async () => {
    const leaf = await makeLeaf('spiffe://example.org/web', root);
    expect(verify([leaf.cert], bundles, { at: now() }).id.toString()).toBe('spiffe://example.org/web');
    const viaInter = await makeLeaf('spiffe://example.org/web', inter);
    const r = verify([viaInter.cert, inter.cert], bundles, { at: now() });
    expect(r.chain.map((c) => c.fingerprint256)).toEqual([viaInter.cert, inter.cert, root.cert].map((c) => c.fingerprint256));
  });

  const cases: [string, () => Promise<TestCert[]>, string, string][] = [
    ['two URI SANs', async () => [(await makeCert({ uris: ['spiffe://example.org/a', 'spiffe://example.org/b'], keyUsage: LEAF_KU }, root))], 'ERR_X509_SVID_MULTIPLE_URI_SANS', 'certificate contains more than one URI SAN'],
    ['no URI SAN', async () => [(await makeCert({ keyUsage: LEAF_KU }, root))], 'ERR_X509_SVID_NO_URI_SAN', 'certificate contains no URI SAN'],
    ['https URI SAN', async () => [(await makeCert({ uris: ['https://example.org/a'], keyUsage: LEAF_KU }, root))], 'ERR_X509_SVID_INVALID_SPIFFE_ID', 'unable to parse SPIFFE ID in certificate: spiffeid: scheme is missing or invalid'],
    ['leaf CA=true', async () => [(await makeCert({ uris: ['spiffe://example.org/a'], ca: true, keyUsage: KU.digitalSignature }, root))], 'ERR_X509_SVID_LEAF_IS_CA', 'leaf certificate must not have CA flag set to true'],
    ['leaf keyCertSign', async () => [(await makeCert({ uris: ['spiffe://example.org/a'], keyUsage: KU.digitalSignature | KU.keyCertSign }, root))], 'ERR_X509_SVID_LEAF_KEY_CERT_SIGN', 'leaf certificate must not have KeyCertSign as key usage'],
    ['leaf cRLSign', async () => [(await makeCert({ uris: ['spiffe://example.org/a'], keyUsage: KU.digitalSignature | KU.cRLSign }, root))], 'ERR_X509_SVID_LEAF_CRL_SIGN', 'leaf certificate must not have CRLSign as key usage'],
    ['leaf with the trust domain ID', async () => [(await makeCert({ uris: ['spiffe://example.org'], keyUsage: LEAF_KU }, root))], 'ERR_X509_SVID_LEAF_NO_PATH', 'leaf certificate SPIFFE ID must have a path'],
    ['signed by another trust domain\'s CA', async () => [(await makeLeaf('spiffe://example.org/a', otherRoot))], 'ERR_X509_SVID_UNKNOWN_AUTHORITY', 'could not verify leaf certificate: certificate signed by unknown authority (trust domain "example.org")'],
    ['trust domain without a bundle', async () => [(await makeLeaf('spiffe://nobody.org/a', root))], 'ERR_X509_SVID_NO_BUNDLE', 'could not get X509 bundle: no X.509 bundle for trust domain "nobody.org"'],
    ['expired', async () => [(await makeLeaf('spiffe://example.org/a', root, { notBefore: new Date(Date.now() - 7200_000), notAfter: new Date(Date.now() - 3600_000) }))], 'ERR_X509_SVID_EXPIRED', ''],
    ['not yet valid', async () => [(await makeLeaf('spiffe://example.org/a', root, { notBefore: new Date(Date.now() + 3600_000), notAfter: new Date(Date.now() + 7200_000) }))], 'ERR_X509_SVID_EXPIRED', ''],
    ['intermediate without CA flag', async () => {
      const notCa = await makeCert({ uris: ['spiffe://example.org'], ca: false, keyUsage: CA_KU }, root);
      return [await makeLeaf('spiffe://example.org/a', notCa), notCa];
    }, 'ERR_X509_SVID_UNKNOWN_AUTHORITY', 'could not verify leaf certificate: certificate signed by unknown authority (trust domain "example.org")'],
    ['missing intermediate', async () => [(await makeLeaf('spiffe://example.org/a', inter))], 'ERR_X509_SVID_UNKNOWN_AUTHORITY', 'could not verify leaf certificate: certificate signed by unknown authority (trust domain "example.org")'],
  ];

  it.each(cases)('rejects: %s', async (_name, make, code, message) => {
    const certs = (await make()).map((c) => c.cert);
    const err = caught(() => verify(certs, bundles, { at: Date.now() }));
    expect(err.code).toBe(code);
    if (message) expect(err.message).toBe(`x509svid: ${message}`);
  });
});

describe('parseRaw (an SVID with its key)', () => {
  it('accepts a leaf and its key, and round-trips', async () => {
    const leaf = await makeLeaf('spiffe://example.org/web', inter);
    const svid = parseRaw(Buffer.concat([leaf.cert.raw, inter.cert.raw]), leaf.key.export({ format: 'der', type: 'pkcs8' }));
    expect(svid.id.toString()).toBe('spiffe://example.org/web');
    const raw = marshalRaw(svid);
    expect(parseRaw(raw.certificates, raw.privateKey).certificates).toHaveLength(2);
  });

  it.each([
    ['key mismatch', 'ERR_X509_SVID_KEY_MISMATCH', 'leaf certificate does not match private key'],
    ['no digitalSignature', 'ERR_X509_SVID_LEAF_NO_DIGITAL_SIGNATURE', 'leaf certificate must have digitalSignature as key usage'],
    ['intermediate not CA', 'ERR_X509_SVID_INTERMEDIATE_NOT_CA', 'signing certificate must have CA flag set to true'],
  ])('rejects: %s', async (name, code, message) => {
    let certs: TestCert[];
    let key = (await makeLeaf('spiffe://example.org/x', root)).key;
    if (name === 'key mismatch') {
      certs = [await makeLeaf('spiffe://example.org/web', root)];
    } else if (name === 'no digitalSignature') {
      certs = [await makeCert({ uris: ['spiffe://example.org/web'], keyUsage: KU.keyEncipherment }, root)];
      key = certs[0]!.key;
    } else {
      const leaf = await makeLeaf('spiffe://example.org/web', root);
      certs = [leaf, await makeCert({ uris: ['spiffe://example.org/x'], keyUsage: LEAF_KU }, root)];
      key = leaf.key;
    }
    const err = caught(() => parseRaw(Buffer.concat(certs.map((c) => c.cert.raw)), key.export({ format: 'der', type: 'pkcs8' })));
    expect({ code: err.code, message: err.message }).toEqual({ code, message: `x509svid: ${message}` });
  });

  it('rejects garbage DER and keys with a clear error', () => {
    expect(caught(() => parseRaw(Buffer.from([0x30, 0x82, 0xff]), Buffer.alloc(0))).code).toBe('ERR_X509_SVID_PARSE_CERTIFICATES');
    expect(caught(() => parse('not pem', 'not a key')).code).toBe('ERR_X509_SVID_PARSE_KEY');
  });
});

describe('certificate profile (seed 000)', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => { dir = await makeTempDir(); });
  afterAll(async () => { await dir.cleanup(); });

  it('issues a CA and a leaf that openssl verifies and describes as SPIRE does', async () => {
    const now = Date.now();
    const caKeys = generateKeyPair('ec-p256');
    const ca = await createCaCertificate({ trustDomain: td, publicKey: caKeys.publicKey, signer: { privateKey: caKeys.privateKey }, notBefore: now, notAfter: now + 24 * 3600_000 });
    const leafKeys = generateKeyPair('ec-p256');
    const id = SpiffeId.fromString('spiffe://example.org/myservice');
    const leaf = await signX509Svid({ ca: { certificate: ca, privateKey: caKeys.privateKey }, publicKey: leafKeys.publicKey, id, now, ttlMs: 3600_000 });

    expect(ca.ca).toBe(true);
    expect(isCa(leaf)).toBe(false);
    expect(isCa(ca)).toBe(true);
    expect(ca.subjectAltName).toBe('URI:spiffe://example.org');
    expect(leaf.issuer).toBe('C=US\nO=SPIFFE');
    // The seed's openssl dump shows exactly this unique ID for spiffe://example.org/myservice.
    expect(uniqueIdFor(id)).toBe('f7fa051b660f2be34e54056a8c4e281a');
    expect(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)).toBe(3600_000 + 10_000);
    expect(BigInt('0x' + leaf.serialNumber)).toBeGreaterThan(0n);

    writeFileSync(join(dir.path, 'ca.pem'), ca.toString());
    writeFileSync(join(dir.path, 'leaf.pem'), leaf.toString());
    const text = execFileSync('openssl', ['x509', '-in', join(dir.path, 'leaf.pem'), '-noout', '-text'], { encoding: 'utf8' });
    for (const want of [
      'Issuer: C = US, O = SPIFFE',
      'Subject: C = US, O = SPIRE, x500UniqueIdentifier = f7fa051b660f2be34e54056a8c4e281a',
      'X509v3 Key Usage: critical\n                Digital Signature, Key Encipherment, Key Agreement',
      'TLS Web Server Authentication, TLS Web Client Authentication',
      'X509v3 Basic Constraints: critical\n                CA:FALSE',
      'X509v3 Subject Key Identifier',
      'X509v3 Authority Key Identifier',
      'URI:spiffe://example.org/myservice',
    ]) expect(text).toContain(want);
    const out = execFileSync('openssl', ['verify', '-CAfile', join(dir.path, 'ca.pem'), join(dir.path, 'leaf.pem')], { encoding: 'utf8' });
    expect(out.trim()).toBe(`${join(dir.path, 'leaf.pem')}: OK`);
    expect(verify([leaf], new X509Bundle(td, [ca]), { at: now }).id.equals(id)).toBe(true);
  });

  it('caps the leaf at the CA\'s expiry and sets DNS SANs with CN', async () => {
    const now = Date.now();
    const caKeys = generateKeyPair('ec-p384');
    const ca = await createCaCertificate({ trustDomain: td, publicKey: caKeys.publicKey, signer: { privateKey: caKeys.privateKey }, notBefore: now, notAfter: now + 60_000 });
    const leaf = await signX509Svid({ ca: { certificate: ca, privateKey: caKeys.privateKey }, publicKey: generateKeyPair('rsa-2048').publicKey, id: SpiffeId.fromString('spiffe://example.org/db'), now, ttlMs: 3600_000, dnsNames: ['db.example.org', 'db'] });
    expect(Date.parse(leaf.validTo)).toBe(Date.parse(ca.validTo));
    expect(leaf.subjectAltName).toBe('URI:spiffe://example.org/db, DNS:db.example.org, DNS:db');
    expect(leaf.subject).toContain('CN=db.example.org');
  });
});
