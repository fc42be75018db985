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
   * Validates signature, header and expiry (parseAndValidate's rules) and
   * that `aud` holds one of `audiences`. Throws JwtSvidError.
   */
  async validate(token: string, audiences: readonly string[]): Promise<JwtSvid> {
    const { source, generation } = this.#o.bundles();
    if (generation !== this.#generation) {
      this.#cache.clear();
      this.#generation = generation;
    }
    const now = this.#o.now();
    const hit = this.#cache.get(token);
    if (hit && hit.expiry.getTime() > now) {
      this.hits++;
      // Audience is per route, so it is checked on every hit.
      if (!audiences.some((a) => hit.audience.includes(a))) {
        return parseAndValidate(token, source, audiences, { now });
      }
      return hit;
    }
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
