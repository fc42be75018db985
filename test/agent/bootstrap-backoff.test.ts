// The agent's bootstrap backoff is SPIRE 1.13's (pkg/agent/agent.go with
// pkg/common/backoff, i.e. cenkalti/backoff v4's ExponentialBackOff):
// 5 s first, ×1.5, ±10 % jitter, and no wait that would end more than a
// minute after the first attempt.
import { describe, expect, it } from 'vitest';
import { BOOTSTRAP_BACKOFF, backoffRun } from '../../src/agent/manager.ts';

/** Every wait of one run, time moving only by the waits (and `attemptMs` per attempt). */
function waits(random: () => number, attemptMs = 0): number[] {
  let now = 0;
  const run = backoffRun(BOOTSTRAP_BACKOFF, () => now, random);
  const out: number[] = [];
  for (;;) {
    now += attemptMs;
    const w = run.next();
    if (w === undefined) return out;
    out.push(w);
    now += w;
  }
}

describe('bootstrap backoff (SPIRE agent.go)', () => {
  it('is 5 s, then ×1.5, and stops once a wait would end past one minute', () => {
    // No jitter (random 0.5): 5, 7.5, 11.25, 16.875 → 40.625 s; the next (25.3 s) would end at 65.9 s.
    expect(waits(() => 0.5)).toEqual([5_000, 7_500, 11_250, 16_875]);
  });

  it('jitters each wait by ±10 %', () => {
    expect(waits(() => 0)[0]).toBeCloseTo(4_500);
    expect(waits(() => 1)[0]).toBeCloseTo(5_500);
  });

  it('counts the attempts\' own time against the minute', () => {
    // 5 s per attempt: 5+5, +5+7.5, +5+11.25 = 38.75 s; then 5 + 16.875 would end at 60.6 s.
    expect(waits(() => 0.5, 5_000)).toEqual([5_000, 7_500, 11_250]);
  });

  it('matches SPIRE\'s constants', () => {
    expect(BOOTSTRAP_BACKOFF).toEqual({ initialMs: 5_000, multiplier: 1.5, jitter: 0.1, maxIntervalMs: 120_000, maxElapsedMs: 60_000 });
  });
});
