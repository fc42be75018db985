// Which connected agents an entry change concerns. For each changed entry
// (as it was and as it is now) the cache walks up from its parent ID through
// the entries holding that SPIFFE ID (EntryCache.rootsOf) to the agent IDs
// and node aliases its chains start at: the agents with those IDs, and the
// agents whose node selectors include an alias's, are nudged. A full load
// nudges every agent. Nothing per agent is kept but its node selectors, so
// memory is O(watches) and a batch costs its entries' depth plus one
// selector check per watch for each alias reached, whatever the size of the
// agents' authorized sets. A batch that concerns many agents spreads their
// nudges, so a fleet does not sync in the same instant.
import { HeraldError } from '../../common/errors.ts';
import { isSubset, selectorSet, type Selector } from '../../common/selector.ts';
import type { SpiffeId } from '../../spiffe/id.ts';
import type { RegistrationEntry } from '../datastore/types.ts';
import type { AppliedChanges, EntryCache } from './entry-cache.ts';
import { SERVER_ID_PATH } from './entry-index.ts';

/** An agent normally holds one watch; a few more cover a reconnect that overlaps the old stream. */
export const DEFAULT_MAX_WATCHES_PER_AGENT = 4;
/** Watches of all agents together: far beyond a large deployment, a bound on what clients can make the server hold. */
export const DEFAULT_MAX_WATCHES = 200_000;

/**
 * A batch that concerns more agents than this (a node alias every node
 * matches, or an entry under it) nudges them at about SPREAD_MS_PER_AGENT
 * apart, over at most MAX_SPREAD_MS — SPIRE's default sync_interval, so the
 * fleet syncs no faster than its periodic syncs already make it. Fewer
 * agents are nudged at once.
 */
export const DEFAULT_SPREAD_ABOVE = 64;
export const DEFAULT_SPREAD_MS_PER_AGENT = 2;
export const DEFAULT_MAX_SPREAD_MS = 5_000;

export interface EntryWatch {
  /** New node selectors (the agent attested again). */
  setSelectors(selectors: readonly Selector[]): void;
  /** Unregisters; idempotent. */
  close(): void;
}

interface Watcher {
  readonly agentId: SpiffeId;
  selectorKeys: ReadonlySet<string>;
  readonly nudge: () => void;
  readonly ended: () => void;
  /** A spread nudge is due (a later batch adds nothing to it). */
  spreading: ReturnType<typeof setTimeout> | undefined;
}

export interface EntryWatchersOptions {
  maxPerAgent?: number;
  maxWatches?: number;
  spreadAbove?: number;
  spreadMsPerAgent?: number;
  maxSpreadMs?: number;
}

export class EntryWatchers {
  readonly #cache: EntryCache;
  readonly #maxPerAgent: number;
  readonly #maxWatches: number;
  readonly #spreadAbove: number;
  readonly #spreadMsPerAgent: number;
  readonly #maxSpreadMs: number;
  readonly #byAgent = new Map<string, Set<Watcher>>();
  #size = 0;
  readonly #unsubscribe: () => void;
  #closed = false;

  constructor(cache: EntryCache, opts: EntryWatchersOptions = {}) {
    this.#cache = cache;
    this.#maxPerAgent = opts.maxPerAgent ?? DEFAULT_MAX_WATCHES_PER_AGENT;
    this.#maxWatches = opts.maxWatches ?? DEFAULT_MAX_WATCHES;
    this.#spreadAbove = opts.spreadAbove ?? DEFAULT_SPREAD_ABOVE;
    this.#spreadMsPerAgent = opts.spreadMsPerAgent ?? DEFAULT_SPREAD_MS_PER_AGENT;
    this.#maxSpreadMs = opts.maxSpreadMs ?? DEFAULT_MAX_SPREAD_MS;
    this.#unsubscribe = cache.onApplied((c) => this.#onApplied(c));
  }

  /** Open watches, all agents. */
  get size(): number {
    return this.#size;
  }

