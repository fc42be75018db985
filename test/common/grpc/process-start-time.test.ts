import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  isSameProcess,
  parseProcStatStartTime,
  processStartTime,
  processStartTimeSync,
  ProcessStartTimeError,
} from '../../../src/common/grpc/process-start-time.ts';
import { startProcess } from '../../helpers/process.ts';

// Above the largest pid_max Linux allows (2^22), so never a live process.
const NO_SUCH_PID = 4_194_304 + 1;

/** A /proc/PID/stat line with `comm` and field 22 = `start`. */
function statLine(comm: string, start: string): string {
  const fields = ['S', ...Array.from({ length: 18 }, (_, i) => String(i + 4)), start, '23', '24'];
  return `77 (${comm}) ${fields.join(' ')}\n`;
}

describe('parseProcStatStartTime', () => {
  it.each([
    ['a plain command', 'node', '98765'],
    ['spaces in the command', 'my worker', '1'],
    ['parentheses in the command', 'a) (b', '42'],
    ['a command that looks like fields', ') S 1 2 3', '555'],
  ])('finds field 22 with %s', (_name, comm, start) => {
    expect(parseProcStatStartTime(statLine(comm, start), 77)).toBe(Number(start));
  });

  it.each([
    ['no command field', '77 node S 1 2', 'grpc: /proc/77/stat has no command field'],
    ['too few fields', '77 (node) S 1 2 3', 'grpc: /proc/77/stat has no valid start time (field 22)'],
    ['a non-numeric start time', statLine('node', 'x1'), 'grpc: /proc/77/stat has no valid start time (field 22)'],
  ])('throws ProcessStartTimeError for %s', (_name, line, message) => {
    expect(() => parseProcStatStartTime(line, 77)).toThrow(ProcessStartTimeError);
    expect(() => parseProcStatStartTime(line, 77)).toThrow(
      expect.objectContaining({ code: 'ERR_PROCESS_STAT_UNREADABLE', message }),
    );
  });

  it('agrees with the real /proc/self/stat', () => {
    const raw = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    const expected = Number(raw.slice(raw.lastIndexOf(')') + 2).split(' ')[19]);
    expect(parseProcStatStartTime(raw, process.pid)).toBe(expected);
  });
});

describe('processStartTime', () => {
  it('is stable for a live process and the same sync and async', async () => {
    const start = await processStartTime(process.pid);
    expect(start).toBeGreaterThan(0);
    expect(processStartTimeSync(process.pid)).toBe(start);
    expect(await processStartTime(process.pid)).toBe(start);
  });

  it('is undefined for a pid that does not exist', async () => {
    expect(await processStartTime(NO_SUCH_PID)).toBeUndefined();
    expect(processStartTimeSync(NO_SUCH_PID)).toBeUndefined();
  });

  it('tells a process apart from its successor: undefined once it has exited', async () => {
    const child = startProcess(process.execPath, ['-e', 'console.log("up"); setInterval(() => {}, 1000)']);
    try {
      await child.waitForOutput('up');
      const start = await processStartTime(child.pid);
      expect(start).toBeGreaterThanOrEqual((await processStartTime(process.pid))!);
      expect(await isSameProcess(child.pid, start)).toBe(true);
      expect(await isSameProcess(child.pid, start! + 1)).toBe(false);
    } finally {
      await child.stop('SIGKILL');
    }
    expect(await processStartTime(child.pid)).toBeUndefined();
  });

  it('isSameProcess is false when the start time was never known', async () => {
    expect(await isSameProcess(process.pid, undefined)).toBe(false);
  });

  it.each([0, -1, 1.5, Number.NaN])('throws TypeError for pid %s', async (pid) => {
    await expect(processStartTime(pid)).rejects.toThrow(
      new TypeError(`grpc: pid must be a positive integer, got ${String(pid)}`),
    );
    expect(() => processStartTimeSync(pid)).toThrow(TypeError);
  });
});
