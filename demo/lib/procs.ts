// Child processes of the demo: started from the same bin/ launchers a user
// runs, logs written to files in the demo's directory, stopped together.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { callUnary, udsClient } from '../../src/cli/grpc-client.ts';
import { Services, type ServiceName } from '../../src/common/grpc/protos.ts';

export const ROOT = join(import.meta.dirname, '../..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export class ProcessGroup {
  readonly #procs: { name: string; proc: ChildProcess }[] = [];
  readonly #dir: string;

  constructor(logDir: string) {
    this.#dir = logDir;
  }

  /** Starts a process with stdout/stderr appended to <logDir>/<name>.log. */
  start(name: string, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    const log = createWriteStream(join(this.#dir, `${name}.log`), { flags: 'a' });
    const proc = spawn(cmd, args, { cwd: opts.cwd ?? this.#dir, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.pipe(log, { end: false });
    proc.stderr!.pipe(log, { end: false });
    proc.once('exit', () => log.end());
    this.#procs.push({ name, proc });
    return proc;
  }

  /** Names of processes that exited although nobody stopped them. */
  exited(): string[] {
    return this.#procs.filter((p) => p.proc.exitCode !== null || p.proc.signalCode !== null).map((p) => p.name);
  }

  async stopAll(): Promise<void> {
    for (const { proc } of [...this.#procs].reverse()) {
      if (proc.exitCode !== null || proc.signalCode !== null) continue;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
  }
}

/** Waits until grpc.health.v1 on a Unix socket says SERVING (a minute: a loaded 2-core machine starts six daemons at once). */
export async function waitHealthy(socket: string, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = udsClient(Services.health, socket);
    try {
      if ((await callUnary<{ status: string }>(c, 'Check', {}, undefined, 1000)).status === 'SERVING') return;
    } catch {
      // not up yet
    } finally {
      c.close();
    }
    if (Date.now() > deadline) throw new Error(`${what} did not become ready within ${timeoutMs / 1000} s (see its log in the demo directory)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One admin call on a server's admin socket. */
export async function admin<T>(socket: string, service: ServiceName, method: string, req: object): Promise<T> {
  const c = udsClient(service, socket);
  try {
    return await callUnary<T>(c, method, req);
  } finally {
    c.close();
  }
}

/** Throws on the first failed item of a SPIRE batch response. */
export function batchOk(res: { results: { status: { code: number; message: string } }[] }, what: string): void {
  const bad = res.results.find((r) => r.status.code !== 0);
  if (bad) throw new Error(`${what}: ${bad.status.message}`);
}