  /**
   * Registers a watch for `agentId`: `nudge` is called (from the cache's
   * refresh, or spread over a short window) when a change concerns the
   * agent, `ended` when the watchers are closed (server shutdown). Refused
   * beyond the per-agent and the overall cap.
   */
  watch(agentId: SpiffeId, nodeSelectors: readonly Selector[], nudge: () => void, ended: () => void): EntryWatch {
    if (this.#closed) throw new HeraldError('ERR_UNAVAILABLE_SHUTTING_DOWN', 'the server is shutting down');
    const key = agentId.toString();
    let mine = this.#byAgent.get(key);
    if ((mine?.size ?? 0) >= this.#maxPerAgent) {
      throw new HeraldError('ERR_RESOURCE_EXHAUSTED_ENTRY_WATCHES', `agent "${key}" already holds ${this.#maxPerAgent} entry watches`);
    }
    if (this.#size >= this.#maxWatches) throw new HeraldError('ERR_RESOURCE_EXHAUSTED_ENTRY_WATCHES', `the server already holds ${this.#maxWatches} entry watches`);
    if (mine === undefined) this.#byAgent.set(key, (mine = new Set()));
    const w: Watcher = { agentId, selectorKeys: selectorSet(nodeSelectors), nudge, ended, spreading: undefined };
    mine.add(w);
    this.#size++;
    let open = true;
    return {
      setSelectors: (selectors) => {
        if (open) w.selectorKeys = selectorSet(selectors);
      },
      close: () => {
        if (!open) return;
        open = false;
        this.#remove(w);
      },
    };
  }

  /** Ends every watch (their `ended` is called) and stops following the cache. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    const all = [...this.#byAgent.values()].flatMap((s) => [...s]);
    for (const w of all) this.#remove(w);
    for (const w of all) w.ended();
  }

  #remove(w: Watcher): void {
    clearTimeout(w.spreading);
    w.spreading = undefined;
    const key = w.agentId.toString();
    const mine = this.#byAgent.get(key);
    if (mine?.delete(w)) this.#size--;
    if (mine?.size === 0) this.#byAgent.delete(key);
  }

  #all(): Set<Watcher> {
    const out = new Set<Watcher>();
    for (const set of this.#byAgent.values()) for (const w of set) out.add(w);
    return out;
  }

  /** The watches a batch concerns (see the file comment). */
  #concerned(changes: readonly { before: RegistrationEntry | undefined; after: RegistrationEntry | undefined }[]): Set<Watcher> {
    const roots = { ids: new Set<string>(), aliases: new Map<string, RegistrationEntry>() };
    const walked = new Set<string>();
    for (const { before, after } of changes) {
      for (const e of [before, after]) {
        if (e === undefined) continue;
        if (e.parentId.path === SERVER_ID_PATH) roots.aliases.set(e.id, e);
        else this.#cache.rootsOf(e.parentId.toString(), roots, walked);
      }
    }
    const hit = new Set<Watcher>();
    for (const id of roots.ids) for (const w of this.#byAgent.get(id) ?? []) hit.add(w);
    if (roots.aliases.size > 0) {
      const aliases = [...roots.aliases.values()].filter((a) => a.selectors.length > 0);
      for (const set of this.#byAgent.values()) {
        for (const w of set) if (!hit.has(w) && aliases.some((a) => isSubset(a.selectors, w.selectorKeys))) hit.add(w);
      }
    }
    return hit;
  }

  #onApplied(changes: AppliedChanges): void {
    const hit = changes.all ? this.#all() : this.#concerned(changes.entries);
    const spreadMs = hit.size > this.#spreadAbove ? Math.min(this.#maxSpreadMs, hit.size * this.#spreadMsPerAgent) : 0;
    for (const w of hit) {
      if (spreadMs === 0) w.nudge();
      else w.spreading ??= setTimeout(() => {
        w.spreading = undefined;
        w.nudge();
      }, Math.random() * spreadMs).unref();
    }
  }
}
