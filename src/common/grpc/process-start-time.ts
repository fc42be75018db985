// Pid-reuse guard. A pid names a process only while it lives; after it exits
// the kernel may hand the same pid to another process. The start time
// (/proc/PID/stat field 22, clock ticks since boot) tells two holders of one
// pid apart: attest, then check the start time is still the one recorded
// when the connection was accepted.

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { HeraldError } from '../errors.ts';

export const ProcessStartTimeErrorCode = {
  /** /proc/PID/stat exists but could not be read or parsed. */
  UNREADABLE: 'ERR_PROCESS_STAT_UNREADABLE',
} as const;
export type ProcessStartTimeErrorCode =
  (typeof ProcessStartTimeErrorCode)[keyof typeof ProcessStartTimeErrorCode];

export class ProcessStartTimeError extends HeraldError {
  declare readonly code: ProcessStartTimeErrorCode;

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ProcessStartTimeErrorCode.UNREADABLE, `grpc: ${message}`, options);
  }
}

/** Field 22 of a /proc/PID/stat line (starttime), or throws ProcessStartTimeError. */
export function parseProcStatStartTime(stat: string, pid: number): number {
  // Field 2 is "(comm)" and comm may hold spaces and ')', so split after the
  // last ')'. What follows starts with field 3 (state).
  const close = stat.lastIndexOf(')');
  if (close < 0) {
    throw new ProcessStartTimeError(`/proc/${pid}/stat has no command field`);
  }
  const fields = stat.slice(close + 1).trim().split(/\s+/);
  const raw = fields[22 - 3];
  if (raw === undefined || !/^\d{1,16}$/.test(raw)) {
    throw new ProcessStartTimeError(`/proc/${pid}/stat has no valid start time (field 22)`);
  }
  return Number(raw);
}

/**
 * Start time of `pid` in clock ticks since boot; undefined when no such
 * process exists (or it is hidden from us by the /proc mount's hidepid).
 */
export async function processStartTime(pid: number): Promise<number | undefined> {
  checkPid(pid);
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    return missing(err, pid);
  }
  return parseProcStatStartTime(stat, pid);
}

/** Synchronous processStartTime, for the accept path (one small /proc read). */
export function processStartTimeSync(pid: number): number | undefined {
  checkPid(pid);
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    return missing(err, pid);
  }
  return parseProcStatStartTime(stat, pid);
}

/**
 * True when `pid` is still the process that had start time `startTime`:
 * false if it exited, or if the pid now belongs to another process, or if
 * the start time was never known.
 */
export async function isSameProcess(pid: number, startTime: number | undefined): Promise<boolean> {
  if (startTime === undefined) return false;
  return (await processStartTime(pid)) === startTime;
}

function checkPid(pid: number): void {
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new TypeError(`grpc: pid must be a positive integer, got ${String(pid)}`);
  }
}

// ENOENT: no such process. ESRCH: it exited while we opened the file.
function missing(err: unknown, pid: number): undefined {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT' || code === 'ESRCH') return undefined;
  throw new ProcessStartTimeError(`cannot read /proc/${pid}/stat`, { cause: err });
}
