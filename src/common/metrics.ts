// Minimal in-process counters and latency summaries, exposed by the status
// endpoints. Names are dotted (sds.push, sds.nack, ...); labels are folded
// into the name so the registry stays a flat map.

export class Metrics {
  readonly #counters = new Map<string, number>();
  /** Per name: a ring of the most recent samples and where the next one goes. */
  readonly #samples = new Map<string, { ring: number[]; next: number }>();
  static readonly MAX_SAMPLES = 1024;

  inc(name: string, by = 1): void {
    this.#counters.set(name, (this.#counters.get(name) ?? 0) + by);
  }

  counter(name: string): number {
    return this.#counters.get(name) ?? 0;
  }

  /** Records a latency sample (ms); keeps the most recent MAX_SAMPLES. */
  observe(name: string, ms: number): void {
    let s = this.#samples.get(name);
    if (!s) this.#samples.set(name, (s = { ring: [], next: 0 }));
    s.ring[s.next] = ms;
    s.next = (s.next + 1) % Metrics.MAX_SAMPLES;
  }

  snapshot(): { counters: Record<string, number>; latencies: Record<string, { count: number; p50: number; p99: number; max: number }> } {
    const latencies: Record<string, { count: number; p50: number; p99: number; max: number }> = {};
    for (const [name, s] of this.#samples) {
      const sorted = [...s.ring].sort((a, b) => a - b);
      latencies[name] = { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? 0 };
    }
    return { counters: Object.fromEntries(this.#counters), latencies };
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
