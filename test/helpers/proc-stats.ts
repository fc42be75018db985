// Resident memory and open file descriptors of a process, from /proc (Linux),
// for tests that bound what a process holds under abuse or over a soak.
import { readFileSync, readdirSync } from 'node:fs';

export interface ProcStats {
  /** Resident set size, MiB. */
  rssMiB: number;
  /** Open file descriptors. */
  fds: number;
}

export function procStats(pid: number): ProcStats {
  const rssKiB = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  if (!Number.isFinite(rssKiB)) throw new Error(`procStats: /proc/${pid}/status has no VmRSS line`);
  return { rssMiB: Math.round(rssKiB / 102.4) / 10, fds: readdirSync(`/proc/${pid}/fd`).length };
}
