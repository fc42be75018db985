// Which connected agents an entry change concerns. Each watch (one per open
// WatchEntries stream) keeps the parent IDs under which an entry would reach
// its agent: the agent's own ID and the SPIFFE IDs of the entries it is
// authorized for (SPIRE's authorized set includes their descendants). A
// changed entry (as it was or as it is now) whose parent is in that set, or
// a node alias whose selectors are all among the agent's, nudges the agent;
// a full load nudges every agent. The set is recomputed at once after a
// nudge, so the next batch is judged against the entries just applied. A
// batch that concerns many agents spreads their nudges over a short window.
import { HeraldError } from '../../common/errors.ts';
import { isSubset, selectorSet, type Selector } from '../../common/selector.ts';
import type { SpiffeId } from '../../spiffe/id.ts';
import type { RegistrationEntry } from '../datastore/types.ts';
import type { AppliedChanges, EntryCache } from './entry-cache.ts';
import { SERVER_ID_PATH } from './entry-index.ts';

/** An agent normally holds one watch; a few more cover a reconnect that overlaps the old stream. */
export const DEFAULT_MAX_WATCHES_PER_AGENT = 4;

/**
 * A batch that concerns more agents than this (a node alias every node
 * matches, or an entry under it) spreads their nudges over up to
 * MAX_SPREAD_MS, 1 ms per agent, so a fleet does not sync in the same
 * instant; fewer agents are nudged at once.
 */
export const DEFAULT_SPREAD_ABOVE = 64;
export const DEFAULT_MAX_SPREAD_MS = 2_000;

export interface EntryWatch {
  /** New node selectors (the agent attested again); the parent set is recomputed with them. */
  setSelectors(selectors: readonly Selector[]): void;
  /** Unregisters; idempotent. */
  close(): void;
}

interface Watcher {
  readonly agentId: SpiffeId;
  selectors: readonly Selector[];
  selectorKeys: ReadonlySet<string>;
  parents: Set<string>;
  readonly nudge: () => void;
  readonly ended: () => void;
  /** A spread nudge is due (a later batch adds nothing to it). */
  spreading: ReturnType<typeof setTimeout> | undefined;
}

export class EntryWatchers {
  readonly #cache: EntryCache;
  readonly #maxPerAgent: number;
  readonly #spreadAbove: number;
  readonly #maxSpreadMs: number;
  readonly #byAgent = new Map<string, Set<Watcher>>();
  /** Parent ID → the watchers whose agent receives that parent's children. */
  readonly #byParent = new Map<string, Set<Watcher>>();
  readonly #unsubscribe: () => void;
  #closed = false;

  constructor(cache: EntryCache, opts: { maxPerAgent?: number; spreadAbove?: number; maxSpreadMs?: number } = {}) {
    this.#cache = cache;
    this.#maxPerAgent = opts.maxPerAgent ?? DEFAULT_MAX_WATCHES_PER_AGENT;
    this.#spreadAbove = opts.spreadAbove ?? DEFAULT_SPREAD_ABOVE;
    this.#maxSpreadMs = opts.maxSpreadMs ?? DEFAULT_MAX_SPREAD_MS;
    this.#unsubscribe = cache.onApplied((c) => this.#onApplied(c));
  }

  /** Open watches, all agents. */
  get size(): number {
    let n = 0;
    for (const set of this.#byAgent.values()) n += set.size;
    return n;
  }

  /**
   * Registers a watch for `agentId`: `nudge` is called (synchronously, from
   * the cache's refresh) when a change concerns the agent, `ended` when the
   * watchers are closed (server shutdown). Refused beyond the per-agent cap.
   */
  watch(agentId: SpiffeId, nodeSelectors: readonly Selector[], nudge: () => void, ended: () => void): EntryWatch {
    if (this.#closed) throw new HeraldError('ERR_UNAVAILABLE_SHUTTING_DOWN', 'the server is shutting down');
    const key = agentId.toString();
    let mine = this.#byAgent.get(key);
    if ((mine?.size ?? 0) >= this.#maxPerAgent) {
      throw new HeraldError('ERR_RESOURCE_EXHAUSTED_ENTRY_WATCHES', `agent "${key}" already holds ${this.#maxPerAgent} entry watches`);
    }
    if (mine === undefined) this.#byAgent.set(key, (mine = new Set()));
    const w: Watcher = { agentId, selectors: nodeSelectors, selectorKeys: selectorSet(nodeSelectors), parents: new Set(), nudge, ended, spreading: undefined };
    mine.add(w);
    this.#recompute(w);
    let open = true;
    return {
      setSelectors: (selectors) => {
        if (!open) return;
        w.selectors = selectors;
        w.selectorKeys = selectorSet(selectors);
        this.#recompute(w);
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
    mine?.delete(w);
    if (mine?.size === 0) this.#byAgent.delete(key);
    this.#setParents(w, new Set());
  }

  /** The parents under which an entry reaches w's agent, from the cache as it is now. */
  #recompute(w: Watcher): void {
    const parents = new Set([w.agentId.toString()]);
    for (const e of this.#cache.getAuthorizedEntries(w.agentId, w.selectors)) parents.add(e.spiffeId.toString());
    this.#setParents(w, parents);
  }

  #setParents(w: Watcher, parents: Set<string>): void {
    for (const p of w.parents) {
      if (parents.has(p)) continue;
      const set = this.#byParent.get(p);
      set?.delete(w);
      if (set?.size === 0) this.#byParent.delete(p);
    }
    for (const p of parents) {
      if (w.parents.has(p)) continue;
      let set = this.#byParent.get(p);
      if (set === undefined) this.#byParent.set(p, (set = new Set()));
      set.add(w);
    }
    w.parents = parents;
  }

  #onApplied(changes: AppliedChanges): void {
    const hit = new Set<Watcher>();
    if (changes.all) {
      for (const set of this.#byAgent.values()) for (const w of set) hit.add(w);
    } else {
      let aliases: RegistrationEntry[] | undefined;
      for (const { before, after } of changes.entries) {
        for (const e of [before, after]) {
          if (e === undefined) continue;
          for (const w of this.#byParent.get(e.parentId.toString()) ?? []) hit.add(w);
          if (e.parentId.path === SERVER_ID_PATH) (aliases ??= []).push(e);
        }
      }
      // Aliases are rare: each is matched against every watch's selectors.
      if (aliases !== undefined) {
        for (const set of this.#byAgent.values()) {
          for (const w of set) if (aliases.some((a) => a.selectors.length > 0 && isSubset(a.selectors, w.selectorKeys))) hit.add(w);
        }
      }
    }
    // The parent sets follow the cache at once; only the nudges are spread.
    const spreadMs = hit.size > this.#spreadAbove ? Math.min(this.#maxSpreadMs, hit.size) : 0;
    for (const w of hit) {
      this.#recompute(w);
      if (spreadMs === 0) w.nudge();
      else w.spreading ??= setTimeout(() => {
        w.spreading = undefined;
        w.nudge();
      }, Math.random() * spreadMs).unref();
    }
  }
}
