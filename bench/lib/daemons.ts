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

/**
 * Runs a probe (the go-spiffe client of bench/vs-spire/go) detached, tracked
 * in `live`; resolves with the last JSON line it printed once it exits 0.
 * `onReady` fires on its "ready" line; past `timeoutMs` it is killed.
 */
export function runProbe(live: Set<ChildProcess>, probeBin: string, args: string[], timeoutMs: number, onReady?: () => void): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const p = spawn(probeBin, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    live.add(p);
    let out = '';
    let err = '';
    const t = setTimeout(() => {
      killGroup(p, 'SIGKILL');
      reject(new Error(`probe ${args.join(' ')} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    p.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (onReady && out.includes('ready\n')) {
        const f = onReady;
        onReady = undefined;
        f();
      }
    });
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => {
      live.delete(p);
      clearTimeout(t);
      if (code !== 0) return reject(new Error(`probe ${args.join(' ')} exited ${code}: ${err.trim()}`));
      resolve(JSON.parse(out.split('\n').filter((l) => l.startsWith('{')).pop() ?? '{}') as Record<string, unknown>);
    });
  });
}
