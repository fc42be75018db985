// Signs X509-SVIDs and JWT-SVIDs with whatever the CA manager has active
// (SPIRE pkg/server/ca/ca.go). TTLs: the requested one, else the server's
// default; an X509-SVID never outlives its CA. What goes into a credential
// comes from the credential template builder (its composers); the CA key
// signs through the key manager's signer — inline, or on the signing
// workers when the key can be exported to them.
import type { X509Certificate } from 'node:crypto';
import type { Clock } from '../../common/clock.ts';
import type { SpiffeId } from '../../spiffe/id.ts';
import { checkSignRequest, signClaims } from '../../spiffe/jwtsvid.ts';
import type { RegistrationEntry } from '../datastore/types.ts';
import type { CredentialBuilder, X509SvidTemplate } from '../credtemplate/builder.ts';
import type { X509SvidKind } from '../credtemplate/composer.ts';
import { planLeaf, signLeaf } from '../credtemplate/x509.ts';
import type { CaManager } from './manager.ts';
import type { X509CaAuthority } from './slot.ts';
import type { SigningPool } from './signing-pool.ts';
import type { SignJob } from './signing-jobs.ts';
import { randomSerials } from '../../spiffe/x509-template.ts';
import { csrPublicKeyInfo, parseCsr } from '../../spiffe/csr.ts';
import { errorMessage, grpcStatusFor } from '../../common/errors.ts';

export interface IssuerConfig {
  defaultX509SvidTtlMs: number;
  defaultJwtSvidTtlMs: number;
  jwtIssuer: string | undefined;
  /** Composes every credential (subject, DNS SANs, extensions, JWT claims). */
  credentials: CredentialBuilder;
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

  /**
   * Verifies each CSR and signs a workload SVID for it: through the
   * signing pool when there is one, the batch is big (agents) and the CA
   * key can be exported (the pool signs on this thread until the load
   * calls for its workers); else inline through the key's signer. Leaves
   * are planned here (template composed and encoded, serial, validity).
   * Per-item results.
   */
  async signX509SvidBatch(items: { id: SpiffeId; csr: Uint8Array; ttlSeconds?: number; dnsNames?: readonly string[]; entry?: RegistrationEntry }[]): Promise<BatchItemResult[]> {
    const ca = this.#ca.currentX509Ca();
    const now = this.#clock.now();
    const ttlOf = (t?: number): number => (t ? t * 1000 : this.#cfg.defaultX509SvidTtlMs);
    const chainOf = (leaf: Buffer): Buffer[] => (ca.upstreamChain.length > 0 ? [leaf, ca.certificate.raw, ...intermediates(ca.upstreamChain).map((c) => c.raw)] : [leaf]);
    const failed = (err: unknown): BatchItemResult => ({ ok: false, code: grpcStatusFor(err), message: errorMessage(err) });
    if (!this.#pool || items.length < 4 || !ca.key.exportPkcs8) {
      return Promise.all(
        items.map(async (it): Promise<BatchItemResult> => {
          try {
            const csr = parseCsr(it.csr);
            return { ok: true, svid: await this.signX509Svid({ id: it.id, spki: csr.spki, ca, ...(it.ttlSeconds ? { ttlSeconds: it.ttlSeconds } : {}), ...(it.dnsNames ? { dnsNames: it.dnsNames } : {}), ...(it.entry ? { entry: it.entry } : {}) }) };
          } catch (err) {
            return failed(err);
          }
        }),
      );
    }
    const results: BatchItemResult[] = new Array(items.length);
    const jobs: (SignJob & { serialHex: string })[] = [];
    const jobIndex: number[] = [];
    const serials = randomSerials(items.length);
    const addJob = (i: number, template: X509SvidTemplate): void => {
      const it = items[i]!;
      jobs.push({ ...planLeaf({ ca: ca.certificate, id: it.id, now, ttlMs: ttlOf(it.ttlSeconds), template }, serials[i]), csr: it.csr });
      jobIndex.push(i);
    };
    // Composed and planned here, synchronously unless a composer is asynchronous.
    const pending: Promise<void>[] = [];
    items.forEach((it, i) => {
      try {
        let spki: Buffer;
        try {
          spki = csrPublicKeyInfo(it.csr);
        } catch {
          spki = parseCsr(it.csr).spki; // throws the error the worker would have
        }
        const t = this.#cfg.credentials.buildX509SvidTemplate('workload', { id: it.id, spki, dnsNames: it.dnsNames, entry: it.entry });
        if (t instanceof Promise) pending.push(t.then((template) => addJob(i, template)).catch((err: unknown) => void (results[i] = failed(err))));
        else addJob(i, t);
      } catch (err) {
        results[i] = failed(err);
      }
    });
    if (pending.length > 0) await Promise.all(pending);
    if (jobs.length > 0) {
      const signed = await this.#pool.sign(jobs, ca.certificate, ca.key);
      signed.forEach((r, k) => {
        const job = jobs[k]!;
        results[jobIndex[k]!] = r.ok ? { ok: true, svid: { chain: chainOf(r.der), expiresAt: job.notAfter, serial: BigInt(`0x${job.serialHex}`).toString(10) } } : { ok: false, code: r.code, message: r.message };
      });
    }
    return results;
  }

  /**
   * Signs an X509-SVID (`kind`: workload by default, the server's own, or
   * an agent's) with the active CA, or with `ca` (one of the manager's,
   * e.g. the previous CA).
   */
  async signX509Svid(args: { id: SpiffeId; spki: Buffer; ttlSeconds?: number; dnsNames?: readonly string[]; ca?: X509CaAuthority; kind?: X509SvidKind; entry?: RegistrationEntry }): Promise<IssuedX509Svid> {
    const ca = args.ca ?? this.#ca.currentX509Ca();
    const ttlMs = args.ttlSeconds ? args.ttlSeconds * 1000 : this.#cfg.defaultX509SvidTtlMs;
    const template = await this.#cfg.credentials.buildX509SvidTemplate(args.kind ?? 'workload', { id: args.id, spki: args.spki, dnsNames: args.dnsNames, entry: args.entry });
    const leaf = await signLeaf({ ca: ca.certificate, signer: ca.key, spki: args.spki, id: args.id, now: this.#clock.now(), ttlMs, template });
    // A self-signed CA is in every verifier's bundle; an intermediate (under
    // an upstream authority) must travel with the leaf.
    const chain = ca.upstreamChain.length > 0 ? [leaf.der, ca.certificate.raw, ...intermediates(ca.upstreamChain).map((c) => c.raw)] : [leaf.der];
    return { chain, expiresAt: leaf.notAfter, serial: BigInt(`0x${leaf.serialHex}`).toString(10) };
  }

  async signJwtSvid(args: { id: SpiffeId; audience: readonly string[]; ttlSeconds?: number; entry?: RegistrationEntry }): Promise<IssuedJwtSvid> {
    const key = this.#ca.currentJwtKey();
    const now = this.#clock.now();
    const ttlMs = args.ttlSeconds ? args.ttlSeconds * 1000 : this.#cfg.defaultJwtSvidTtlMs;
    const expiresAt = Math.min(now + ttlMs, key.notAfter);
    const audience = checkSignRequest(args.id, args.audience);
    const claims = await this.#cfg.credentials.buildWorkloadJwtSvidClaims({ id: args.id, audience, expiresAt, now, issuer: this.#cfg.jwtIssuer, entry: args.entry });
    const token = await signClaims({ claims, signer: key.key, kid: key.kid });
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
