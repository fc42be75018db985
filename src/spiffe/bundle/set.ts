// A set of bundles keyed by trust domain (federation): one bundle per trust
// domain, never pooled. Implements every bundle source interface.
import type { TrustDomain } from '../trust-domain.ts';
import type { JwtBundle, JwtBundleSource } from './jwt-bundle.ts';
import type { BundleSource, SpiffeBundle } from './spiffe-bundle.ts';
import type { X509Bundle, X509BundleSource } from './x509-bundle.ts';

export class BundleSet implements BundleSource, X509BundleSource, JwtBundleSource {
  readonly #bundles = new Map<string, SpiffeBundle>();

  constructor(bundles: Iterable<SpiffeBundle> = []) {
    for (const b of bundles) this.add(b);
  }

  /** Adds or replaces the bundle of its trust domain. */
  add(bundle: SpiffeBundle): void {
    this.#bundles.set(bundle.trustDomain.name, bundle);
  }

  remove(td: TrustDomain): void {
    this.#bundles.delete(td.name);
  }

  has(td: TrustDomain): boolean {
    return this.#bundles.has(td.name);
  }

  bundles(): SpiffeBundle[] {
    return [...this.#bundles.values()].sort((a, b) => a.trustDomain.compare(b.trustDomain));
  }

  get size(): number {
    return this.#bundles.size;
  }

  getBundleForTrustDomain(td: TrustDomain): SpiffeBundle | undefined {
    return this.#bundles.get(td.name);
  }

  getX509BundleForTrustDomain(td: TrustDomain): X509Bundle | undefined {
    return this.#bundles.get(td.name)?.toX509Bundle();
  }

  getJwtBundleForTrustDomain(td: TrustDomain): JwtBundle | undefined {
    return this.#bundles.get(td.name)?.toJwtBundle();
  }
}
