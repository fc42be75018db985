// Events read from a herald-agent's log (the e2e helpers start it at DEBUG),
// so tests wait for what happened instead of sleeping: "N more syncs have
// completed" proves a window of N sync intervals has passed with the agent
// doing its work, which is what a test that asserts something does NOT
// happen needs.
import type { RunningProcess } from './process.ts';
import { waitFor } from './wait.ts';

/** How many times `text` occurs in the process's output so far. */
export function occurrences(proc: RunningProcess, text: string): number {
  return proc.output().split(text).length - 1;
}

/** Completed agent syncs in the output so far (one debug line each, across restarts). */
export function syncCount(proc: RunningProcess): number {
  return occurrences(proc, 'msg="Synced with the server"');
}

/** Waits until `n` more syncs than `from` (default: now) have completed. */
export async function waitForSyncs(proc: RunningProcess, n: number, { from = syncCount(proc), timeoutMs = 20_000 }: { from?: number; timeoutMs?: number } = {}): Promise<void> {
  await waitFor(`${n} more agent syncs`, () => syncCount(proc) >= from + n, { timeoutMs, intervalMs: 20 });
}

/** Waits until `text` occurs at least `count` times in the output. */
export async function waitForOccurrences(proc: RunningProcess, text: string, count: number, timeoutMs = 20_000): Promise<void> {
  await waitFor(`${count}× "${text}"`, () => occurrences(proc, text) >= count, { timeoutMs, intervalMs: 20 });
}
