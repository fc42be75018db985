// The console token: made once (0600), kept across restarts, compared in constant time.
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { consoleLoginUrl, loadOrCreateConsoleToken, readConsoleToken, tokenMatches } from '../../../src/server/console/token.ts';
import { makeTempDir } from '../../helpers/tmp.ts';

let tmp: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await makeTempDir('herald-console-token-');
});
afterEach(async () => {
  await tmp.cleanup();
});

describe('console token', () => {
  it('is created with 256 random bits, mode 0600, and read back unchanged', async () => {
    expect(await readConsoleToken(tmp.path)).toBeUndefined();
    const t = await loadOrCreateConsoleToken(tmp.path);
    expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await stat(join(tmp.path, 'console.token'))).mode & 0o777).toBe(0o600);
    expect(await loadOrCreateConsoleToken(tmp.path)).toBe(t);
    expect(await readConsoleToken(tmp.path)).toBe(t);
    const other = await makeTempDir('herald-console-token-');
    try {
      expect(await loadOrCreateConsoleToken(other.path)).not.toBe(t);
    } finally {
      await other.cleanup();
    }
  });

  it('an empty file counts as missing and gets a new token', async () => {
    await writeFile(join(tmp.path, 'console.token'), '\n');
    expect(await readConsoleToken(tmp.path)).toBeUndefined();
    expect(await loadOrCreateConsoleToken(tmp.path)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('matches only the exact token', () => {
    expect(tokenMatches('abc', 'abc')).toBe(true);
    for (const wrong of [undefined, '', 'ab', 'abd', 'abcd']) expect(tokenMatches('abc', wrong)).toBe(false);
  });

  it('builds the login link, bracketing IPv6', () => {
    expect(consoleLoginUrl({ address: '127.0.0.1', port: 8090 }, 'a-b_c')).toBe('http://127.0.0.1:8090/login?token=a-b_c');
    expect(consoleLoginUrl({ address: '::1', port: 8090 }, 't')).toBe('http://[::1]:8090/login?token=t');
  });
});
