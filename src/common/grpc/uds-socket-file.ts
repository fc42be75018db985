// The socket file behind a uds-server: clearing a stale one, binding so the
// file only appears with its final mode, and removing it only while it is
// still ours.

import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import { chmod, link, lstat, mkdtemp, rm, unlink } from 'node:fs/promises';
import { connect, type Server } from 'node:net';
import { dirname, join, parse, resolve, sep } from 'node:path';
import { HeraldError } from '../errors.ts';

/** The subset of a pino logger these helpers use. */
export interface SocketFileLogger {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

export const UdsServerErrorCode = {
  ADDRESS_IN_USE: 'ERR_UDS_ADDRESS_IN_USE',
  PATH_NOT_SOCKET: 'ERR_UDS_PATH_NOT_SOCKET',
  PATH_TOO_LONG: 'ERR_UDS_PATH_TOO_LONG',
  LISTEN_FAILED: 'ERR_UDS_LISTEN_FAILED',
  UNSAFE_DIRECTORY: 'ERR_UDS_UNSAFE_DIRECTORY',
} as const;
export type UdsServerErrorCode = (typeof UdsServerErrorCode)[keyof typeof UdsServerErrorCode];

export class UdsServerError extends HeraldError {
  declare readonly code: UdsServerErrorCode;

  constructor(code: UdsServerErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, `grpc: ${message}`, options);
  }
}

/**
 * The operator's opt-in to a socket directory that other users could
 * write to (or that another user owns): `HERALD_ALLOW_INSECURE_SOCKET_DIR=1`
 * in the daemon's environment (and the CLI's, for the owner check).
 */
export const ALLOW_INSECURE_SOCKET_DIR_ENV = 'HERALD_ALLOW_INSECURE_SOCKET_DIR';

export function insecureSocketDirAllowed(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const v = env[ALLOW_INSECURE_SOCKET_DIR_ENV];
  return v === '1' || v === 'true';
}

/**
 * Refuses an admin socket's directory that another local user controls: a
 * user who can write to it (or to an ancestor that is not sticky, like a
 * 0777 /tmp/herald-server) can move the socket away and listen in its
 * place, and the operator's CLI would then talk to the impostor. Every
 * directory from `dir` up to / must be owned by this process's uid or root;
 * `dir` itself must not be writable by group or other, an ancestor only if
 * it is sticky (/tmp). Symbolic links on the way must be ours or root's too.
 * Returns the problems found (empty = safe).
 */
export function socketDirectoryProblems(dir: string, uid: number = process.getuid?.() ?? 0, depth = 0): string[] {
  const problems: string[] = [];
  // Symbolic links are followed a bounded number of times (a loop is a problem, not a hang).
  if (depth > 8) return [`too many symbolic links resolving ${dir}`];
  const owners = new Set([uid, 0]);
  const describe = (path: string, st: Stats): string => `${path} (owner uid ${st.uid}, mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`;
  let path = resolve(dir);
  const root = parse(path).root;
  let first = true;
  for (;;) {
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch (err) {
      problems.push(`cannot inspect ${path}: ${(err as Error).message}`);
      break;
    }
    if (!owners.has(st.uid)) {
      problems.push(`${describe(path, st)} is owned by another user (not ${uid === 0 ? 'root' : `uid ${uid} or root`})`);
    } else if (st.isSymbolicLink()) {
      // An own or root's link: where it points is checked as well.
      let target: string;
      try {
        target = resolve(dirname(path), readlinkSync(path));
      } catch (err) {
        problems.push(`cannot read link ${path}: ${(err as Error).message}`);
        break;
      }
      problems.push(...socketDirectoryProblems(target, uid, depth + 1).filter((p) => !problems.includes(p)));
    } else if (st.isDirectory()) {
      const othersWrite = (st.mode & 0o022) !== 0;
      const sticky = (st.mode & 0o1000) !== 0;
      if (othersWrite && (first || !sticky)) problems.push(`${describe(path, st)} is writable by ${st.mode & 0o020 ? (st.mode & 0o002 ? 'group and other users' : 'its group') : 'other users'}`);
    } else {
      problems.push(`${path} is not a directory`);
    }
    first = false;
    if (path === root) break;
    const parent = dirname(path);
    if (parent === path || !path.includes(sep)) break;
    path = parent;
  }
  return problems;
}

/**
 * Throws unless `dir` is safe for a private (admin) socket, or the operator
 * opted in with HERALD_ALLOW_INSECURE_SOCKET_DIR=1 (then `logger` warns).
 */
export function checkSocketDirectory(dir: string, what: string, logger?: SocketFileLogger, env: Readonly<Record<string, string | undefined>> = process.env): void {
  const problems = socketDirectoryProblems(dir);
  if (problems.length === 0) return;
  if (insecureSocketDirAllowed(env)) {
    logger?.warn({ socket_dir: dir, problems, [ALLOW_INSECURE_SOCKET_DIR_ENV]: env[ALLOW_INSECURE_SOCKET_DIR_ENV] }, `Using an ${what} directory that other users can change (${ALLOW_INSECURE_SOCKET_DIR_ENV} is set)`);
    return;
  }
  throw new UdsServerError(
    UdsServerErrorCode.UNSAFE_DIRECTORY,
    `refusing to use ${dir} for the ${what}: ${problems.join('; ')}. Another local user could replace the socket and impersonate this process to its CLI. ` +
      `Use a directory owned by ${(process.getuid?.() ?? 0) === 0 ? 'root' : `uid ${process.getuid?.()} or root`} and not writable by others (chmod go-w), or set ${ALLOW_INSECURE_SOCKET_DIR_ENV}=1 if this is intended`,
  );
}

