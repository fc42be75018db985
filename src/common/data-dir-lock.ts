// One daemon of a kind per data_dir. Two herald-servers on one data_dir each
// rewrite keys.json and the journal with their own CA keys, and after a
// restart the CA key no longer matches its certificate; two agents overwrite
// each other's SVID. So each daemon takes an exclusive lock on data_dir at
// start and holds it until it stops. The lock is per program: a server and an
// agent may share a data_dir (SPIRE's shipped server.conf and agent.conf both
// say "./.data"); their files do not overlap.
//
// The mechanism: a POSIX record lock (fcntl F_SETLK) on `data_dir/<program>.lock`,
// taken through node:sqlite — an exclusive transaction that is never
// committed. Why this and not a pid file:
//  - the kernel drops the lock when the process dies, however it dies
//    (SIGKILL, OOM, power loss): a stale lock can never block a restart, and
//    there is no "is pid N still us?" guess (pids are reused, and a pid from
//    another pid namespace — two containers sharing a volume — looks dead and
//    would be stolen while its holder still writes);
//  - record locks hold across pid namespaces on one filesystem, and on NFS
//    through lockd, where flock(2) may be local-only;
//  - node:sqlite is built into Node: no native addon, no helper process (an
//    flock(1) child would outlive a SIGKILLed parent unless tied to a pipe).
// SQLite's unix VFS also makes two connections of one process conflict, so a
// second daemon started in-process (tests) is refused too.
// The holder's pid and start time go to `<program>.lock.pid`, only to name the
// holder in the refusal: the lock, not that file, decides.
import { readFile, rm } from 'node:fs/promises';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { HeraldError, errorMessage } from './errors.ts';
import { writeFileAtomic } from './fs.ts';
import { processStartTime } from './grpc/process-start-time.ts';

/** `herald-server.lock`, `herald-agent.lock`. */
export const lockFile = (program: string): string => `${program}.lock`;
/** Who holds the lock, to name it in a refusal. */
export const lockHolderFile = (program: string): string => `${program}.lock.pid`;

export const DataDirLockCode = {
  /** Another live process holds the lock. */
  Locked: 'ERR_FAILED_PRECONDITION_DATA_DIR_LOCKED',
  /** The lock file cannot be created or locked (permissions, read-only filesystem). */
  Unusable: 'ERR_UNAVAILABLE_DATA_DIR_LOCK',
} as const;

export class DataDirLockError extends HeraldError {}

export interface DataDirLock {
  readonly dir: string;
  /** Releases the lock (idempotent). */
  release(): Promise<void>;
}

interface Holder {
  pid: number;
  start_time?: number;
  program: string;
  started_at: string;
}

const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;

/** Takes the exclusive lock on `dir` for `program` ("herald-server", "herald-agent"), or throws naming the holder. */
export async function lockDataDir(dir: string, program: string): Promise<DataDirLock> {
  const path = join(dir, lockFile(program));
  const holderPath = join(dir, lockHolderFile(program));
  let db: DatabaseSync;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    db = new DatabaseSync(path, { timeout: 0 });
  } catch (err) {
    throw new DataDirLockError(DataDirLockCode.Unusable, `${program}: cannot create the data_dir lock ${path}: ${errorMessage(err)}${errnoOf(path)}`, { cause: err });
  }
  try {
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    // Never committed: the exclusive lock lives as long as the connection.
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    const code = ((err as { errcode?: number }).errcode ?? -1) & 0xff;
    if (code === SQLITE_BUSY || code === SQLITE_LOCKED) {
      throw new DataDirLockError(
        DataDirLockCode.Locked,
        `${program}: data_dir ${dir} is in use by ${await describeHolder(holderPath)}; two daemons of a kind on one data_dir overwrite each other's keys — stop the other one, or give this one its own data_dir`,
        { cause: err },
      );
    }
    throw new DataDirLockError(DataDirLockCode.Unusable, `${program}: cannot lock data_dir ${dir} (${path}): ${errorMessage(err)}${errnoOf(path)}`, { cause: err });
  }
  const holder: Holder = { pid: process.pid, program, started_at: new Date().toISOString() };
  const startTime = await processStartTime(process.pid).catch(() => undefined);
  if (startTime !== undefined) holder.start_time = startTime;
  try {
    await writeFileAtomic(holderPath, JSON.stringify(holder) + '\n', { mode: 0o644 });
  } catch {
    // Only informational: a full disk must not stop a restart (reads still serve).
    // Drop what an earlier holder left, so a refusal names no stale pid.
    await rm(holderPath, { force: true }).catch(() => undefined);
  }
  let released = false;
  return {
    dir,
    async release() {
      if (released) return;
      released = true;
      // The holder file first: once the lock is free another daemon may write its own.
      await rm(holderPath, { force: true }).catch(() => undefined);
      db.close();
    },
  };
}

/** SQLite says only "unable to open database file": the errno an ordinary open for writing meets (" (EROFS)"), if any. */
function errnoOf(path: string): string {
  try {
    closeSync(openSync(path, 'a', 0o644));
    return '';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? ` (${code})` : '';
  }
}

/** "herald-server (pid 1234, running since …)", or "another process" when the holder file says nothing useful. */
async function describeHolder(holderPath: string): Promise<string> {
  let h: Partial<Holder>;
  try {
    h = JSON.parse(await readFile(holderPath, 'utf8')) as Partial<Holder>;
  } catch {
    return 'another process (its pid is not recorded yet)';
  }
  if (typeof h.pid !== 'number' || !Number.isInteger(h.pid) || h.pid <= 0) return 'another process';
  const program = typeof h.program === 'string' ? h.program : 'another process';
  const since = typeof h.started_at === 'string' ? `, running since ${h.started_at}` : '';
  // The pid is as seen from the holder's pid namespace; say so when ours does not show it.
  let visible: boolean;
  try {
    const st = await processStartTime(h.pid);
    visible = st !== undefined && (h.start_time === undefined || st === h.start_time);
  } catch {
    visible = false;
  }
  return `${program} (pid ${h.pid}${since}${visible ? '' : ', in another pid namespace or host'})`;
}
