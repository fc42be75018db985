// The authorized-entries cache: one full load from the datastore, then
// incremental refreshes from the entry event table, which stays the source of
// truth. Refreshes are woken by change notices (in-process writes, and on
// PostgreSQL other servers' commits via LISTEN/NOTIFY) and by a slow poll as a
// safety net. Agent syncs read the index, never SQL.
//
// Event ids are allocated before commit, so a writer can commit after a
// writer with a higher id: the cache may see id 11 while 10 is still in
// flight. Every missing id below the highest one seen is kept as a gap and
// read again on each refresh until the database snapshot proves that every
// transaction that could have allocated it has finished (its xmin has passed
// the xmax of the snapshot that first saw the gap). Each refresh reads the
// events and the entries they name in one snapshot, so the index always
// equals one database state, and a periodic digest per id bucket compares it
// with the table and repairs (and reports) any drift.
import { systemClock, type Clock, type Timer } from '../../common/clock.ts';
import type { Selector } from '../../common/selector.ts';
import type { SpiffeId } from '../../spiffe/id.ts';
import type { ChangeNotice, EntryChanges, EntryChangesRequest, EntrySnapshot } from '../datastore/datastore.ts';
import { DigestBuilder, entryBucket } from '../datastore/sql/entry-digest.ts';
import type { RegistrationEntry } from '../datastore/types.ts';
import { EntryIndex } from './entry-index.ts';

/** What the cache needs from the datastore. */
export interface EntrySource {
  /** Everything, with no entry write in flight (the cursor then has no gaps below it). */
  entrySnapshot(): Promise<EntrySnapshot>;
  readEntryChanges(req: EntryChangesRequest): Promise<EntryChanges>;
  onChange(listener: (notice: ChangeNotice) => void): () => void;
  /** See DataStore: while other servers' notices may be missed, memory is not trusted between polls. */
  followsChanges?(): boolean;
  sharedWithOtherServers?(): boolean;
}

/** What a consistency check found wrong in the cache (and repaired). */
export interface DriftReport {
  /** Cached entries the database no longer has. */
  readonly stale: readonly string[];
  /** Database entries the cache lacked. */
  readonly missing: readonly string[];
  /** Cached entries at another revision than the database's. */
  readonly outdated: readonly string[];
}

export interface EntryCacheOptions {
  readonly source: EntrySource;
  readonly clock?: Clock;
  /** How often start() polls the event table (a safety net beside notices). Default 5000 ms. */
  readonly refreshIntervalMs?: number;
  /** How often start() runs the consistency check; 0 disables it. Default 60000 ms. */
  readonly verifyIntervalMs?: number;
  /** Events read per round trip. Default 10000. */
  readonly eventBatchSize?: number;
  /** A background refresh failed (the cache keeps serving its current state). Default: a process warning. */
  readonly onRefreshError?: (err: unknown) => void;
  /** A consistency check found (and repaired) drift. Default: a process warning. */
  readonly onDrift?: (report: DriftReport) => void;
}

export interface RefreshStats {
  readonly fullLoads: number;
  readonly incrementalRefreshes: number;
  readonly consistencyChecks: number;
  /** Entries repaired by consistency checks, all time. */
  readonly driftRepaired: number;
  /** Event id ranges still watched for late commits. */
  readonly pendingGaps: number;
}

/** One entry as it was before and after an applied batch (undefined: absent). */
export interface EntryChange {
  readonly before: RegistrationEntry | undefined;
  readonly after: RegistrationEntry | undefined;
}

/** What one applied batch changed: the entries, or everything (a full load). */
export type AppliedChanges = { readonly all: true } | { readonly all: false; readonly entries: readonly EntryChange[] };

/** Event ids [lo, hi] missing when first read; `xmax` is that snapshot's, `seen` what turned up since. */
interface Gap {
  readonly lo: number;
  readonly hi: number;
  readonly xmax: bigint;
  readonly seen: Set<number>;
}

/** How stale a sync may find the cache while other servers' notices may go unheard (their notice channel is down). */
const UNHEARD_MAX_AGE_MS = 1000;

/** Beyond this many open gap ranges (a storm of aborted writes), a full load is cheaper than rechecking. */
const MAX_GAPS = 1000;

export class EntryCache {
  readonly #source: EntrySource;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #verifyIntervalMs: number;
  readonly #batch: number;
  readonly #onRefreshError: (err: unknown) => void;
  readonly #onDrift: (report: DriftReport) => void;
  /** Other servers may write the database (fixed for a datastore): their changes are heard only while the notice channel is up. */
  readonly #shared: boolean;
  #index = new EntryIndex();
  #lastEventId = -1;
  #gaps: Gap[] = [];
  #dirty = false;
  #verifyWanted = false;
  /** Buckets whose digest differed: reloaded (and compared entry by entry) on the next pass. */
  #suspectBuckets: string[] = [];
  #running: Promise<void> | undefined;
  /** When the last refresh that read everything committed before it ended (clock ms). */
  #refreshedAt = -Infinity;
  /** When a refresh a sync asked for last failed (clock ms). */
  #failedAt = -Infinity;
  #timer: Timer | undefined;
  #verifyTimer: Timer | undefined;
  #unsubscribe: (() => void) | undefined;
  readonly #appliedListeners = new Set<(changes: AppliedChanges) => void>();
  #fullLoads = 0;
  #incremental = 0;
  #checks = 0;
  #repaired = 0;

