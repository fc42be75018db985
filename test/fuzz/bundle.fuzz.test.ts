// SPIFFE bundle JSON from federation peers (and JWKS, PEM bundles from
// files and agents): only BundleError escapes; an accepted bundle marshals
// and parses back to an equal bundle, and marshalling is stable.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { JwtBundle } from '../../src/spiffe/bundle/jwt-bundle.ts';
import { SpiffeBundle } from '../../src/spiffe/bundle/spiffe-bundle.ts';
import { X509Bundle } from '../../src/spiffe/bundle/x509-bundle.ts';
import { BundleError } from '../../src/spiffe/errors.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { makeCa } from '../helpers/test-ca.ts';
import { fuzzParams, mutatedText, typedOutcome } from './fuzz-params.ts';

const TD = TrustDomain.fromString('example.org');
const CORPUS = join(import.meta.dirname, 'corpus');

/** A self-signed Ed25519 CA certificate (DER), made by openssl. */
function ed25519Certificate(): Buffer {
  const r = spawnSync('sh', ['-c', 'openssl req -x509 -newkey ed25519 -keyout /dev/null -nodes -subj /CN=ed -days 1 -outform DER 2>/dev/null'], { maxBuffer: 1 << 20 });
  expect(r.status).toBe(0);
  return r.stdout;
}

describe('fuzz: SPIFFE bundle JSON', () => {
  let seeds: string[] = [];
  let keyEntries: Record<string, unknown>[] = [];
  let pems: string[] = [];

  beforeAll(async () => {
    const ca = await makeCa('example.org');
    const ed = generateKeyPairSync('ed25519');
    const ec = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const own = new SpiffeBundle(TD, { x509Authorities: [ca.cert], jwtAuthorities: new Map([['k1', ec.publicKey]]), refreshHintSeconds: 300, sequenceNumber: 2n ** 63n });
    const spireJwks = readFileSync(join(CORPUS, 'spire-jwks.json'), 'utf8');
    seeds = [own.marshal(), spireJwks, '{"keys":[]}', '{"spiffe_sequence":1,"keys":[{"use":"x509-svid","kty":"EC","x5c":["AAAA"]}]}'];
    keyEntries = [
      ...(JSON.parse(own.marshal()).keys as Record<string, unknown>[]),
      ...(JSON.parse(spireJwks).keys as Record<string, unknown>[]),
      // A certificate whose key is neither EC nor RSA, labelled EC.
      { use: 'x509-svid', kty: 'EC', x5c: [ed25519Certificate().toString('base64')] },
      { use: 'jwt-svid', kty: 'OKP', crv: 'Ed25519', kid: 'ed', x: ed.publicKey.export({ format: 'jwk' }).x },
    ];
    // The shape of SPIRE's pkg/common/util/testdata/mixed-bundle.pem (CERTIFICATE,
    // PRIVATE KEY, CERTIFICATE), made here: no private key is committed.
    const other = await makeCa('other.example');
    const key = ec.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    pems = [ca.cert.toString(), `${ca.cert.toString()}${key}${other.cert.toString()}`];
  });

  /** Bundle-shaped documents: real keys recombined with fuzzed fields, plus mutated text. */
  const bundles = (): fc.Arbitrary<string> => {
    const entry = fc.oneof(
      fc.constantFrom(...keyEntries),
      fc.tuple(fc.constantFrom(...keyEntries), fc.constantFrom('use', 'kty', 'kid', 'crv', 'x', 'y', 'n', 'e', 'x5c'), fc.jsonValue()).map(([k, field, v]) => ({ ...k, [field]: v })),
      fc.jsonValue(),
    );
    const doc = fc.record(
      { keys: fc.oneof(fc.array(entry, { maxLength: 4 }), fc.jsonValue()), spiffe_sequence: fc.oneof(fc.bigInt({ min: -1n, max: 2n ** 70n }), fc.jsonValue()), spiffe_refresh_hint: fc.oneof(fc.integer(), fc.double(), fc.jsonValue()) },
      { requiredKeys: [] },
    );
    return fc.oneof(
      // bigint becomes a JSON number literal of any size.
      doc.map((d) => JSON.stringify(d, (_k, v: unknown) => (typeof v === 'bigint' ? `__big${v}__` : v)).replace(/"__big(-?\d+)__"/g, '$1')),
      mutatedText(seeds, ['{', '}', '[', ']', '"', ',', ':', '1e999', '-0', '0.5', '"use":"x509-svid"', '"kty":"RSA"', '\\u0000', '__proto__']),
      fc.string({ maxLength: 100 }),
    );
  };

  it('SpiffeBundle.parse throws only BundleError; what it accepts marshals and parses back equal', () => {
    fc.assert(
      fc.property(bundles(), (json) => {
        const out = typedOutcome('SpiffeBundle.parse', () => SpiffeBundle.parse(TD, json));
        if (!out.ok) {
          expect(out.error).toBeInstanceOf(BundleError);
          return;
        }
        const marshalled = typedOutcome('SpiffeBundle.marshal', () => out.value.marshal());
        expect(marshalled.ok, 'a parsed bundle must marshal').toBe(true);
        if (!marshalled.ok) return;
        const again = SpiffeBundle.parse(TD, marshalled.value);
        expect(again.equal(out.value)).toBe(true);
        expect(again.marshal()).toBe(marshalled.value);
      }),
      fuzzParams(1500),
    );
  });

  it('JwtBundle.parse (JWKS) throws only BundleError; what it accepts marshals and parses back', () => {
    fc.assert(
      fc.property(bundles(), (json) => {
        const out = typedOutcome('JwtBundle.parse', () => JwtBundle.parse(TD, json));
        if (!out.ok) {
          expect(out.error).toBeInstanceOf(BundleError);
          return;
        }
        const marshalled = typedOutcome('JwtBundle.marshal', () => out.value.marshal());
        expect(marshalled.ok, 'a parsed JWKS must marshal').toBe(true);
        if (marshalled.ok) expect(JwtBundle.parse(TD, marshalled.value).equal(out.value)).toBe(true);
      }),
      fuzzParams(1500),
    );
  });

  it('X509Bundle.parse (PEM) throws only BundleError and round-trips', () => {
    fc.assert(
      fc.property(fc.oneof(mutatedText(pems, ['-----', 'BEGIN CERTIFICATE', 'END CERTIFICATE', '\n', '=', 'A', '!']), fc.string({ maxLength: 100 })), (pem) => {
        const out = typedOutcome('X509Bundle.parse', () => X509Bundle.parse(TD, pem));
        if (out.ok) expect(X509Bundle.parse(TD, out.value.marshal()).equal(out.value)).toBe(true);
      }),
      fuzzParams(1500),
    );
  });

  it('regression: an x5c certificate whose key cannot be read, or is not of the entry\'s kty, is refused', async () => {
    const der = Buffer.from((await makeCa('example.org')).cert.raw);
    // id-ecPublicKey (1.2.840.10045.2.1) → 1.2.840.10045.2.9: Node still parses the certificate, not its key.
    const at = der.indexOf(Buffer.from([0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]));
    der[at + 8] = 0x09;
    for (const x5c of [der, ed25519Certificate()]) {
      const json = JSON.stringify({ keys: [{ use: 'x509-svid', kty: 'EC', x5c: [x5c.toString('base64')] }] });
      expect(() => SpiffeBundle.parse(TD, json)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_PARSE' }));
    }
  });
});
