// SPIFFE bundle: a trust domain's X.509 and JWT authorities plus sequence
// number and refresh hint, in the SPIFFE bundle (JWKS) format
// (go-spiffe bundle/spiffebundle; shared/spec/bundle-and-federation.md §2).
import { X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { BundleError } from '../errors.ts';
import type { TrustDomain } from '../trust-domain.ts';
import { strictCertificate } from './der.ts';
import { jwkToPublicKey, publicKeyToJwk } from './jwk.ts';
import { JwtBundle, sameAuthorities, type JwtBundleSource } from './jwt-bundle.ts';
import { X509Bundle, sameCertificates, type X509BundleSource } from './x509-bundle.ts';

export interface BundleSource {
  getBundleForTrustDomain(td: TrustDomain): SpiffeBundle | undefined;
}

export interface SpiffeBundleInit {
  x509Authorities?: readonly X509Certificate[];
  jwtAuthorities?: ReadonlyMap<string, KeyObject>;
  refreshHintSeconds?: number;
  sequenceNumber?: bigint;
}

export class SpiffeBundle implements BundleSource, X509BundleSource, JwtBundleSource {
  readonly trustDomain: TrustDomain;
  readonly x509Authorities: readonly X509Certificate[];
  readonly jwtAuthorities: ReadonlyMap<string, KeyObject>;
  readonly refreshHintSeconds: number | undefined;
  readonly sequenceNumber: bigint | undefined;
  /** Keys skipped while parsing (unknown `use`, unusable x509-svid entries), for logging. */
  readonly parseWarnings: readonly string[];

  constructor(trustDomain: TrustDomain, init: SpiffeBundleInit = {}, parseWarnings: readonly string[] = []) {
    this.trustDomain = trustDomain;
    this.x509Authorities = Object.freeze([...(init.x509Authorities ?? [])]);
    this.jwtAuthorities = new Map(init.jwtAuthorities ?? []);
    this.refreshHintSeconds = init.refreshHintSeconds;
    this.sequenceNumber = init.sequenceNumber;
    this.parseWarnings = Object.freeze([...parseWarnings]);
  }

  /** Parses SPIFFE bundle JSON; `spiffe_sequence` is read exactly (it may exceed 2^53). */
  static parse(td: TrustDomain, json: string | Uint8Array): SpiffeBundle {
    const text = typeof json === 'string' ? json : Buffer.from(json).toString('utf8');
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(text, (key, value, ctx?: { source?: string }) =>
        key === 'spiffe_sequence' && typeof value === 'number' && ctx?.source !== undefined ? BigInt(ctx.source) : value);
    } catch (err) {
      throw new BundleError('ERR_BUNDLE_PARSE', `spiffebundle: unable to parse bundle JSON: ${(err as Error).message}`, { cause: err });
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new BundleError('ERR_BUNDLE_PARSE', 'spiffebundle: bundle must be a JSON object');
    if (!Array.isArray(doc.keys)) throw new BundleError('ERR_BUNDLE_NO_AUTHORITIES', 'spiffebundle: no authorities found');
    const seq = doc.spiffe_sequence;
    if (seq !== undefined && (typeof seq !== 'bigint' || seq < 0n)) throw new BundleError('ERR_BUNDLE_PARSE', 'spiffebundle: spiffe_sequence must be a non-negative integer');
    const hint = doc.spiffe_refresh_hint;
    if (hint !== undefined && (typeof hint !== 'number' || !Number.isInteger(hint) || hint < 0)) {
      throw new BundleError('ERR_BUNDLE_PARSE', 'spiffebundle: spiffe_refresh_hint must be a non-negative integer (seconds)');
    }
    const x509: X509Certificate[] = [];
    const jwt = new Map<string, KeyObject>();
    const warnings: string[] = [];
    doc.keys.forEach((k: Record<string, unknown>, i: number) => {
      if (typeof k !== 'object' || k === null) throw new BundleError('ERR_BUNDLE_PARSE', `spiffebundle: key entry ${i} is not an object`);
      if (k.kty !== 'EC' && k.kty !== 'RSA') {
        warnings.push(`key entry ${i}: unsupported kty ${JSON.stringify(k.kty)} ignored`);
        return;
      }
      if (k.use === 'x509-svid') {
        const x5c = k.x5c;
        if (!Array.isArray(x5c) || x5c.length === 0 || typeof x5c[0] !== 'string') {
          warnings.push(`key entry ${i}: x509-svid entry without x5c ignored`);
          return;
        }
        let cert: X509Certificate;
        let keyType: string | undefined;
        try {
          cert = strictCertificate(Buffer.from(x5c[0], 'base64'));
          keyType = cert.publicKey.asymmetricKeyType;
        } catch (err) {
          throw new BundleError('ERR_BUNDLE_PARSE', `spiffebundle: key entry ${i}: x5c[0] is not a DER certificate with a usable public key`, { cause: err });
        }
        // As go-jose: the certificate's key is the entry's key, so it must be of the entry's kty (and marshal back as one).
        if (keyType !== (k.kty === 'EC' ? 'ec' : 'rsa')) {
          throw new BundleError('ERR_BUNDLE_PARSE', `spiffebundle: key entry ${i}: x5c[0] has a ${String(keyType)} key, not ${k.kty}`);
        }
        x509.push(cert);
      } else if (k.use === 'jwt-svid') {
        if (typeof k.kid !== 'string' || k.kid === '') throw new BundleError('ERR_BUNDLE_JWT_MISSING_KID', `spiffebundle: missing key ID in jwt-svid entry ${i}`);
        if (jwt.has(k.kid)) throw new BundleError('ERR_BUNDLE_JWT_DUPLICATE_KID', `spiffebundle: duplicate key ID ${JSON.stringify(k.kid)}`);
        try {
          jwt.set(k.kid, jwkToPublicKey(k));
        } catch (err) {
          throw new BundleError('ERR_BUNDLE_PARSE', `spiffebundle: jwt-svid entry ${i}: ${(err as Error).message}`, { cause: err });
        }
      } else {
        // The standard says ignore; SPIRE rejects the whole bundle. We follow the standard.
        warnings.push(`key entry ${i}: unknown use ${JSON.stringify(k.use)} ignored`);
      }
    });
    const init: SpiffeBundleInit = { x509Authorities: x509, jwtAuthorities: jwt };
    if (typeof seq === 'bigint') init.sequenceNumber = seq;
    if (typeof hint === 'number') init.refreshHintSeconds = hint;
    return new SpiffeBundle(td, init, warnings);
  }

  static async load(td: TrustDomain, path: string): Promise<SpiffeBundle> {
    return SpiffeBundle.parse(td, await readFile(path));
  }

  static fromX509Bundle(b: X509Bundle): SpiffeBundle {
    return new SpiffeBundle(b.trustDomain, { x509Authorities: b.x509Authorities });
  }

  static fromJwtBundle(b: JwtBundle): SpiffeBundle {
    return new SpiffeBundle(b.trustDomain, { jwtAuthorities: b.jwtAuthorities });
  }

  /** SPIFFE bundle JSON. */
  marshal(): string {
    const keys: Record<string, unknown>[] = [];
    for (const cert of this.x509Authorities) {
      keys.push({ use: 'x509-svid', ...publicKeyToJwk(cert.publicKey), x5c: [cert.raw.toString('base64')] });
    }
    for (const [kid, key] of this.jwtAuthorities) keys.push({ use: 'jwt-svid', ...publicKeyToJwk(key), kid });
    const head: string[] = [];
    if (this.sequenceNumber !== undefined) head.push(`"spiffe_sequence":${this.sequenceNumber.toString()}`);
    if (this.refreshHintSeconds !== undefined) head.push(`"spiffe_refresh_hint":${this.refreshHintSeconds}`);
    return `{${[...head, `"keys":${JSON.stringify(keys)}`].join(',')}}`;
  }

  toX509Bundle(): X509Bundle {
    return new X509Bundle(this.trustDomain, this.x509Authorities);
  }

  toJwtBundle(): JwtBundle {
    return new JwtBundle(this.trustDomain, this.jwtAuthorities);
  }

  /** Same contents (keys, hint, sequence), to skip no-op refreshes; `sequenceNumber: false` leaves the sequence numbers out (a store's own numbering). */
  equal(other: SpiffeBundle, compare: { sequenceNumber?: boolean } = {}): boolean {
    return (
      this.trustDomain.equals(other.trustDomain) &&
      this.refreshHintSeconds === other.refreshHintSeconds &&
      (compare.sequenceNumber === false || this.sequenceNumber === other.sequenceNumber) &&
      sameCertificates(this.x509Authorities, other.x509Authorities) &&
      sameAuthorities(this.jwtAuthorities, other.jwtAuthorities)
    );
  }

  getBundleForTrustDomain(td: TrustDomain): SpiffeBundle | undefined {
    return td.equals(this.trustDomain) ? this : undefined;
  }

  getX509BundleForTrustDomain(td: TrustDomain): X509Bundle | undefined {
    return td.equals(this.trustDomain) ? this.toX509Bundle() : undefined;
  }

  getJwtBundleForTrustDomain(td: TrustDomain): JwtBundle | undefined {
    return td.equals(this.trustDomain) ? this.toJwtBundle() : undefined;
  }
}
