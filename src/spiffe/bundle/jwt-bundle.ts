// JWT bundle: the JWT signing keys (by key ID) of one trust domain
// (go-spiffe bundle/jwtbundle). Parses any JWKS whose keys all have a `kid`
// (the Workload API shape, without `use`, or the SPIFFE bundle shape with it,
// in which case only `use: jwt-svid` keys are taken).
import type { KeyObject } from 'node:crypto';
import { BundleError } from '../errors.ts';
import type { TrustDomain } from '../trust-domain.ts';
import { jwkToPublicKey, publicKeyToJwk, samePublicKey } from './jwk.ts';

export interface JwtBundleSource {
  getJwtBundleForTrustDomain(td: TrustDomain): JwtBundle | undefined;
}

export class JwtBundle implements JwtBundleSource {
  readonly trustDomain: TrustDomain;
  readonly jwtAuthorities: ReadonlyMap<string, KeyObject>;

  constructor(trustDomain: TrustDomain, authorities: ReadonlyMap<string, KeyObject> = new Map()) {
    this.trustDomain = trustDomain;
    this.jwtAuthorities = new Map(authorities);
  }

  static parse(td: TrustDomain, json: string | Uint8Array): JwtBundle {
    let doc: unknown;
    try {
      doc = JSON.parse(typeof json === 'string' ? json : Buffer.from(json).toString('utf8'));
    } catch (err) {
      throw new BundleError('ERR_BUNDLE_JWT_PARSE', `jwtbundle: unable to parse JWKS: ${(err as Error).message}`, { cause: err });
    }
    const keys = (doc as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys)) throw new BundleError('ERR_BUNDLE_JWT_PARSE', 'jwtbundle: unable to parse JWKS: no "keys" array');
    const authorities = new Map<string, KeyObject>();
    keys.forEach((k: Record<string, unknown>, i) => {
      if (k?.use !== undefined && k.use !== 'jwt-svid') return;
      if (typeof k?.kid !== 'string' || k.kid === '') {
        throw new BundleError('ERR_BUNDLE_JWT_MISSING_KID', `jwtbundle: error adding authority ${i} of JWKS: keyID cannot be empty`);
      }
      if (authorities.has(k.kid)) throw new BundleError('ERR_BUNDLE_JWT_DUPLICATE_KID', `jwtbundle: duplicate key ID ${JSON.stringify(k.kid)}`);
      try {
        authorities.set(k.kid, jwkToPublicKey(k));
      } catch (err) {
        throw new BundleError('ERR_BUNDLE_JWT_PARSE', `jwtbundle: key ${JSON.stringify(k.kid)}: ${(err as Error).message}`, { cause: err });
      }
    });
    return new JwtBundle(td, authorities);
  }

  /** Standard JWKS without `use` (what the Workload API's JWTBundlesResponse carries). */
  marshal(): string {
    return JSON.stringify({ keys: [...this.jwtAuthorities].map(([kid, key]) => ({ ...publicKeyToJwk(key), kid })) });
  }

  findAuthority(kid: string): KeyObject | undefined {
    return this.jwtAuthorities.get(kid);
  }

  equal(other: JwtBundle): boolean {
    return this.trustDomain.equals(other.trustDomain) && sameAuthorities(this.jwtAuthorities, other.jwtAuthorities);
  }

  getJwtBundleForTrustDomain(td: TrustDomain): JwtBundle | undefined {
    return td.equals(this.trustDomain) ? this : undefined;
  }
}

export function sameAuthorities(a: ReadonlyMap<string, KeyObject>, b: ReadonlyMap<string, KeyObject>): boolean {
  if (a.size !== b.size) return false;
  for (const [kid, key] of a) {
    const other = b.get(kid);
    if (!other || !samePublicKey(key, other)) return false;
  }
  return true;
}
