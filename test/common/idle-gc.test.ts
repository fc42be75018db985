import { describe, expect, it } from 'vitest';
import { IdleGcPolicy, collectAndShrink, exposedGc, startIdleGc, type IdleGcSample } from '../../src/common/idle-gc.ts';

const gc = exposedGc();

const MB = 1024 * 1024;
/** Feeds `ticks` (utilization, RSS in MB) one second apart; returns the ticks at which the policy collected. */
function run(policy: IdleGcPolicy, ticks: [number, number][], gcMs = 50): number[] {
  const at: number[] = [];
  ticks.forEach(([utilization, rss], i) => {
    const s: IdleGcSample = { nowMs: i * 1000, utilization, rssBytes: rss * MB };
    if (policy.shouldCollect(s)) {
      at.push(i);
      policy.collected(s.nowMs, s.nowMs + gcMs);
    }
  });
  return at;
}

describe('idle GC policy', () => {
  it('collects once the loop has been quiet for idleTicks after growth, not while busy', () => {
    expect(run(new IdleGcPolicy({ growthBytes: 8 * MB }), [[0.9, 100], [0.9, 120], [0.01, 120], [0.01, 120], [0.01, 120]])).toEqual([3]);
  });

  it('a busy tick starts the quiet count again', () => {
    expect(run(new IdleGcPolicy({ growthBytes: 8 * MB }), [[0.01, 120], [0.5, 120], [0.01, 120], [0.01, 120]])).toEqual([3]);
  });

  it('collects again only after the process grew by growthBytes over the size measured after the last GC', () => {
    // GC at tick 1; tick 2 reads the floor (90); +5 MB is not enough, +10 MB is.
    expect(run(new IdleGcPolicy({ growthBytes: 8 * MB }), [[0, 120], [0, 120], [0, 90], [0, 95], [0, 95], [0.9, 100], [0, 100], [0, 100]])).toEqual([1, 7]);
  });

  it('work in the confirmation stretch cancels the GC and starts the quiet count again', () => {
    const policy = new IdleGcPolicy({ growthBytes: 8 * MB });
    const tick = (i: number) => policy.shouldCollect({ nowMs: i * 1000, utilization: 0.01, rssBytes: 120 * MB });
    expect([tick(0), tick(1)]).toEqual([false, true]);
    expect(policy.confirm(0.6)).toBe(false);
    expect(tick(2)).toBe(false);
    expect(tick(3)).toBe(true);
    expect(policy.confirm(0.01)).toBe(true);
  });

  it('spaces forced GCs so that they take at most maxGcShare of wall time', () => {
    // A 5 s GC at 1 % waits 500 s: the growth at tick 3 finds no GC before then.
    const ticks: [number, number][] = [[0, 120], [0, 120], [0, 90], [0, 200], [0, 200], [0, 200]];
    expect(run(new IdleGcPolicy({ growthBytes: 8 * MB }), ticks, 5000)).toEqual([1]);
    expect(run(new IdleGcPolicy({ growthBytes: 8 * MB }), ticks, 10)).toEqual([1, 3]);
  });
});

describe('idle GC', () => {
  it('collectAndShrink collects unreachable objects', async () => {
    let target: object | undefined = { big: new Array(1000).fill('x') };
    const ref = new WeakRef(target);
    target = undefined;
    // A WeakRef keeps its target for the rest of the job that created it.
    await new Promise((r) => setImmediate(r));
    collectAndShrink(gc);
    expect(ref.deref()).toBeUndefined();
  });

  it('runs one GC on a quiet event loop, and stop() ends it', async () => {
    const gcs: number[] = [];
    const idle = startIdleGc({ tickMs: 20, idleTicks: 2, growthBytes: 0, maxGcShare: 1, confirmMs: 10, gc }, (ms) => gcs.push(ms));
    try {
      for (let i = 0; i < 250 && gcs.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(gcs.length).toBeGreaterThan(0);
      expect(gcs[0]).toBeGreaterThanOrEqual(0);
    } finally {
      idle.stop();
    }
    const n = gcs.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(gcs.length).toBe(n);
  });
});
