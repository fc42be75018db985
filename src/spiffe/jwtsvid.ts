// JWT-SVIDs (go-spiffe svid/jwtsvid; shared/spec/jwt-svid.md). Tokens are
// signed through a Signer (a key manager key, which may never leave a KMS)
// and checked with node:crypto; the SPIFFE rules around them are applied
// here, in go-spiffe's order, each with its own error code.
import type { ErrorCodeSuffix } from '../common/error-registry.ts';
import { constants as cryptoConstants, createPublicKey, sign as cryptoSign, verify as verifyRaw, type KeyObject } from 'node:crypto';
import { ecdsaDerToJose, keyObjectSigner, type SignatureHash, type Signer } from './signer.ts';
import type { JwtBundleSource } from './bundle/jwt-bundle.ts';
import { JwtSvidError } from './errors.ts';
import { SpiffeId } from './id.ts';

/** The signature algorithms a JWT-SVID may use; anything else is rejected first. */
export const ALLOWED_ALGS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'] as const;
export type JwtAlg = (typeof ALLOWED_ALGS)[number];
const allowed = new Set<string>(ALLOWED_ALGS);

/** go-jose's default clock-skew allowance, used by go-spiffe and SPIRE. */
export const DEFAULT_LEEWAY_MS = 60_000;

export interface JwtSvid {
  readonly id: SpiffeId;
  readonly audience: readonly string[];
  readonly expiry: Date;
  readonly claims: Readonly<Record<string, unknown>>;
  readonly token: string;
  readonly hint?: string;
}

export interface SignJwtSvidOptions {
  id: SpiffeId;
  audience: readonly string[];
  /** Absolute expiry (ms since epoch). */
  expiresAt: number;
  /** The signing key: a private key, or a signer (its public key picks the algorithm). */
  key: KeyObject | Signer;
  kid: string;
  /** Defaults from the key: ES256 (P-256), ES384 (P-384), ES512 (P-521), RS256 (RSA). */
  alg?: JwtAlg;
  issuer?: string;
  /** ms since epoch, for `iat`. */
  now: number;
  extraClaims?: Record<string, unknown>;
}

export function algForKey(key: KeyObject): JwtAlg {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1' || curve === 'P-256') return 'ES256';
    if (curve === 'secp384r1' || curve === 'P-384') return 'ES384';
    if (curve === 'secp521r1' || curve === 'P-521') return 'ES512';
  }
  throw new TypeError(`jwtsvid: no JWT-SVID algorithm for key type ${String(key.asymmetricKeyType)}`);
}

/** The audience without empty entries; refuses an empty audience and a trust domain ID as subject. */
export function checkSignRequest(id: SpiffeId, audience: readonly string[]): string[] {
  const list = audience.filter((a) => a !== '');
  if (list.length === 0) throw new JwtSvidError('ERR_JWT_SVID_AUDIENCE_REQUIRED', 'jwtsvid: audience is required');
  if (id.isTrustDomainId()) throw new JwtSvidError('ERR_JWT_SVID_INVALID_SUBJECT', 'jwtsvid: subject must have a path');
  return list;
}

/** Signs a JWT-SVID: header {alg, kid, typ: JWT}; `aud` always an array. */
export async function sign(opts: SignJwtSvidOptions): Promise<string> {
  const audience = checkSignRequest(opts.id, opts.audience);
  const claims: Record<string, unknown> = {
    ...opts.extraClaims,
    sub: opts.id.toString(),
    aud: audience,
    exp: Math.floor(opts.expiresAt / 1000),
    iat: Math.floor(opts.now / 1000),
  };
  if (opts.issuer) claims.iss = opts.issuer;
  const isSigner = 'sign' in opts.key && typeof opts.key.sign === 'function';
  if (!isSigner && opts.alg?.startsWith('PS')) return signClaims({ claims, signer: pssSigner(opts.key as KeyObject), kid: opts.kid, alg: opts.alg, pss: true });
  const signer = isSigner ? (opts.key as Signer) : keyObjectSigner(opts.key as KeyObject);
  return signClaims({ claims, signer, kid: opts.kid, ...(opts.alg ? { alg: opts.alg } : {}) });
}

/** RSASSA-PSS with a digest-length salt (RFC 7518 PS256/384/512), for a private key held here. */
function pssSigner(key: KeyObject): Signer {
  return {
    publicKey: createPublicKey(key),
    sign: async (data, hash) => cryptoSign(hash, data, { key, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: cryptoConstants.RSA_PSS_SALTLEN_DIGEST }),
  };
}

const JWS_HASH: Partial<Record<JwtAlg, { hash: SignatureHash; ecSize?: number }>> = {
  ES256: { hash: 'sha256', ecSize: 32 },
  ES384: { hash: 'sha384', ecSize: 48 },
  ES512: { hash: 'sha512', ecSize: 66 },
  RS256: { hash: 'sha256' },
  RS384: { hash: 'sha384' },
  RS512: { hash: 'sha512' },
  PS256: { hash: 'sha256' },
  PS384: { hash: 'sha384' },
  PS512: { hash: 'sha512' },
};

