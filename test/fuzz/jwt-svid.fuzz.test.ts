// JWT-SVIDs from the network (ext_authz, ValidateJWTSVID): the compact token
// and its JSON header and claims. Only JwtSvidError escapes, whatever the
// token; a token that parseAndValidate accepts also verifies with jose
// (the reference JWS implementation); sign → parseAndValidate round-trips.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { compactVerify } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { JwtBundle } from '../../src/spiffe/bundle/jwt-bundle.ts';
import { JwtSvidError } from '../../src/spiffe/errors.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { parseAndValidate, parseInsecure, sign, type JwtAlg } from '../../src/spiffe/jwtsvid.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { fuzzParams, mutatedText, typedOutcome, typedOutcomeAsync } from './fuzz-params.ts';

const NOW = Date.UTC(2026, 0, 1);
const TD = TrustDomain.fromString('example.org');
const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A JSON value shaped like a JWS header / JWT claims set, with the fields the parser looks at often present. */
const headerLike = fc.record(
  {
    alg: fc.oneof(fc.constantFrom('ES256', 'ES384', 'RS256', 'PS256', 'none', 'HS256', 'EdDSA'), fc.jsonValue()),
    kid: fc.oneof(fc.constantFrom('k1', 'k2', ''), fc.jsonValue()),
    typ: fc.oneof(fc.constantFrom('JWT', 'JOSE', 'jwt'), fc.jsonValue()),
    crit: fc.jsonValue(),
  },
  { requiredKeys: [] },
);
const claimsLike = fc.record(
  {
    sub: fc.oneof(fc.constantFrom('spiffe://example.org/web', 'spiffe://example.org', 'spiffe://other.org/x', 'web'), fc.jsonValue()),
    aud: fc.oneof(fc.constantFrom('db', ['db', 'x']), fc.jsonValue()),
    exp: fc.oneof(fc.constant(NOW / 1000 + 300), fc.double(), fc.jsonValue()),
    nbf: fc.oneof(fc.integer(), fc.jsonValue()),
    iat: fc.oneof(fc.integer(), fc.jsonValue()),
  },
  { requiredKeys: [] },
);

describe('fuzz: JWT-SVID tokens', () => {
  let keys: { kid: string; alg: JwtAlg; key: KeyObject; pub: KeyObject }[] = [];
  let bundle: JwtBundle;
  let seeds: string[] = [];

  beforeAll(async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    keys = [
      { kid: 'k1', alg: 'ES256', key: ec.privateKey, pub: ec.publicKey },
      { kid: 'k2', alg: 'PS256', key: rsa.privateKey, pub: rsa.publicKey },
    ];
    bundle = new JwtBundle(TD, new Map(keys.map((k) => [k.kid, k.pub])));
    seeds = await Promise.all(
      keys.map((k) => sign({ id: SpiffeId.fromString('spiffe://example.org/web'), audience: ['db'], expiresAt: NOW + 300_000, key: k.key, kid: k.kid, alg: k.alg, now: NOW })),
    );
  });

  const tokens = (): fc.Arbitrary<string> =>
    fc.oneof(
      mutatedText(seeds, ['.', '..', '=', '+', '/', ' ', 'eyJ', '{', '\u0000', 'A'.repeat(100)]),
      fc.tuple(headerLike, claimsLike, fc.uint8Array({ maxLength: 80 })).map(([h, c, sig]) => `${b64(h)}.${b64(c)}.${Buffer.from(sig).toString('base64url')}`),
      // Parts that are base64url but not JSON, or JSON that is not an object.
      fc.tuple(fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null')), fc.string()).map(([h, c]) => `${b64(h)}.${b64(c)}.c2ln`),
      // A real signature over a fuzzed header/claims pair (signature verifies only by accident).
      fc.tuple(fc.constantFrom(0, 1), claimsLike).map(([i, c]) => {
        const [h, , s] = seeds[i]!.split('.');
        return `${h}.${b64(c)}.${s}`;
      }),
      fc.string({ maxLength: 200 }),
    );

  it('parseInsecure and parseAndValidate throw only JwtSvidError; whatever parseAndValidate accepts verifies with jose', async () => {
    await fc.assert(
      fc.asyncProperty(tokens(), async (token) => {
        const insecure = typedOutcome('parseInsecure', () => parseInsecure(token, [], { now: NOW }));
        if (!insecure.ok) expect(insecure.error).toBeInstanceOf(JwtSvidError);
        const validated = await typedOutcomeAsync('parseAndValidate', () => parseAndValidate(token, bundle, ['db'], { now: NOW }));
        if (!validated.ok) {
          expect(validated.error).toBeInstanceOf(JwtSvidError);
          return;
        }
        const kid = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid;
        const pub = keys.find((k) => k.kid === kid)!.pub;
        await expect(compactVerify(token, pub)).resolves.toBeDefined();
        expect(insecure.ok).toBe(true);
      }),
      fuzzParams(2000),
    );
  });

  it('sign → parseAndValidate round-trips the subject, audience, expiry and extra claims', async () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/).filter((s) => s !== '.' && s !== '..');
    const extraClaims = fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => !['sub', 'aud', 'exp', 'iat', 'iss', '__proto__'].includes(k)), fc.jsonValue(), { maxKeys: 4 });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(0, 1), fc.array(segment, { minLength: 1, maxLength: 4 }), fc.array(fc.string({ minLength: 1, maxLength: 16 }), { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 86_400 }), extraClaims, async (k, path, audience, ttlS, extra) => {
        const id = SpiffeId.fromSegments(TD, ...path);
        const { key, kid, alg } = keys[k]!;
        const token = await sign({ id, audience, expiresAt: NOW + ttlS * 1000, key, kid, alg, now: NOW, extraClaims: extra });
        const svid = await parseAndValidate(token, bundle, [audience[0]!], { now: NOW });
        expect(svid.id.toString()).toBe(id.toString());
        expect(svid.audience).toEqual(audience);
        expect(svid.expiry.getTime()).toBe(NOW + ttlS * 1000);
        // JSON does not keep -0 apart from 0: compare through JSON.
        for (const [name, value] of Object.entries(extra)) expect(JSON.stringify(svid.claims[name])).toBe(JSON.stringify(value));
      }),
      fuzzParams(300),
    );
  });
});