  constructor(options: EntryCacheOptions) {
    this.#source = options.source;
    this.#clock = options.clock ?? systemClock;
    this.#intervalMs = options.refreshIntervalMs ?? 5000;
    this.#verifyIntervalMs = options.verifyIntervalMs ?? 60_000;
    this.#batch = options.eventBatchSize ?? 10_000;
    this.#shared = options.source.sharedWithOtherServers?.() === true;
    if (!(this.#intervalMs > 0) || !Number.isInteger(this.#batch) || this.#batch <= 0 || !(this.#verifyIntervalMs >= 0)) {
      throw new TypeError('EntryCache: refreshIntervalMs and eventBatchSize must be positive, verifyIntervalMs non-negative');
    }
    this.#onRefreshError =
      options.onRefreshError ?? ((err) => process.emitWarning(`entry-cache: refresh failed: ${String(err)}`, 'HeraldEntryCacheWarning'));
    this.#onDrift =
      options.onDrift ??
      ((r) => process.emitWarning(`entry-cache: repaired drift: ${r.stale.length} stale, ${r.missing.length} missing, ${r.outdated.length} outdated`, 'HeraldEntryCacheWarning'));
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

  /** The highest entry event reflected in the index (-1 before the first load). */
  get lastEventId(): number {
    return this.#lastEventId;
  }

  get stats(): RefreshStats {
    return {
      fullLoads: this.#fullLoads,
      incrementalRefreshes: this.#incremental,
      consistencyChecks: this.#checks,
      driftRepaired: this.#repaired,
      pendingGaps: this.#gaps.length,
    };
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

  /** See EntryIndex.rootsOf: which agent IDs and node aliases an entry under `parentId` reaches agents from. */
  rootsOf(parentId: string, roots: { ids: Set<string>; aliases: Map<string, RegistrationEntry> }, walked: Set<string>): void {
    this.#index.rootsOf(parentId, roots, walked);
  }

  /**
   * Calls `listener` after each batch the index applied, with what it
   * changed (entry watches decide from it which agents to tell). Returns the
   * unsubscribe function.
   */
  onApplied(listener: (changes: AppliedChanges) => void): () => void {
    this.#appliedListeners.add(listener);
    return () => this.#appliedListeners.delete(listener);
  }

  #emitApplied(changes: AppliedChanges): void {
    if (!changes.all && changes.entries.length === 0) return;
    for (const l of this.#appliedListeners) {
      try {
        l(changes);
      } catch (err) {
        // A listener's fault must not fail the refresh that serves every sync.
        this.#onRefreshError(err);
      }
    }
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

  /**
   * Brings the index up to date when the database answers, and otherwise
   * keeps serving what it has (the failure goes to onRefreshError): what the
   * agent-facing APIs call, so agents keep syncing through a database outage.
   */
  async current(): Promise<void> {
    // A refresh in flight (an in-process write's notice starts one before the
    // write returns) is waited for: read-your-writes. Otherwise, while the
    // cache follows notices and has refreshed within the poll interval, what
    // it holds is as fresh as notices make it, and agent syncs cost no SQL.
    // While the notice channel of a shared database is down, another
    // server's write would go unseen until the next poll: syncs then refresh
    // once per UNHEARD_MAX_AGE_MS (not each: a thousand agents would keep
    // the event table busy while the database is in trouble).
    const maxAge = this.#hearsEveryChange() ? this.#intervalMs : Math.min(this.#intervalMs, UNHEARD_MAX_AGE_MS);
    // A refresh that just failed (the database is away) is not retried by every sync either.
    const last = Math.max(this.#refreshedAt, this.#failedAt);
    if (this.#running === undefined && this.#unsubscribe !== undefined && this.#clock.now() - last < maxAge) return;
    await this.refresh().catch((err: unknown) => {
      this.#failedAt = this.#clock.now();
      this.#onRefreshError(err);
    });
  }

  /**
   * A refresh that also compares the index with the entry table (a digest
   * per id bucket) and repairs any difference; resolves when done.
   */
  async verify(): Promise<void> {
    this.#verifyWanted = true;
    await this.refresh();
  }

  #hearsEveryChange(): boolean {
    return !this.#shared || this.#source.followsChanges?.() === true;
  }

  async #drain(): Promise<void> {
    while (this.#dirty || this.#verifyWanted || this.#suspectBuckets.length > 0) {
      this.#dirty = false;
      if (this.#lastEventId < 0) await this.#fullLoad();
      else await this.#applyChanges();
    }
    this.#refreshedAt = this.#clock.now();
  }

  async #fullLoad(): Promise<void> {
    const snap = await this.#source.entrySnapshot();
    const index = new EntryIndex();
    for (const e of snap.entries) index.put(e);
    this.#index = index;
    this.#lastEventId = snap.lastEventId;
    this.#gaps = [];
    this.#suspectBuckets = [];
    this.#fullLoads++;
    this.#emitApplied({ all: true });
  }

  /** One snapshot's worth of events (plus the check or repair when due). */
  async #applyChanges(): Promise<void> {
    const verify = this.#verifyWanted;
    const reload = this.#suspectBuckets;
    const after = this.#lastEventId;
    const r = await this.#source.readEntryChanges({
      afterId: after,
      limit: this.#batch,
      recheck: this.#gaps.map((g) => [g.lo, g.hi] as const),
      digest: verify,
      reloadBuckets: reload,
    });
    if (r.prunedThrough > after || this.#gaps.some((g) => g.lo <= r.prunedThrough)) {
      // Events we never saw (or still waited for) were pruned: only a full load is safe.
      await this.#fullLoad();
      return;
    }
    const fresh = new Map(r.entries.map((e) => [e.id, e]));
    const changed = new Set<string>();
    let next = after;
    for (const ev of r.events) {
      if (ev.id > after) {
        if (ev.id > next + 1) this.#gaps.push({ lo: next + 1, hi: ev.id - 1, xmax: r.horizon?.xmax ?? 0n, seen: new Set() });
        next = ev.id;
        changed.add(ev.entryId);
      } else {
        const gap = this.#gaps.find((g) => g.lo <= ev.id && ev.id <= g.hi);
        if (gap === undefined || gap.seen.has(ev.id)) continue;
        gap.seen.add(ev.id);
        changed.add(ev.entryId);
      }
    }
    const applied: EntryChange[] = [];
    for (const id of changed) {
      const before = this.#index.get(id);
      const e = fresh.get(id);
      if (e === undefined) this.#index.remove(id);
      else this.#index.put(e);
      if (before !== e) applied.push({ before, after: e });
    }
    this.#emitApplied({ all: false, entries: applied });
    this.#lastEventId = next;
    // A gap is final once every transaction that could have filled it has finished.
    this.#gaps = r.horizon === undefined ? [] : this.#gaps.filter((g) => r.horizon!.xmin < g.xmax);
    if (changed.size > 0) this.#incremental++;
    const complete = r.events.filter((e) => e.id > after).length < this.#batch;
    if (!complete) this.#dirty = true;
    if (this.#gaps.length > MAX_GAPS) {
      await this.#fullLoad();
      return;
    }
    // The index now equals the snapshot (unless the batch was cut short): compare and repair.
    if (!complete) return;
    if (reload.length > 0 && r.bucketEntries !== undefined) {
      this.#suspectBuckets = [];
      this.#repair(reload, r.bucketEntries);
    }
    if (verify && r.digests !== undefined) {
      this.#verifyWanted = false;
      this.#checks++;
      this.#suspectBuckets = this.#mismatchedBuckets(r.digests);
    }
  }