/**
 * A compact JWS over `claims` made with `signer` (header {alg, kid, typ:
 * JWT}); the claims are serialised as given. ECDSA signatures become
 * JOSE's r‖s; RSA is PKCS#1 v1.5.
 */
export async function signClaims(opts: { claims: Record<string, unknown>; signer: Signer; kid: string; alg?: JwtAlg; pss?: boolean }): Promise<string> {
  const alg = opts.alg ?? algForKey(opts.signer.publicKey);
  const how = JWS_HASH[alg];
  // A Signer's RSA signatures are PKCS#1 v1.5: PS* only with a PSS signer.
  if (!how || alg.startsWith('PS') !== (opts.pss === true)) throw new TypeError(`jwtsvid: cannot sign ${alg} through this signer`);
  const b64 = (b: Buffer): string => b.toString('base64url');
  const input = `${b64(Buffer.from(JSON.stringify({ alg, kid: opts.kid, typ: 'JWT' })))}.${b64(Buffer.from(JSON.stringify(opts.claims)))}`;
  let signature = await opts.signer.sign(Buffer.from(input), how.hash);
  if (how.ecSize !== undefined) signature = ecdsaDerToJose(signature, how.ecSize);
  return `${input}.${b64(signature)}`;
}

export interface ValidateOptions {
  /** ms since epoch; defaults to Date.now() only at the API edge — pass the clock's now. */
  now: number;
  leewayMs?: number;
}

interface Decoded {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

function fail(code: ErrorCodeSuffix<'ERR_JWT_SVID_'>, message: string, cause?: unknown): never {
  throw new JwtSvidError(`ERR_JWT_SVID_${code}`, `jwtsvid: ${message}`, cause === undefined ? {} : { cause });
}

const HASH_OF: Readonly<Record<string, string>> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };
const CURVE_OF: Readonly<Record<string, string>> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };
const ES_SIG_BYTES: Readonly<Record<string, number>> = { ES256: 64, ES384: 96, ES512: 132 };

/**
 * The JWS signature, checked with node:crypto directly (a synchronous
 * one-shot verify: several times cheaper than going through WebCrypto,
 * which matters on the ext_authz path). The key must be of the algorithm's
 * type (and curve); critical header parameters are not supported.
 */
function verifySignature(token: string, header: Record<string, unknown>, key: KeyObject): void {
  const alg = header.alg as JwtAlg;
  if (header.crit !== undefined) fail('INVALID_SIGNATURE', 'unable to verify token signature: critical header parameters are not supported');
  const dot = token.lastIndexOf('.');
  const input = Buffer.from(token.slice(0, dot));
  const sig = Buffer.from(token.slice(dot + 1), 'base64url');
  const hash = HASH_OF[alg.slice(2)]!;
  const type = key.asymmetricKeyType;
  let ok: boolean;
  try {
    if (alg.startsWith('ES')) {
      if (type !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== CURVE_OF[alg]) fail('INVALID_SIGNATURE', `unable to verify token signature: ${alg} needs an EC ${CURVE_OF[alg]} key`);
      ok = sig.length === ES_SIG_BYTES[alg] && verifyRaw(hash, input, { key, dsaEncoding: 'ieee-p1363' }, sig);
    } else if (alg.startsWith('RS')) {
      if (type !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) fail('INVALID_SIGNATURE', `unable to verify token signature: ${alg} needs an RSA key of at least 2048 bits`);
      ok = verifyRaw(hash, input, key, sig);
    } else {
      if ((type !== 'rsa' && type !== 'rsa-pss') || (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) fail('INVALID_SIGNATURE', `unable to verify token signature: ${alg} needs an RSA key of at least 2048 bits`);
      ok = verifyRaw(hash, input, { key, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: cryptoConstants.RSA_PSS_SALTLEN_DIGEST }, sig);
    }
  } catch (err) {
    if (err instanceof JwtSvidError) throw err;
    fail('INVALID_SIGNATURE', `unable to verify token signature: ${(err as Error).message}`, err);
  }
  if (!ok) fail('INVALID_SIGNATURE', 'unable to verify token signature: signature verification failed');
}

/** Splits and decodes a compact JWS; rejects other serialisations. */
function decode(token: string): Decoded {
  if (typeof token !== 'string' || token === '') fail('PARSE', 'unable to parse JWT token: token is empty');
  if (token.trimStart().startsWith('{')) fail('PARSE', 'unable to parse JWT token: JWS JSON serialization is not allowed');
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) {
    fail('PARSE', 'unable to parse JWT token: compact JWS format must have three base64url parts');
  }
  let header: unknown;
  let claims: unknown;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
  } catch (err) {
    fail('PARSE', 'unable to parse JWT token: invalid header', err);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('PARSE', 'unable to parse JWT token: invalid header');
  const alg = (header as Record<string, unknown>).alg;
  // The allow-list is checked before anything else is looked at.
  if (typeof alg !== 'string' || !allowed.has(alg)) {
    fail('UNSUPPORTED_ALGORITHM', `unable to parse JWT token: unexpected signature algorithm ${JSON.stringify(alg)}; expected one of ${ALLOWED_ALGS.join(', ')}`);
  }
  if (parts[2] === '') fail('PARSE', 'unable to parse JWT token: missing signature');
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch (err) {
    fail('PARSE', 'unable to parse JWT token: invalid claims', err);
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) fail('PARSE', 'unable to parse JWT token: invalid claims');
  return { header: header as Record<string, unknown>, claims: claims as Record<string, unknown> };
}

