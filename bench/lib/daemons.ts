// Daemons a benchmark starts: each in its own process group (so that its
// children go with it), output to a log file, tracked in `live` so that the
// benchmark can kill what is left when it exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';

export function killGroup(p: ChildProcess, sig: NodeJS.Signals): void {
  try {
    process.kill(-p.pid!, sig);
  } catch {
    // gone
  }
}

/** Starts `cmd` detached, stdout and stderr appended to `log`; it stays in `live` until it exits. */
export function startDaemon(live: Set<ChildProcess>, cmd: string, args: string[], log: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const fd = openSync(log, 'a');
  const p = spawn(cmd, args, { stdio: ['ignore', fd, fd], detached: true, env });
  live.add(p);
  p.once('exit', () => live.delete(p));
  return p;
}

/** SIGTERM to the group, SIGKILL after 10 s; resolves once it exited. */
export async function stopDaemon(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  killGroup(p, 'SIGTERM');
  const t = setTimeout(() => killGroup(p, 'SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}
