// The agent's cache of entries, SVIDs and bundles, and the subscriptions of
// workloads to it (SPIRE pkg/agent/manager/cache). Subscribers with the same
// selector set share one group, so a rotation recomputes one snapshot per
// distinct workload kind, not one per stream.
import type { Selector } from '../../common/selector.ts';
import { isSubset, selectorKey, selectorSet } from '../../common/selector.ts';
import type { SpiffeBundle } from '../../spiffe/bundle/spiffe-bundle.ts';
import type { CachedSvid } from './cached-svid.ts';
import type { CachedEntry, Identity, Subscription, WorkloadUpdate } from './types.ts';

/**
 * Groups kept after their last subscriber left, most recently used last: a
 * workload calling again (FetchX509SVID, FetchJWTSVID are one-shot calls)
 * finds its snapshot, and the endpoints' encodings memoized on it, instead
 * of matching every entry and encoding the response again.
 */
const IDLE_GROUPS = 64;

interface Group {
  readonly key: string;
  readonly selectors: ReadonlySet<string>;
  snapshot: WorkloadUpdate;
  readonly listeners: Set<(u: WorkloadUpdate) => void>;
  /** Open subscriptions; the group is dropped when the last one closes. */
  refs: number;
}

export class WorkloadCache {
  #entries = new Map<string, CachedEntry>();
  #svids = new Map<string, CachedSvid>();
  #bundle: SpiffeBundle;
  #federated = new Map<string, SpiffeBundle>();
  #bundleGeneration = 0;
  readonly #groups = new Map<string, Group>();
  /** Groups without subscribers (IDLE_GROUPS at most), kept current by publish(). */
  readonly #idle = new Map<string, Group>();
  #onError: (err: unknown) => void;

  constructor(opts: { bundle: SpiffeBundle; onListenerError?: (err: unknown) => void }) {
    this.#bundle = opts.bundle;
    this.#onError = opts.onListenerError ?? (() => {});
  }

  // --- writers (the manager); call publish() after a batch of changes ---

