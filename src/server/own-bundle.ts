// The trust domain's own bundle, kept in memory: the TLS listener verifies
// every agent against it and the server SVID's trusted roots come from it.
// Reloaded whenever the datastore reports a bundle change.
import { X509Certificate } from 'node:crypto';
import { X509Bundle } from '../spiffe/bundle/x509-bundle.ts';
import type { X509BundleSource } from '../spiffe/bundle/x509-bundle.ts';
import type { TrustDomain } from '../spiffe/trust-domain.ts';
import type { DataStore, StoredBundle } from './datastore/index.ts';

export class OwnBundle {
  readonly #ds: DataStore;
  readonly #td: TrustDomain;
  #stored: StoredBundle | undefined;
  #x509: X509Bundle;
  #listeners = new Set<() => void>();
  #unsubscribe: (() => void) | undefined;

  private constructor(ds: DataStore, td: TrustDomain) {
    this.#ds = ds;
    this.#td = td;
    this.#x509 = new X509Bundle(td);
  }

  static async load(ds: DataStore, td: TrustDomain): Promise<OwnBundle> {
    const b = new OwnBundle(ds, td);
    await b.reload();
    b.#unsubscribe = ds.onChange((n) => {
      if (n.kind === 'bundles') void b.reload().catch(() => undefined);
    });
    return b;
  }

  async reload(): Promise<void> {
    const stored = await this.#ds.getBundle(this.#td);
    if (stored && stored.sequenceNumber === this.#stored?.sequenceNumber) return;
    this.#stored = stored;
    this.#x509 = new X509Bundle(this.#td, (stored?.x509Authorities ?? []).map((a) => new X509Certificate(a.der)));
    for (const fn of this.#listeners) fn();
  }

  get stored(): StoredBundle | undefined {
    return this.#stored;
  }

  x509(): X509Bundle {
    return this.#x509;
  }

  source(): X509BundleSource {
    return this.#x509;
  }

  rootsPem(): string {
    return this.#x509.marshal();
  }

  onChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  close(): void {
    this.#unsubscribe?.();
  }
}
