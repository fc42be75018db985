// The authorized-entries cache: one full load from the datastore, then
// incremental refreshes from the entry event feed (triggered by in-process
// change notices and by a poll that picks up other servers' writes on a
// shared PostgreSQL). Agent syncs read the index, never SQL.
import { systemClock, type Clock, type Timer } from '../../common/clock.ts';
import type { Selector } from '../../common/selector.ts';
import type { SpiffeId } from '../../spiffe/id.ts';
import type { ChangeNotice, EntrySnapshot, ListEntryEventsResult } from '../datastore/datastore.ts';
import type { RegistrationEntry } from '../datastore/types.ts';
import { EntryIndex } from './entry-index.ts';

/** What the cache needs from the datastore. */
export interface EntrySource {
  entrySnapshot(): Promise<EntrySnapshot>;
  listEntryEvents(afterId: number, limit?: number): Promise<ListEntryEventsResult>;
  getEntries(ids: readonly string[]): Promise<RegistrationEntry[]>;
  onChange(listener: (notice: ChangeNotice) => void): () => void;
}

export interface EntryCacheOptions {
  readonly source: EntrySource;
  readonly clock?: Clock;
  /** How often start() polls the event feed. Default 5000 ms (SPIRE's cache reload interval). */
  readonly refreshIntervalMs?: number;
  /** Events read per round trip. Default 10000. */
  readonly eventBatchSize?: number;
  /** A background refresh failed (the cache keeps serving its current state). Default: a process warning. */
  readonly onRefreshError?: (err: unknown) => void;
}

export interface RefreshStats {
  readonly fullLoads: number;
  readonly incrementalRefreshes: number;
}

export class EntryCache {
  readonly #source: EntrySource;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #batch: number;
  readonly #onRefreshError: (err: unknown) => void;
  #index = new EntryIndex();
  #lastEventId = -1;
  #dirty = false;
  #running: Promise<void> | undefined;
  #timer: Timer | undefined;
  #unsubscribe: (() => void) | undefined;
  #fullLoads = 0;
  #incremental = 0;

  constructor(options: EntryCacheOptions) {
    this.#source = options.source;
    this.#clock = options.clock ?? systemClock;
    this.#intervalMs = options.refreshIntervalMs ?? 5000;
    this.#batch = options.eventBatchSize ?? 10_000;
    if (!(this.#intervalMs > 0) || !Number.isInteger(this.#batch) || this.#batch <= 0) {
      throw new TypeError('EntryCache: refreshIntervalMs and eventBatchSize must be positive');
    }
    this.#onRefreshError =
      options.onRefreshError ?? ((err) => process.emitWarning(`entry-cache: refresh failed: ${String(err)}`, 'HeraldEntryCacheWarning'));
  }

  /** A cache with everything loaded. */
  static async load(options: EntryCacheOptions): Promise<EntryCache> {
    const cache = new EntryCache(options);
    await cache.refresh();
    return cache;
  }

  get size(): number {
    return this.#index.size;
  }

  /** The last entry event reflected in the index (-1 before the first load). */
  get lastEventId(): number {
    return this.#lastEventId;
  }

  get stats(): RefreshStats {
    return { fullLoads: this.#fullLoads, incrementalRefreshes: this.#incremental };
  }

  getEntry(id: string): RegistrationEntry | undefined {
    return this.#index.get(id);
  }

  entries(): RegistrationEntry[] {
    return [...this.#index.values()];
  }

  /** The entries an agent may receive SVIDs for (see EntryIndex.authorizedFor). */
  getAuthorizedEntries(agentId: SpiffeId, agentSelectors: readonly Selector[]): RegistrationEntry[] {
    return this.#index.authorizedFor(agentId, agentSelectors, Math.floor(this.#clock.now() / 1000));
  }

  /**
   * Brings the index up to date. Calls made while a refresh runs are folded
   * into one more pass that starts after them, so on return the index
   * reflects every change committed before the call.
   */
  refresh(): Promise<void> {
    this.#dirty = true;
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #drain(): Promise<void> {
    while (this.#dirty) {
      this.#dirty = false;
      if (this.#lastEventId < 0) await this.#fullLoad();
      else await this.#applyEvents();
    }
  }

  async #fullLoad(): Promise<void> {
    const snap = await this.#source.entrySnapshot();
    const index = new EntryIndex();
    for (const e of snap.entries) index.put(e);
    this.#index = index;
    this.#lastEventId = snap.lastEventId;
    this.#fullLoads++;
  }

  async #applyEvents(): Promise<void> {
    for (;;) {
      const r = await this.#source.listEntryEvents(this.#lastEventId, this.#batch);
      if (r.prunedThrough > this.#lastEventId) {
        // Events we never saw were pruned: only a full load is safe.
        await this.#fullLoad();
        return;
      }
      if (r.events.length === 0) return;
      const ids = [...new Set(r.events.map((e) => e.entryId))];
      const fresh = new Map((await this.#source.getEntries(ids)).map((e) => [e.id, e]));
      for (const id of ids) {
        const e = fresh.get(id);
        if (e === undefined) this.#index.remove(id);
        else this.#index.put(e);
      }
      this.#lastEventId = r.events[r.events.length - 1]!.id;
      this.#incremental++;
      if (r.events.length < this.#batch) return;
    }
  }

  #background(): void {
    this.refresh().catch(this.#onRefreshError);
  }

  /** Follows in-process changes at once and polls for the rest every refreshIntervalMs. */
  start(): void {
    if (this.#unsubscribe !== undefined) return;
    this.#unsubscribe = this.#source.onChange((n) => {
      if (n.kind === 'entries') this.#background();
    });
    const tick = () => {
      this.#background();
      this.#timer = this.#clock.setTimeout(tick, this.#intervalMs);
    };
    this.#timer = this.#clock.setTimeout(tick, this.#intervalMs);
  }

  /** Stops following changes; a refresh in flight completes. */
  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#running !== undefined) await this.#running.catch(this.#onRefreshError);
  }
}