function checkHeaderAndSubject(d: Decoded): { id: SpiffeId; kid: string } {
  const typ = d.header.typ;
  if (typ !== undefined && typ !== 'JWT' && typ !== 'JOSE') fail('INVALID_TYPE', 'token header type not equal to either JWT or JOSE');
  if (d.claims.sub === undefined) fail('MISSING_SUBJECT', 'token missing subject claim');
  if (d.claims.exp === undefined) fail('MISSING_EXPIRY', 'token missing exp claim');
  let id: SpiffeId;
  try {
    id = SpiffeId.fromString(String(d.claims.sub));
  } catch (err) {
    return fail('INVALID_SUBJECT', `token has an invalid subject claim: ${(err as Error).message}`, err);
  }
  if (id.isTrustDomainId()) fail('INVALID_SUBJECT', 'token has an invalid subject claim: subject must have a path');
  const kid = d.header.kid;
  if (typeof kid !== 'string' || kid === '') fail('MISSING_KEY_ID', 'token header missing key id');
  return { id, kid };
}

function audienceOf(claims: Record<string, unknown>): string[] {
  const aud = claims.aud;
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud) && aud.every((a) => typeof a === 'string')) return aud as string[];
  return [];
}

function checkClaims(claims: Record<string, unknown>, expectedAudience: readonly string[], opts: ValidateOptions): { audience: string[]; expiry: Date } {
  const leeway = opts.leewayMs ?? DEFAULT_LEEWAY_MS;
  const audience = audienceOf(claims);
  if (audience.length === 0) fail('MISSING_AUDIENCE', 'token missing aud claim');
  if (expectedAudience.length > 0 && !expectedAudience.some((a) => audience.includes(a))) {
    fail('AUDIENCE_MISMATCH', `expected audience in ${JSON.stringify(expectedAudience)} (audience=${JSON.stringify(audience)})`);
  }
  const exp = claims.exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) fail('INVALID_EXPIRY', 'token has an invalid exp claim');
  if (opts.now - leeway > exp * 1000) fail('EXPIRED', 'token has expired');
  const nbf = claims.nbf;
  if (nbf !== undefined && (typeof nbf !== 'number' || opts.now + leeway < nbf * 1000)) fail('NOT_YET_VALID', 'token is not valid yet');
  const iat = claims.iat;
  if (iat !== undefined && (typeof iat !== 'number' || opts.now + leeway < iat * 1000)) fail('ISSUED_IN_FUTURE', 'token issued in the future');
  return { audience, expiry: new Date(exp * 1000) };
}

/**
 * Validates a JWT-SVID against the JWT bundle of its subject's trust domain
 * (go-spiffe ParseAndValidate): algorithm, type, subject, key ID, signature,
 * then audience (any of `expectedAudience`), expiry, nbf and iat with leeway.
 */
export async function parseAndValidate(token: string, bundles: JwtBundleSource, expectedAudience: readonly string[], opts: ValidateOptions): Promise<JwtSvid> {
  const d = decode(token);
  const { id, kid } = checkHeaderAndSubject(d);
  const bundle = bundles.getJwtBundleForTrustDomain(id.trustDomain);
  if (!bundle) fail('NO_BUNDLE', `no bundle found for trust domain "${id.trustDomain.name}"`);
  const key = bundle.findAuthority(kid);
  if (!key) fail('UNKNOWN_KEY_ID', `no JWT authority "${kid}" found for trust domain "${id.trustDomain.name}"`);
  verifySignature(token, d.header, key);
  const { audience, expiry } = checkClaims(d.claims, expectedAudience, opts);
  return { id, audience, expiry, claims: d.claims, token };
}

/** Parses without checking the signature (go-spiffe ParseInsecure): for tokens just fetched from a trusted agent. */
export function parseInsecure(token: string, expectedAudience: readonly string[], opts: ValidateOptions): JwtSvid {
  const d = decode(token);
  const { id } = checkHeaderAndSubject(d);
  const { audience, expiry } = checkClaims(d.claims, expectedAudience, opts);
  return { id, audience, expiry, claims: d.claims, token };
}
