// Signs X509-SVIDs and JWT-SVIDs with whatever the CA manager has active
// (SPIRE pkg/server/ca/ca.go). TTLs: the requested one, else the server's
// default; an X509-SVID never outlives its CA.
import type { X509Certificate } from 'node:crypto';
import type { Clock } from '../../common/clock.ts';
import type { SpiffeId } from '../../spiffe/id.ts';
import { sign as signJwt } from '../../spiffe/jwtsvid.ts';
import { signX509SvidDer } from '../../spiffe/x509-template.ts';
import type { CaManager } from './manager.ts';
import type { X509CaAuthority } from './slot.ts';
import type { SigningPool } from './signing-pool.ts';
import { parseCsr } from '../../spiffe/csr.ts';
import { errorMessage, grpcStatusFor } from '../../common/errors.ts';

export interface IssuerConfig {
  defaultX509SvidTtlMs: number;
  defaultJwtSvidTtlMs: number;
  jwtIssuer: string | undefined;
}

export interface IssuedX509Svid {
  /** DER, leaf first, then the CA and upstream intermediates (never the root). */
  chain: Buffer[];
  /** ms since epoch. */
  expiresAt: number;
  /** The leaf's serial number, decimal (as the datastore keeps agent serials). */
  serial: string;
}

export type BatchItemResult = { ok: true; svid: IssuedX509Svid } | { ok: false; code: number; message: string };

export interface IssuedJwtSvid {
  token: string;
  issuedAt: number;
  expiresAt: number;
}

export class SvidIssuer {
  readonly #ca: CaManager;
  readonly #clock: Clock;
  readonly #cfg: IssuerConfig;
  readonly #pool: SigningPool | undefined;

  constructor(ca: CaManager, clock: Clock, cfg: IssuerConfig, pool?: SigningPool) {
    this.#ca = ca;
    this.#clock = clock;
    this.#cfg = cfg;
    this.#pool = pool;
  }

  /** Starts the signing pool's workers if they are not running (an agent attested: its batches follow). */
  warmBatchSigning(): void {
    this.#pool?.warm();
  }

  /**
   * Verifies each CSR and signs an SVID for it: on the signing pool when
   * there is one (big batches from agents), else inline. Per-item results.
   */
  async signX509SvidBatch(items: { id: SpiffeId; csr: Uint8Array; ttlSeconds?: number; dnsNames?: readonly string[] }[]): Promise<BatchItemResult[]> {
    const ca = this.#ca.currentX509Ca();
    const now = this.#clock.now();
    const ttlOf = (t?: number): number => (t ? t * 1000 : this.#cfg.defaultX509SvidTtlMs);
    const chainOf = (leaf: Buffer): Buffer[] => (ca.upstreamChain.length > 0 ? [leaf, ca.certificate.raw, ...intermediates(ca.upstreamChain).map((c) => c.raw)] : [leaf]);
    if (!this.#pool || items.length < 4) {
      return Promise.all(
        items.map(async (it): Promise<BatchItemResult> => {
          try {
            const csr = parseCsr(it.csr);
            return { ok: true, svid: await this.signX509Svid({ id: it.id, spki: csr.spki, ...(it.ttlSeconds ? { ttlSeconds: it.ttlSeconds } : {}), ...(it.dnsNames ? { dnsNames: it.dnsNames } : {}) }) };
          } catch (err) {
            return { ok: false, code: grpcStatusFor(err), message: errorMessage(err) };
          }
        }),
      );
    }
    this.#pool.setCa(ca.certificate, ca.privateKey);
    const results = await this.#pool.sign(items.map((it) => ({ csr: it.csr, id: it.id.toString(), now, ttlMs: ttlOf(it.ttlSeconds), dnsNames: [...(it.dnsNames ?? [])] })));
    return results.map((r) =>
      r.ok
        ? { ok: true, svid: { chain: chainOf(Buffer.from(r.der)), expiresAt: r.notAfter, serial: BigInt(`0x${r.serialHex}`).toString(10) } }
        : { ok: false, code: r.code, message: r.message },
    );
  }

  /** Signs with the active CA, or with `ca` (one of the manager's, e.g. the previous CA). */
  async signX509Svid(args: { id: SpiffeId; spki: Buffer; ttlSeconds?: number; dnsNames?: readonly string[]; ca?: X509CaAuthority }): Promise<IssuedX509Svid> {
    const ca = args.ca ?? this.#ca.currentX509Ca();
    const ttlMs = args.ttlSeconds ? args.ttlSeconds * 1000 : this.#cfg.defaultX509SvidTtlMs;
    const leaf = signX509SvidDer({
      ca,
      spki: args.spki,
      id: args.id,
      now: this.#clock.now(),
      ttlMs,
      ...(args.dnsNames ? { dnsNames: args.dnsNames } : {}),
    });
    // A self-signed CA is in every verifier's bundle; an intermediate (under
    // an upstream authority) must travel with the leaf.
    const chain = ca.upstreamChain.length > 0 ? [leaf.der, ca.certificate.raw, ...intermediates(ca.upstreamChain).map((c) => c.raw)] : [leaf.der];
    return { chain, expiresAt: leaf.notAfter, serial: BigInt(`0x${leaf.serialHex}`).toString(10) };
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
