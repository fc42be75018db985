// Operations per second of `fn`, run back to back for `seconds` after a
// warm-up: the measuring loop of the single-core micro-benchmarks.
export async function rate(fn: () => unknown, seconds: number, warmup = 50): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  let n = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    await fn();
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}