  setEntries(entries: Iterable<CachedEntry>): void {
    this.#entries = new Map([...entries].map((e) => [e.id, e]));
    for (const id of this.#svids.keys()) if (!this.#entries.has(id)) this.#svids.delete(id);
  }

  setSvid(entryId: string, svid: CachedSvid): void {
    if (this.#entries.has(entryId)) this.#svids.set(entryId, svid);
  }

  /**
   * Drops the X509-SVIDs whose leaf has expired by `now` (an agent that could
   * not renew them must not hand them out); returns how many. Call publish()
   * after.
   */
  dropExpired(now: number): number {
    let dropped = 0;
    for (const [id, svid] of this.#svids) {
      if (svid.notAfter <= now) {
        this.#svids.delete(id);
        dropped++;
      }
    }
    return dropped;
  }

  /** When the first cached X509-SVID expires (ms since epoch), if any. */
  earliestExpiry(): number | undefined {
    let first: number | undefined;
    for (const svid of this.#svids.values()) {
      const t = svid.notAfter;
      if (first === undefined || t < first) first = t;
    }
    return first;
  }

  setBundle(bundle: SpiffeBundle): void {
    this.#bundle = bundle;
    this.#bundleGeneration++;
  }

  setFederatedBundle(trustDomain: string, bundle: SpiffeBundle | undefined): void {
    if (bundle) this.#federated.set(trustDomain, bundle);
    else if (!this.#federated.delete(trustDomain)) return;
    this.#bundleGeneration++;
  }

  /** Changes whenever the own or a federated bundle does (validation caches key on it). */
  get bundleGeneration(): number {
    return this.#bundleGeneration;
  }

  /** Recomputes every group's snapshot and notifies the groups whose snapshot changed; returns how many changed. */
  publish(): number {
    let changed = 0;
    for (const group of this.#groups.values()) {
      const next = this.#build(group.selectors);
      if (sameUpdate(group.snapshot, next)) continue;
      changed++;
      group.snapshot = next;
      for (const fn of [...group.listeners]) {
        try {
          fn(next);
        } catch (err) {
          this.#onError(err);
        }
      }
    }
    for (const group of this.#idle.values()) {
      const next = this.#build(group.selectors);
      if (!sameUpdate(group.snapshot, next)) group.snapshot = next;
    }
    return changed;
  }

  // --- readers ---

  entries(): CachedEntry[] {
    return [...this.#entries.values()];
  }

  svid(entryId: string): CachedSvid | undefined {
    return this.#svids.get(entryId);
  }

  bundle(): SpiffeBundle {
    return this.#bundle;
  }

  federatedBundles(): ReadonlyMap<string, SpiffeBundle> {
    return this.#federated;
  }

  /** Entries whose selectors are all among the workload's selectors. */
  matchingEntries(selectors: readonly Selector[]): CachedEntry[] {
    return orderByDefault(this.#match(selectorSet(selectors)));
  }

  /** The snapshot for a workload right now, without subscribing. */
  snapshot(selectors: readonly Selector[]): WorkloadUpdate {
    return this.#build(selectorSet(selectors));
  }

  subscribe(selectors: readonly Selector[]): Subscription {
    const key = [...new Set(selectors.map(selectorKey))].sort().join('\n');
    let group = this.#groups.get(key);
    if (!group) {
      group = this.#idle.get(key);
      if (group) {
        this.#idle.delete(key);
      } else {
        const set = selectorSet(selectors);
        group = { key, selectors: set, snapshot: this.#build(set), listeners: new Set(), refs: 0 };
      }
      this.#groups.set(key, group);
    }
    const g = group;
    g.refs++;
    const mine = new Set<(u: WorkloadUpdate) => void>();
    let closed = false;
    return {
      current: () => g.snapshot,
      onChange: (fn) => {
        if (closed) return () => {};
        g.listeners.add(fn);
        mine.add(fn);
        return () => {
          g.listeners.delete(fn);
          mine.delete(fn);
        };
      },
      close: () => {
        if (closed) return;
        closed = true;
        for (const fn of mine) g.listeners.delete(fn);
        mine.clear();
        if (--g.refs === 0) {
          this.#groups.delete(g.key);
          this.#idle.set(g.key, g);
          if (this.#idle.size > IDLE_GROUPS) this.#idle.delete(this.#idle.keys().next().value!);
        }
      },
    };
  }

  /** Number of distinct subscriber groups (for tests and metrics). */
  get groupCount(): number {
    return this.#groups.size;
  }

  get subscriberCount(): number {
    let n = 0;
    for (const g of this.#groups.values()) n += g.refs;
    return n;
  }

  #match(have: ReadonlySet<string>): CachedEntry[] {
    const out: CachedEntry[] = [];
    for (const e of this.#entries.values()) if (isSubset(e.selectors, have)) out.push(e);
    return out;
  }

  #build(have: ReadonlySet<string>): WorkloadUpdate {
    const identities: Identity[] = [];
    const federatesWith = new Set<string>();
    for (const entry of orderByDefault(this.#match(have))) {
      const svid = this.#svids.get(entry.id);
      if (!svid) continue;
      identities.push({ entry, svid });
      for (const td of entry.federatesWith) federatesWith.add(td.name);
    }
    const federatedBundles = new Map<string, SpiffeBundle>();
    for (const td of [...federatesWith].sort()) {
      const b = this.#federated.get(td);
      if (b) federatedBundles.set(td, b);
    }
    return { identities, bundle: this.#bundle, federatedBundles, builtAt: performance.now() };
  }
}

/**
 * The default identity rule (documented in envoy/README.md and the Workload
 * API docs): an entry whose hint is `default` first, then the oldest entry
 * (created_at), then the entry ID — so the choice never depends on random IDs.
 */
export function orderByDefault(entries: CachedEntry[]): CachedEntry[] {
  return entries.sort((a, b) => {
    const ad = a.hint === 'default' ? 0 : 1;
    const bd = b.hint === 'default' ? 0 : 1;
    if (ad !== bd) return ad - bd;
    if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
}

function sameUpdate(a: WorkloadUpdate, b: WorkloadUpdate): boolean {
  if (a.bundle !== b.bundle) return false;
  if (a.identities.length !== b.identities.length) return false;
  for (let i = 0; i < a.identities.length; i++) {
    const x = a.identities[i]!;
    const y = b.identities[i]!;
    if (x.svid !== y.svid || x.entry !== y.entry) return false;
  }
  if (a.federatedBundles.size !== b.federatedBundles.size) return false;
  for (const [td, bundle] of a.federatedBundles) if (b.federatedBundles.get(td) !== bundle) return false;
  return true;
}
