// JWT-SVID validation (shared/spec/jwt-svid.md §5): every rejection in the
// digest's negative list, in go-spiffe's order and wording, with time pinned.
import { createHmac, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { JwtBundle } from '../../src/spiffe/bundle/jwt-bundle.ts';
import { BundleSet } from '../../src/spiffe/bundle/set.ts';
import { SpiffeBundle } from '../../src/spiffe/bundle/spiffe-bundle.ts';
import { JwtSvidError } from '../../src/spiffe/errors.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { parseAndValidate, parseInsecure, sign } from '../../src/spiffe/jwtsvid.ts';
import { generateKeyPair } from '../../src/spiffe/keys.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
const td = TrustDomain.fromString('example.org');
const other = TrustDomain.fromString('other.org');
const web = SpiffeId.fromString('spiffe://example.org/web');
let es256: { privateKey: KeyObject; publicKey: KeyObject };
let otherKey: { privateKey: KeyObject; publicKey: KeyObject };
let bundles: BundleSet;

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
function rawToken(header: object, claims: object, key?: KeyObject): string {
  const input = `${b64(header)}.${b64(claims)}`;
  if (!key) return `${input}.`;
  return `${input}.${cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}
const claims = (over: object = {}) => ({ sub: web.toString(), aud: ['db'], exp: Math.floor(NOW / 1000) + 300, iat: Math.floor(NOW / 1000), ...over });

beforeAll(() => {
  es256 = generateKeyPair('ec-p256');
  otherKey = generateKeyPair('ec-p256');
  bundles = new BundleSet([
    new SpiffeBundle(td, { jwtAuthorities: new Map([['kid-1', es256.publicKey]]) }),
    new SpiffeBundle(other, { jwtAuthorities: new Map([['kid-other', otherKey.publicKey]]) }),
  ]);
});

async function rejection(token: string, audience = ['db'], now = NOW): Promise<JwtSvidError> {
  try {
    await parseAndValidate(token, bundles, audience, { now });
  } catch (err) {
    if (err instanceof JwtSvidError) return err;
    throw err;
  }
  throw new Error('expected a JwtSvidError');
}

describe('sign + parseAndValidate', () => {
  it.each(['ec-p256', 'ec-p384', 'rsa-2048'] as const)('round-trips with %s', async (type) => {
    const k = generateKeyPair(type);
    const set = new BundleSet([new SpiffeBundle(td, { jwtAuthorities: new Map([['k', k.publicKey]]) })]);
    const token = await sign({ id: web, audience: ['db'], expiresAt: NOW + 300_000, key: k.privateKey, kid: 'k', now: NOW });
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString());
    expect(header).toEqual({ alg: { 'ec-p256': 'ES256', 'ec-p384': 'ES384', 'rsa-2048': 'RS256' }[type], kid: 'k', typ: 'JWT' });
    const svid = await parseAndValidate(token, set, ['db'], { now: NOW });
    expect(svid.id.equals(web)).toBe(true);
    expect(svid.audience).toEqual(['db']);
    expect(svid.expiry.getTime()).toBe(NOW + 300_000);
    // aud is always an array, even for one audience (py-spiffe iterates it).
    expect(Array.isArray(svid.claims.aud)).toBe(true);
  });

  it('accepts PS256', async () => {
    const k = generateKeyPair('rsa-2048');
    const set = new BundleSet([new SpiffeBundle(td, { jwtAuthorities: new Map([['k', k.publicKey]]) })]);
    const token = await sign({ id: web, audience: ['db'], expiresAt: NOW + 300_000, key: k.privateKey, kid: 'k', alg: 'PS256', now: NOW });
    expect((await parseAndValidate(token, set, ['db'], { now: NOW })).id.toString()).toBe(web.toString());
  });

  it('accepts a token expired within the 60 s leeway and rejects one beyond it', async () => {
    const token = await sign({ id: web, audience: ['db'], expiresAt: NOW, key: es256.privateKey, kid: 'kid-1', now: NOW - 300_000 });
    await expect(parseAndValidate(token, bundles, ['db'], { now: NOW + 59_000 })).resolves.toBeDefined();
    expect((await rejection(token, ['db'], NOW + 61_000)).code).toBe('ERR_JWT_SVID_EXPIRED');
  });

  it('parseInsecure reads a token without its signature', async () => {
    const token = await sign({ id: web, audience: ['db'], expiresAt: NOW + 300_000, key: otherKey.privateKey, kid: 'nope', now: NOW });
    expect(parseInsecure(token, ['db'], { now: NOW }).id.toString()).toBe(web.toString());
  });
});

describe('rejections', () => {
  const cases: [string, () => Promise<string>, string, string, string[]?][] = [
    ['alg none', async () => rawToken({ alg: 'none', kid: 'kid-1' }, claims()), 'ERR_JWT_SVID_UNSUPPORTED_ALGORITHM', 'unable to parse JWT token: unexpected signature algorithm "none"; expected one of RS256, RS384, RS512, ES256, ES384, ES512, PS256, PS384, PS512'],
    ['HS256 signed with the public key as secret', async () => {
      const input = `${b64({ alg: 'HS256', kid: 'kid-1', typ: 'JWT' })}.${b64(claims())}`;
      const secret = es256.publicKey.export({ format: 'pem', type: 'spki' });
      return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
    }, 'ERR_JWT_SVID_UNSUPPORTED_ALGORITHM', 'unable to parse JWT token: unexpected signature algorithm "HS256"; expected one of RS256, RS384, RS512, ES256, ES384, ES512, PS256, PS384, PS512'],
    ['EdDSA', async () => rawToken({ alg: 'EdDSA', kid: 'kid-1' }, claims(), es256.privateKey), 'ERR_JWT_SVID_UNSUPPORTED_ALGORITHM', 'unable to parse JWT token: unexpected signature algorithm "EdDSA"; expected one of RS256, RS384, RS512, ES256, ES384, ES512, PS256, PS384, PS512'],
    ['missing kid', async () => rawToken({ alg: 'ES256' }, claims(), es256.privateKey), 'ERR_JWT_SVID_MISSING_KEY_ID', 'token header missing key id'],
    ['unknown kid', async () => rawToken({ alg: 'ES256', kid: 'kid-x' }, claims(), es256.privateKey), 'ERR_JWT_SVID_UNKNOWN_KEY_ID', 'no JWT authority "kid-x" found for trust domain "example.org"'],
    ['kid of another trust domain', async () => rawToken({ alg: 'ES256', kid: 'kid-other' }, claims(), otherKey.privateKey), 'ERR_JWT_SVID_UNKNOWN_KEY_ID', 'no JWT authority "kid-other" found for trust domain "example.org"'],
    ['no bundle for the subject\'s trust domain', async () => rawToken({ alg: 'ES256', kid: 'kid-1' }, claims({ sub: 'spiffe://nobody.org/x' }), es256.privateKey), 'ERR_JWT_SVID_NO_BUNDLE', 'no bundle found for trust domain "nobody.org"'],
    ['typ at+jwt', async () => rawToken({ alg: 'ES256', kid: 'kid-1', typ: 'at+jwt' }, claims(), es256.privateKey), 'ERR_JWT_SVID_INVALID_TYPE', 'token header type not equal to either JWT or JOSE'],
    ['missing aud', async () => rawToken({ alg: 'ES256', kid: 'kid-1' }, claims({ aud: undefined }), es256.privateKey), 'ERR_JWT_SVID_MISSING_AUDIENCE', 'token missing aud claim'],
    ['aud mismatch', async () => rawToken({ alg: 'ES256', kid: 'kid-1' }, claims({ aud: ['other'] }), es256.privateKey), 'ERR_JWT_SVID_AUDIENCE_MISMATCH', 'expected audience in ["db"] (audience=["other"])'],
    ['missing exp', async () => rawToken({ alg: 'ES256', kid: 'kid-1' }, claims({ exp: undefined }), es256.privateKey), 'ERR_JWT_SVID_MISSING_EXPIRY', 'token missing exp claim'],
    ['missing sub', async () => rawToken({ alg: 'ES256', kid: 'kid-1' }, claims({ sub: undefined }), es256.privateKey), 'ERR_JWT_SVID_MISSING_SUBJECT', 'token missing subject claim'],
    ['expired beyond leeway', async () => rawToken({ alg: 'ES256', kid: 'kid-1' }, claims({ exp: Math.floor(NOW / 1000) - 61 }), es256.privateKey), 'ERR_JWT_SVID_EXPIRED', 'token has expired'],
    ['sub with trailing slash', async () => rawToken({ alg: 'ES256', kid: 'kid-1' }, claims({ sub: 'spiffe://example.org/' }), es256.privateKey), 'ERR_JWT_SVID_INVALID_SUBJECT', 'token has an invalid subject claim: spiffeid: path cannot have a trailing slash'],
    ['sub not a SPIFFE ID', async () => rawToken({ alg: 'ES256', kid: 'kid-1' }, claims({ sub: 'https://x' }), es256.privateKey), 'ERR_JWT_SVID_INVALID_SUBJECT', 'token has an invalid subject claim: spiffeid: scheme is missing or invalid'],
    ['RS256 header over an EC key', async () => rawToken({ alg: 'RS256', kid: 'kid-1' }, claims(), es256.privateKey), 'ERR_JWT_SVID_INVALID_SIGNATURE', 'unable to verify token signature: RS256 needs an RSA key of at least 2048 bits'],
    ['ES384 header over a P-256 key', async () => rawToken({ alg: 'ES384', kid: 'kid-1' }, claims(), es256.privateKey), 'ERR_JWT_SVID_INVALID_SIGNATURE', 'unable to verify token signature: ES384 needs an EC secp384r1 key'],
    ['a critical header parameter', async () => rawToken({ alg: 'ES256', kid: 'kid-1', crit: ['b64'], b64: false }, claims(), es256.privateKey), 'ERR_JWT_SVID_INVALID_SIGNATURE', 'unable to verify token signature: critical header parameters are not supported'],
    ['a DER (not raw r||s) ECDSA signature', async () => {
      const input = `${b64({ alg: 'ES256', kid: 'kid-1' })}.${b64(claims())}`;
      return `${input}.${cryptoSign('sha256', Buffer.from(input), es256.privateKey).toString('base64url')}`;
    }, 'ERR_JWT_SVID_INVALID_SIGNATURE', 'unable to verify token signature: signature verification failed'],
    ['tampered signature', async () => {
      const t = await sign({ id: web, audience: ['db'], expiresAt: NOW + 300_000, key: es256.privateKey, kid: 'kid-1', now: NOW });
      const [h, , s] = t.split('.');
      return `${h}.${b64(claims({ sub: 'spiffe://example.org/admin' }))}.${s}`;
    }, 'ERR_JWT_SVID_INVALID_SIGNATURE', ''],
    ['JWS JSON serialization', async () => JSON.stringify({ payload: b64(claims()), protected: b64({ alg: 'ES256' }), signature: 'x' }), 'ERR_JWT_SVID_PARSE', 'unable to parse JWT token: JWS JSON serialization is not allowed'],
    ['two dots, no signature', async () => rawToken({ alg: 'ES256', kid: 'kid-1' }, claims()), 'ERR_JWT_SVID_PARSE', 'unable to parse JWT token: missing signature'],
    ['garbage', async () => 'not-a-token', 'ERR_JWT_SVID_PARSE', 'unable to parse JWT token: compact JWS format must have three base64url parts'],
    ['empty', async () => '', 'ERR_JWT_SVID_PARSE', 'unable to parse JWT token: token is empty'],
  ];

  it.each(cases)('%s', async (_name, make, code, message) => {
    const err = await rejection(await make());
    expect(err.code).toBe(code);
    if (message) expect(err.message).toBe(`jwtsvid: ${message}`);
  });

  it('a valid token from another trust domain validates against that domain\'s keys', async () => {
    const token = await sign({ id: SpiffeId.fromString('spiffe://other.org/api'), audience: ['db'], expiresAt: NOW + 300_000, key: otherKey.privateKey, kid: 'kid-other', now: NOW });
    expect((await parseAndValidate(token, bundles, ['db'], { now: NOW })).id.trustDomain.name).toBe('other.org');
  });

  it('the JWT bundle alone (Workload API shape) is a valid source', async () => {
    const token = await sign({ id: web, audience: ['db'], expiresAt: NOW + 300_000, key: es256.privateKey, kid: 'kid-1', now: NOW });
    const jwks = new JwtBundle(td, new Map([['kid-1', es256.publicKey]])).marshal();
    expect(JSON.parse(jwks).keys[0].use).toBeUndefined();
    expect((await parseAndValidate(token, JwtBundle.parse(td, jwks), ['db'], { now: NOW })).id.equals(web)).toBe(true);
  });
});