/** sun_path is 108 bytes on Linux, including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Clears the way for a new socket at `path`: nothing there is fine; a socket
 * nobody listens on (left by a process that died) is removed; a live server
 * or a file that is not a socket is an error.
 */
export async function removeStaleSocket(path: string, probeTimeoutMs: number, logger: SocketFileLogger): Promise<void> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  if (!stats.isSocket()) {
    throw new UdsServerError(
      UdsServerErrorCode.PATH_NOT_SOCKET,
      `socket_path ${path} exists and is not a socket; refusing to replace it`,
    );
  }
  const state = await probeSocket(path, probeTimeoutMs);
  if (state === 'live') {
    throw new UdsServerError(
      UdsServerErrorCode.ADDRESS_IN_USE,
      `socket_path ${path} is in use by a live server`,
    );
  }
  if (state === 'stale') {
    await unlink(path).catch((err: unknown) => {
      if (errnoCode(err) !== 'ENOENT') throw err;
    });
    logger.info({ socket_path: path }, 'Removed stale socket');
  }
}

/**
 * Connects to `path` to learn whether a server listens there. A refused
 * connection means a stale file; a full backlog (EAGAIN) or no answer within
 * the bound is taken as live, so a busy server is never displaced.
 */
function probeSocket(path: string, timeoutMs: number): Promise<'live' | 'stale' | 'gone'> {
  return new Promise((resolve, reject) => {
    const probe = connect(path);
    const done = (result: 'live' | 'stale' | 'gone' | Error): void => {
      probe.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    probe.setTimeout(timeoutMs, () => done('live'));
    probe.once('connect', () => done('live'));
    probe.once('error', (err) => {
      const code = errnoCode(err);
      if (code === 'ECONNREFUSED') done('stale');
      else if (code === 'ENOENT') done('gone');
      else if (code === 'EAGAIN') done('live');
      else {
        done(
          new UdsServerError(
            UdsServerErrorCode.LISTEN_FAILED,
            `cannot tell whether a server listens on ${path}: ${err.message}`,
            { cause: err },
          ),
        );
      }
    });
  });
}

export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

/**
 * Binds `server` so that the socket appears at `path` already carrying
 * `mode`: bind inside a fresh 0700 directory next to it, chmod, hard-link
 * into place (fails rather than replacing anything that appeared meanwhile),
 * then drop the private name. If the private name would be too long for
 * sun_path, binds at `path` directly and chmods right after.
 */
export async function bindSocket(server: Server, path: string, mode: number): Promise<FileIdentity> {
  const dir = dirname(path);
  let privateDir: string;
  try {
    privateDir = await mkdtemp(join(dir, '.h'));
  } catch (err) {
    throw listenFailed(path, err);
  }
  const privatePath = join(privateDir, 's');
  try {
    if (Buffer.byteLength(privatePath) > MAX_SOCKET_PATH_BYTES) {
      await listen(server, path);
      await chmod(path, mode);
    } else {
      await listen(server, privatePath);
      await chmod(privatePath, mode);
      try {
        await link(privatePath, path);
      } catch (err) {
        server.close();
        if (errnoCode(err) === 'EEXIST') {
          throw new UdsServerError(
            UdsServerErrorCode.ADDRESS_IN_USE,
            `socket_path ${path} was taken by another server while binding`,
            { cause: err },
          );
        }
        throw listenFailed(path, err);
      }
    }
    const stats = await lstat(path);
    return { dev: stats.dev, ino: stats.ino };
  } catch (err) {
    if (server.listening) server.close();
    throw err;
  } finally {
    await rm(privateDir, { recursive: true, force: true });
  }
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(
        errnoCode(err) === 'EADDRINUSE'
          ? new UdsServerError(UdsServerErrorCode.ADDRESS_IN_USE, `socket_path ${path} is in use`, { cause: err })
          : listenFailed(path, err),
      );
    };
    server.once('error', onError);
    server.listen(path, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function listenFailed(path: string, err: unknown): UdsServerError {
  const detail = err instanceof Error ? err.message : String(err);
  return new UdsServerError(UdsServerErrorCode.LISTEN_FAILED, `cannot listen on ${path}: ${detail}`, {
    cause: err,
  });
}

/** Removes the socket file unless it was replaced by someone else's since we bound. */
export async function unlinkIfOurs(path: string, ours: FileIdentity, logger: SocketFileLogger): Promise<void> {
  try {
    const stats = await lstat(path);
    if (stats.dev !== ours.dev || stats.ino !== ours.ino) {
      logger.warn({ socket_path: path }, 'Socket file was replaced by another process; leaving it');
      return;
    }
    await unlink(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    logger.warn({ err, socket_path: path }, 'Failed to remove socket file');
  }
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}
