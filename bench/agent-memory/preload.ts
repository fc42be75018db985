// Loaded into the agent under measurement (NODE_OPTIONS=--import) by
// bench/agent-memory/run.ts, never by the product: on SIGUSR2 it writes the
// V8 heap figures to HERALD_BENCH_MEM_OUT and, with HERALD_BENCH_HEAP_SNAPSHOT
// set, a heap snapshot to that path (after the figures: writing one grows RSS).
import { writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics, getHeapStatistics, writeHeapSnapshot } from 'node:v8';

const out = process.env.HERALD_BENCH_MEM_OUT;
if (out) {
  process.on('SIGUSR2', () => {
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { used: s.space_used_size, committed: s.physical_space_size }]));
    const snapshot = process.env.HERALD_BENCH_HEAP_SNAPSHOT;
    const stats = { memoryUsage: process.memoryUsage(), heap: getHeapStatistics(), spaces };
    if (snapshot) writeHeapSnapshot(snapshot);
    writeFileSync(out, JSON.stringify(stats));
  });
}
