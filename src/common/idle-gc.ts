// Gives memory back when a daemon goes quiet after a burst, as Go's runtime
// does (its scavenger). V8 leaves the heap and the young generation at their
// burst size until its own memory reducer fires, 8 s or more after the last
// full GC and only if allocation has been slow: an agent that has just
// delivered 1,000 SVIDs keeps 10-30 MB it no longer needs meanwhile, often
// until the next burst. Here: once the daemon first goes quiet after its
// start (start-up leaves garbage behind), and then whenever it has grown by
// `growthBytes` since the last forced GC, when the event loop has been
// nearly idle for `idleTicks` ticks and the `confirmMs` after the last one:
// one full GC that shrinks the heap. A busy
// process never sees one (the loop is not idle); a quiet one sees at most one
// per growth; and spacing keeps forced GCs under `maxGcShare` of wall time.
import { createRequire } from 'node:module';

export interface IdleGcOptions {
  /** Sampling period. */
  readonly tickMs?: number;
  /** Quiet ticks in a row before the GC. */
  readonly idleTicks?: number;
  /** A tick whose event-loop utilization is below this is quiet. */
  readonly idleUtilization?: number;
  /** RSS growth since the last forced GC that arms the next one. */
  readonly growthBytes?: number;
  /** Forced GCs take at most this share of wall time (a 30 ms GC waits 3 s after the previous one at 0.01). */
  readonly maxGcShare?: number;
  /**
   * The loop must also be quiet over this last stretch before the GC: a tick
   * only averages the second behind it, and work that began just before the
   * tick (an SDS fan-out still flushing its writes) must not wait for the GC.
   */
  readonly confirmMs?: number;
}

/** What one tick sees. */
export interface IdleGcSample {
  readonly nowMs: number;
  /** Event-loop utilization since the previous tick, 0-1. */
  readonly utilization: number;
  readonly rssBytes: number;
}

const DEFAULTS: Required<IdleGcOptions> = { tickMs: 1000, idleTicks: 2, idleUtilization: 0.05, growthBytes: 8 * 1024 * 1024, maxGcShare: 0.01, confirmMs: 50 };

/** The decision alone, one sample per tick: true means "collect now". */
export class IdleGcPolicy {
  private readonly o: Required<IdleGcOptions>;
  private quiet = 0;
  /** RSS after the last forced GC (read one tick later: V8 unmaps freed pages in the background); 0 = none yet, so the first quiet spell collects. */
  private floor = 0;
  private measureFloor = false;
  private lastGcEndMs = -Infinity;
  private lastGcMs = 0;

  constructor(opts: IdleGcOptions = {}) {
    this.o = { ...DEFAULTS, ...opts };
  }

  get tickMs(): number {
    return this.o.tickMs;
  }

  get confirmMs(): number {
    return this.o.confirmMs;
  }

  /** Whether the loop stayed quiet over the confirmMs after shouldCollect said yes; if not, the quiet count starts again. */
  confirm(utilization: number): boolean {
    if (utilization < this.o.idleUtilization) return true;
    this.quiet = 0;
    return false;
  }

  shouldCollect(s: IdleGcSample): boolean {
    if (this.measureFloor) {
      this.floor = s.rssBytes;
      this.measureFloor = false;
    }
    this.quiet = s.utilization < this.o.idleUtilization ? this.quiet + 1 : 0;
    return this.quiet >= this.o.idleTicks && s.rssBytes - this.floor >= this.o.growthBytes && s.nowMs - this.lastGcEndMs >= this.lastGcMs / this.o.maxGcShare;
  }

  /** A forced GC ran from `startMs` to `endMs`. */
  collected(startMs: number, endMs: number): void {
    this.lastGcEndMs = endMs;
    this.lastGcMs = endMs - startMs;
    this.quiet = 0;
    this.measureFloor = true;
  }
}

/** V8's gc() as --expose-gc defines it. */
export type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async'; flavor?: 'regular' | 'last-resort' }) => void;

/** Full GC that also shrinks the heap and the young generation ("last resort": V8's memory-reducing collection). */
export function collectAndShrink(gc: GcFunction): void {
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

/**
 * V8's gc(), obtained when first needed: --expose-gc on the command line
 * would make Node reject its built-in modules' code cache (~20 ms more CPU
 * at every start of every command, daemon or CLI), and node:v8 and node:vm,
 * loaded at start, ~2-5 MB more RSS for a daemon that may never be idle.
 * Through require: an ESM import would build each module's whole namespace.
 */
export function exposedGc(): GcFunction {
  const g = (globalThis as { gc?: GcFunction }).gc;
  if (g) return g;
  const require = createRequire(import.meta.url);
  const v8 = require('node:v8') as typeof import('node:v8');
  v8.setFlagsFromString('--expose-gc');
  const gc = (require('node:vm') as typeof import('node:vm')).runInNewContext('gc') as GcFunction;
  // Back as it was at once: V8's flag hash keys the code caches, and with the
  // flag left on every signing worker started later missed the compile
  // cache (~50-100 ms more CPU per worker start). The function stays usable.
  v8.setFlagsFromString('--no-expose-gc');
  return gc;
}

/**
 * Starts the idle collector; `gc` defaults to V8's (exposedGc, on the first
 * collection). `onCollect` hears of each forced GC (its duration).
 */
export function startIdleGc(opts: IdleGcOptions & { gc?: GcFunction } = {}, onCollect?: (gcMs: number) => void): { stop(): void } {
  let gc = opts.gc;
  const policy = new IdleGcPolicy(opts);
  // The global performance object: importing node:perf_hooks would build its whole ESM namespace (~1 MB of RSS).
  const eventLoopUtilization = performance.eventLoopUtilization.bind(performance);
  let elu = eventLoopUtilization();
  let confirming: NodeJS.Timeout | undefined;
  const timer = setInterval(() => {
    if (confirming) return;
    const next = eventLoopUtilization();
    const utilization = eventLoopUtilization(next, elu).utilization;
    elu = next;
    if (!policy.shouldCollect({ nowMs: performance.now(), utilization, rssBytes: process.memoryUsage.rss() })) return;
    const before = eventLoopUtilization();
    confirming = setTimeout(() => {
      confirming = undefined;
      if (!policy.confirm(eventLoopUtilization(eventLoopUtilization(), before).utilization)) return;
      const startMs = performance.now();
      gc ??= exposedGc();
      collectAndShrink(gc);
      const endMs = performance.now();
      policy.collected(startMs, endMs);
      // The GC's own time is not the workload's: the next tick measures from here.
      elu = eventLoopUtilization();
      onCollect?.(endMs - startMs);
    }, policy.confirmMs).unref();
  }, policy.tickMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      clearTimeout(confirming);
    },
  };
}
