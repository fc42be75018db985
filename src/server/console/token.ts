// The console's credential: a random token in data_dir/console.token (0600),
// made on the first start with a console and kept across restarts so a
// bookmarked link keeps working; delete the file and restart to change it.
// Reading data_dir already makes one the server's administrator (keys,
// datastore), so the token grants nothing its holder could not read anyway;
// with the loopback-only bind, a process on the host also needs this file.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HeraldError, errorMessage } from '../../common/errors.ts';
import { writeFileAtomic } from '../../common/fs.ts';
import type { ConsoleConfig } from './config.ts';

export const CONSOLE_TOKEN_FILE = 'console.token';
export const LOGIN_PATH = '/login';

export function consoleTokenPath(dataDir: string): string {
  return join(dataDir, CONSOLE_TOKEN_FILE);
}

/** The token in data_dir, or undefined when the file does not exist. */
export async function readConsoleToken(dataDir: string): Promise<string | undefined> {
  try {
    const t = (await readFile(consoleTokenPath(dataDir), 'utf8')).trim();
    return t === '' ? undefined : t;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new HeraldError('ERR_FAILED_PRECONDITION_CONSOLE', `console: cannot read ${consoleTokenPath(dataDir)}: ${errorMessage(err)}`, { cause: err });
  }
}

/** The token in data_dir, created (256 random bits) when missing. */
export async function loadOrCreateConsoleToken(dataDir: string): Promise<string> {
  const existing = await readConsoleToken(dataDir);
  if (existing !== undefined) return existing;
  const token = randomBytes(32).toString('base64url');
  await writeFileAtomic(consoleTokenPath(dataDir), token + '\n', { mode: 0o600 });
  return token;
}

/** Constant-time comparison, so response timing does not reveal a prefix. */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The login link `herald-server console url` prints. */
export function consoleLoginUrl(c: Pick<ConsoleConfig, 'address' | 'port'>, token: string): string {
  const host = c.address.includes(':') ? `[${c.address}]` : c.address;
  return `http://${host}:${c.port}${LOGIN_PATH}?token=${encodeURIComponent(token)}`;
}
