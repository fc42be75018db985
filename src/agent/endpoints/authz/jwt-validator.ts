// JWT-SVID validation for ext_authz: against the bundles the agent already
// holds (own and federated; no network call per request), with a bounded,
// expiry-aware cache of tokens that validated, dropped whenever a bundle
// changes so a removed key stops being trusted at once.
import type { JwtBundleSource } from '../../../spiffe/bundle/jwt-bundle.ts';
import { parseAndValidate, type JwtSvid } from '../../../spiffe/jwtsvid.ts';

export interface JwtValidatorOptions {
  /** The current bundles; `generation` changes whenever their content does. */
  bundles(): { source: JwtBundleSource; generation: unknown };
  now(): number;
  maxEntries?: number;
}

export class JwtSvidValidator {
  readonly #o: JwtValidatorOptions;
  readonly #cache = new Map<string, JwtSvid>();
  #generation: unknown;
  hits = 0;
  misses = 0;

  constructor(o: JwtValidatorOptions) {
    this.#o = o;
  }

  /**
   * The token's SVID when it validated before, has not expired, the bundles
   * have not changed since, and its `aud` holds one of `audiences`; else
   * undefined (validate() then decides). Synchronous: the hot path of a
   * repeated token costs no promise.
   */
  cached(token: string, audiences: readonly string[]): JwtSvid | undefined {
    const { generation } = this.#o.bundles();
    if (generation !== this.#generation) {
      // Any bundle change (a key added, rotated or removed) drops every cached verdict.
      this.#cache.clear();
      this.#generation = generation;
      return undefined;
    }
    const hit = this.#cache.get(token);
    if (!hit || hit.expiry.getTime() <= this.#o.now()) return undefined;
    // Audience is per route, so it is checked on every hit.
    if (!audiences.some((a) => hit.audience.includes(a))) return undefined;
    this.hits++;
    return hit;
  }

  /**
   * Validates signature, header and expiry (parseAndValidate's rules) and
   * that `aud` holds one of `audiences`. Throws JwtSvidError.
   */
  async validate(token: string, audiences: readonly string[]): Promise<JwtSvid> {
    const hit = this.cached(token, audiences);
    if (hit) return hit;
    const { source } = this.#o.bundles();
    const now = this.#o.now();
    this.misses++;
    const svid = await parseAndValidate(token, source, audiences, { now });
    this.#cache.delete(token);
    this.#cache.set(token, svid);
    const max = this.#o.maxEntries ?? 10_000;
    while (this.#cache.size > max) this.#cache.delete(this.#cache.keys().next().value!);
    return svid;
  }

  get size(): number {
    return this.#cache.size;
  }
}
