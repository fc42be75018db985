// Keeps the trust domain's own bundle in the datastore: authorities are
// appended when a CA or JWT key is prepared (before it signs anything), and
// dropped only once they have expired — never leaving the bundle empty.
import { X509Certificate, type KeyObject } from 'node:crypto';
import type { DataStore } from '../datastore/datastore.ts';
import type { StoredBundle } from '../datastore/types.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import type { AuthorityPublisher } from './manager.ts';

export class DataStoreAuthorityPublisher implements AuthorityPublisher {
  readonly #ds: DataStore;
  readonly #td: TrustDomain;
  readonly #refreshHintSeconds: number;

  constructor(ds: DataStore, td: TrustDomain, refreshHintSeconds: number) {
    this.#ds = ds;
    this.#td = td;
    this.#refreshHintSeconds = refreshHintSeconds;
  }

  async publish(args: { x509Authorities: X509Certificate[]; jwtAuthority?: { kid: string; publicKey: KeyObject; notAfter: number } }): Promise<void> {
    const j = args.jwtAuthority;
    await this.#ds.appendBundle({
      trustDomain: this.#td,
      x509Authorities: args.x509Authorities.map((c) => ({ der: c.raw, tainted: false })),
      jwtAuthorities: j
        ? [{ keyId: j.kid, publicKey: j.publicKey.export({ format: 'der', type: 'spki' }), expiresAt: Math.floor(j.notAfter / 1000), tainted: false }]
        : [],
      refreshHint: this.#refreshHintSeconds,
      sequenceNumber: 0n,
    });
  }

  /** Removes authorities that expired before `nowMs`; returns the bundle when it changed. */
  async pruneExpired(nowMs: number): Promise<StoredBundle | undefined> {
    const current = await this.#ds.getBundle(this.#td);
    if (!current) return undefined;
    const x509 = current.x509Authorities.filter((a) => Date.parse(new X509Certificate(a.der).validTo) > nowMs);
    const jwt = current.jwtAuthorities.filter((a) => a.expiresAt === 0 || a.expiresAt * 1000 > nowMs);
    const changed = x509.length !== current.x509Authorities.length || jwt.length !== current.jwtAuthorities.length;
    // Never prune a bundle down to nothing: verifiers would trust no one.
    if (!changed || x509.length === 0) return undefined;
    return this.#ds.updateBundle({ ...current, x509Authorities: x509, jwtAuthorities: jwt }, { x509Authorities: true, jwtAuthorities: true });
  }
}
