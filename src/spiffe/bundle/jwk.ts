// Public keys as JWKs (RFC 7517) for JWT authorities and the x509-svid
// entries of SPIFFE bundles. Only EC (P-256/384/521) and RSA are accepted.
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';

export function publicKeyToJwk(key: KeyObject): JsonWebKey {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty === 'EC') return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
  if (jwk.kty === 'RSA') return { kty: 'RSA', n: jwk.n, e: jwk.e };
  throw new TypeError(`unsupported key type ${String(jwk.kty)}`);
}

/** Imports the public part of a JWK; throws with a reason on anything else. */
export function jwkToPublicKey(jwk: Record<string, unknown>): KeyObject {
  if (jwk.kty === 'EC') {
    if (!['P-256', 'P-384', 'P-521'].includes(jwk.crv as string)) throw new Error(`unsupported EC curve ${JSON.stringify(jwk.crv)}`);
    return createPublicKey({ key: { kty: 'EC', crv: jwk.crv as string, x: jwk.x as string, y: jwk.y as string }, format: 'jwk' });
  }
  if (jwk.kty === 'RSA') {
    return createPublicKey({ key: { kty: 'RSA', n: jwk.n as string, e: jwk.e as string }, format: 'jwk' });
  }
  throw new Error(`unsupported key type ${JSON.stringify(jwk.kty)}`);
}

export function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  return a.export({ format: 'der', type: 'spki' }).equals(b.export({ format: 'der', type: 'spki' }));
}
