// JWT-SVIDs cached per (entry, audience set) and re-minted once half their
// life has passed (SPIRE's agent caches them the same way), so a busy
// workload does not cost one server round trip per token.
import type { Clock } from '../common/clock.ts';

export interface CachedJwtSvid {
  readonly token: string;
  /** ms since epoch. */
  readonly expiresAt: number;
  readonly issuedAt: number;
}

export interface JwtSvidCacheOptions {
  clock: Clock;
  mint(entryId: string, audience: readonly string[]): Promise<{ token: string; expires_at: string }>;
  /** Bound on cached tokens; the oldest are dropped first. */
  maxEntries?: number;
}

export class JwtSvidCache {
  readonly #o: JwtSvidCacheOptions;
  readonly #tokens = new Map<string, CachedJwtSvid>();
  readonly #inflight = new Map<string, Promise<CachedJwtSvid>>();

  constructor(o: JwtSvidCacheOptions) {
    this.#o = o;
  }

  static keyOf(entryId: string, audience: readonly string[]): string {
    return `${entryId}\u0000${[...new Set(audience)].sort().join('\u0000')}`;
  }

  async fetch(entryId: string, audience: readonly string[]): Promise<CachedJwtSvid> {
    const key = JwtSvidCache.keyOf(entryId, audience);
    const now = this.#o.clock.now();
    const hit = this.#tokens.get(key);
    if (hit && now < hit.issuedAt + (hit.expiresAt - hit.issuedAt) / 2) return hit;
    let p = this.#inflight.get(key);
    if (!p) {
      p = this.#o.mint(entryId, audience).then((res) => {
        const expiresAt = Number(res.expires_at) * 1000;
        // Not later than its expiry: a local clock that was ahead when it came must not stretch its half-life past expiry (soak finding).
        const svid = { token: res.token, expiresAt, issuedAt: Math.min(this.#o.clock.now(), expiresAt) };
        this.#tokens.delete(key);
        this.#tokens.set(key, svid);
        const max = this.#o.maxEntries ?? 10_000;
        while (this.#tokens.size > max) this.#tokens.delete(this.#tokens.keys().next().value!);
        return svid;
      });
      this.#inflight.set(key, p);
      p.finally(() => this.#inflight.delete(key)).catch(() => undefined);
    }
    return p;
  }

  /** Drops tokens of entries that are gone. */
  retain(entryIds: ReadonlySet<string>): void {
    for (const key of this.#tokens.keys()) if (!entryIds.has(key.slice(0, key.indexOf('\u0000')))) this.#tokens.delete(key);
  }

  /** Drops tokens signed with any of `keyIds` (tainted JWT authorities): the next fetch mints anew. */
  dropSignedBy(keyIds: ReadonlySet<string>): number {
    if (keyIds.size === 0) return 0;
    let dropped = 0;
    for (const [key, svid] of this.#tokens) {
      if (keyIds.has(keyIdOf(svid.token))) {
        this.#tokens.delete(key);
        dropped++;
      }
    }
    return dropped;
  }

  get size(): number {
    return this.#tokens.size;
  }
}

/** The `kid` of a compact JWS header ('' when unreadable). */
function keyIdOf(token: string): string {
  try {
    const kid: unknown = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('utf8')).kid;
    return typeof kid === 'string' ? kid : '';
  } catch {
    return '';
  }
}