  #mismatchedBuckets(db: ReadonlyMap<string, string>): string[] {
    const b = new DigestBuilder();
    for (const e of this.#index.values()) b.add(e.id, e.revisionNumber);
    const mine = b.result();
    return [...new Set([...mine.keys(), ...db.keys()])].filter((k) => mine.get(k) !== db.get(k));
  }

  #repair(buckets: readonly string[], dbEntries: readonly RegistrationEntry[]): void {
    const wanted = new Set(buckets);
    const db = new Map(dbEntries.map((e) => [e.id, e]));
    const stale: string[] = [];
    const missing: string[] = [];
    const outdated: string[] = [];
    const applied: EntryChange[] = [];
    for (const e of [...this.#index.values()]) {
      if (!wanted.has(entryBucket(e.id))) continue;
      const d = db.get(e.id);
      if (d === undefined) {
        stale.push(e.id);
        this.#index.remove(e.id);
        applied.push({ before: e, after: undefined });
      } else if (d.revisionNumber !== e.revisionNumber) {
        outdated.push(e.id);
        applied.push({ before: e, after: d });
      }
    }
    for (const d of db.values()) {
      if (this.#index.get(d.id) === undefined) {
        missing.push(d.id);
        applied.push({ before: undefined, after: d });
      }
      this.#index.put(d);
    }
    this.#emitApplied({ all: false, entries: applied });
    const n = stale.length + missing.length + outdated.length;
    if (n === 0) return;
    this.#repaired += n;
    this.#onDrift({ stale, missing, outdated });
  }

  #background(): void {
    this.refresh().catch(this.#onRefreshError);
  }

  /** Follows change notices at once, polls every refreshIntervalMs and checks consistency every verifyIntervalMs. */
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
    if (this.#verifyIntervalMs > 0) {
      const check = () => {
        this.verify().catch(this.#onRefreshError);
        this.#verifyTimer = this.#clock.setTimeout(check, this.#verifyIntervalMs);
      };
      this.#verifyTimer = this.#clock.setTimeout(check, this.#verifyIntervalMs);
    }
  }

  /** Stops following changes; a refresh in flight completes. */
  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#verifyTimer?.cancel();
    this.#verifyTimer = undefined;
    if (this.#running !== undefined) await this.#running.catch(this.#onRefreshError);
  }
}
