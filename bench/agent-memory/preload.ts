// Loaded into the agent under measurement (NODE_OPTIONS=--import) by
// bench/agent-memory/run.ts, never by the product: on SIGUSR2 it writes the
// V8 heap figures to HERALD_BENCH_MEM_OUT and, with HERALD_BENCH_HEAP_SNAPSHOT
// set, a heap snapshot to that path (before the figures file, which tells
// the bench it is done). node:v8 is loaded on the signal, after the bench
// has read RSS: loaded at start it would add its own few MB to it.
import { writeFileSync } from 'node:fs';

const out = process.env.HERALD_BENCH_MEM_OUT;
if (out) {
  process.on('SIGUSR2', () => {
    void import('node:v8').then(({ getHeapSpaceStatistics, getHeapStatistics, writeHeapSnapshot }) => {
      const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { used: s.space_used_size, committed: s.physical_space_size }]));
      const stats = { memoryUsage: process.memoryUsage(), heap: getHeapStatistics(), spaces };
      const snapshot = process.env.HERALD_BENCH_HEAP_SNAPSHOT;
      if (snapshot) writeHeapSnapshot(snapshot);
      writeFileSync(out, JSON.stringify(stats));
    });
  });
}
