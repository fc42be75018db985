// Signs X509-SVIDs and JWT-SVIDs with whatever the CA manager has active
// (SPIRE pkg/server/ca/ca.go). TTLs: the requested one, else the server's
// default; an X509-SVID never outlives its CA.
import type { KeyObject, X509Certificate } from 'node:crypto';
import type { Clock } from '../../common/clock.ts';
import type { SpiffeId } from '../../spiffe/id.ts';
import { sign as signJwt } from '../../spiffe/jwtsvid.ts';
import { signX509Svid } from '../../spiffe/x509-template.ts';
import type { CaManager } from './manager.ts';

export interface IssuerConfig {
  defaultX509SvidTtlMs: number;
  defaultJwtSvidTtlMs: number;
  jwtIssuer: string | undefined;
}

export interface IssuedX509Svid {
  /** Leaf first, then the CA and upstream intermediates (never the root). */
  chain: X509Certificate[];
  expiresAt: number;
}

export interface IssuedJwtSvid {
  token: string;
  issuedAt: number;
  expiresAt: number;
}

export class SvidIssuer {
  readonly #ca: CaManager;
  readonly #clock: Clock;
  readonly #cfg: IssuerConfig;

  constructor(ca: CaManager, clock: Clock, cfg: IssuerConfig) {
    this.#ca = ca;
    this.#clock = clock;
    this.#cfg = cfg;
  }

  async signX509Svid(args: { id: SpiffeId; publicKey: KeyObject; ttlSeconds?: number; dnsNames?: readonly string[] }): Promise<IssuedX509Svid> {
    const ca = this.#ca.currentX509Ca();
    const ttlMs = args.ttlSeconds ? args.ttlSeconds * 1000 : this.#cfg.defaultX509SvidTtlMs;
    const leaf = await signX509Svid({
      ca,
      publicKey: args.publicKey,
      id: args.id,
      now: this.#clock.now(),
      ttlMs,
      ...(args.dnsNames ? { dnsNames: args.dnsNames } : {}),
    });
    // A self-signed CA is in every verifier's bundle; an intermediate (under
    // an upstream authority) must travel with the leaf.
    const chain = ca.upstreamChain.length > 0 ? [leaf, ca.certificate, ...intermediates(ca.upstreamChain)] : [leaf];
    return { chain, expiresAt: Date.parse(leaf.validTo) };
  }

  async signJwtSvid(args: { id: SpiffeId; audience: readonly string[]; ttlSeconds?: number }): Promise<IssuedJwtSvid> {
    const key = this.#ca.currentJwtKey();
    const now = this.#clock.now();
    const ttlMs = args.ttlSeconds ? args.ttlSeconds * 1000 : this.#cfg.defaultJwtSvidTtlMs;
    const expiresAt = Math.min(now + ttlMs, key.notAfter);
    const token = await signJwt({
      id: args.id,
      audience: args.audience,
      expiresAt,
      key: key.privateKey,
      kid: key.kid,
      now,
      ...(this.#cfg.jwtIssuer ? { issuer: this.#cfg.jwtIssuer } : {}),
    });
    return { token, issuedAt: Math.floor(now / 1000) * 1000, expiresAt: Math.floor(expiresAt / 1000) * 1000 };
  }
}

function isSelfSigned(cert: X509Certificate): boolean {
  return cert.issuer === cert.subject && cert.checkIssued(cert);
}

/** The upstream chain minus its self-signed root, which verifiers hold already. */
function intermediates(chain: readonly X509Certificate[]): X509Certificate[] {
  return chain.filter((c) => !isSelfSigned(c));
}
