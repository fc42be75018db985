// Child processes for end-to-end tests: output captured for assertions and
// for the failure message, killed (whole process group) on cleanup.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { waitFor } from './wait.ts';

export interface RunningProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  waitForOutput(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  exited(): Promise<number | null>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
}

export function startProcess(cmd: string, args: string[], opts: SpawnOptions = {}): RunningProcess {
  const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let exitedFlag = false;
  void exit.then(() => { exitedFlag = true; });
  return {
    child,
    pid: child.pid!,
    output: () => out,
    waitForOutput: (pattern, timeoutMs = 20_000) =>
      waitFor(`${cmd} output ${String(pattern)}`, () => {
        if (exitedFlag && !(typeof pattern === 'string' ? out.includes(pattern) : pattern.test(out))) {
          throw new Error(`process exited; output:\n${out}`);
        }
        return typeof pattern === 'string' ? (out.includes(pattern) ? out : undefined) : (pattern.test(out) ? out : undefined);
      }, { timeoutMs }),
    exited: () => exit,
    async stop(signal = 'SIGTERM', timeoutMs = 5_000) {
      if (exitedFlag) return;
      try { process.kill(-child.pid!, signal); } catch { return; }
      const t = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ } }, timeoutMs);
      await exit;
      clearTimeout(t);
    },
  };
}

/** Runs a command to completion and returns its exit code and output. */
export function runCommand(cmd: string, args: string[], opts: SpawnOptions & { input?: string; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${cmd} ${args.join(' ')} timed out\n${stdout}\n${stderr}`)); }, opts.timeoutMs ?? 60_000);
    child.on('error', (err) => { clearTimeout(t); reject(err); });
    child.on('exit', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
    // A child that exits before reading its stdin makes the write fail with EPIPE; that is not a test failure.
    child.stdin!.on('error', (err) => { stderr += `\n(stdin: ${err.message})`; });
    child.stdin!.end(opts.input ?? '');
  });
}
