// `herald-agent api fetch x509 | head -n 1`: a reader that goes away must not
// turn into an uncaught EPIPE stack trace.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/herald.ts';

function runWithClosedStdout(bin: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(ROOT, 'bin', bin), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    // Close the read end before the command writes anything, as `head` does once it has its line.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('a CLI command whose stdout is closed', () => {
  it.each([
    ['herald-server', ['--help']],
    ['herald-agent', ['--help']],
    ['herald-server', ['validate', '-h']],
  ])('%s %s stops quietly with 141, as a Go binary on SIGPIPE', async (bin, args) => {
    const res = await runWithClosedStdout(bin, args);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(141);
  });
});
