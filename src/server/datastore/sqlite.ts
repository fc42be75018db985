// SQLite datastore on Node's built-in node:sqlite (DatabaseSync). One
// connection per store; every operation runs under an in-process queue so
// statements of concurrent async calls never interleave inside a transaction.
// Writes take the lock up front (BEGIN IMMEDIATE). While another connection
// holds it, BEGIN is retried on timers — never a synchronous busy wait that
// would stall the event loop — for up to busyTimeoutMs, then the call fails
// cleanly with ERR_DATASTORE_BUSY.
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeraldError } from '../../common/errors.ts';
import { systemClock, type Clock } from '../../common/clock.ts';
import type { DataStore } from './datastore.ts';
import { DataStoreCode, dataStoreError, missingDatastore, storageError, transientError } from './errors.ts';
import { latestMigrations } from './migrations/index.ts';
import { migrate, SCHEMA_VERSION_TABLE } from './migrations/runner.ts';
import type { Row, SqlConnection, SqlDialect, SqlQuery, SqlValue } from './sql/connection.ts';
import { SqlDataStore, type ListenerErrorHandler } from './sql/sql-datastore.ts';
import type { StorageEvents } from './storage-health.ts';

export interface SqliteDataStoreOptions {
  /** Database file (created with its directory), a `file:` URI, or ':memory:'. */
  readonly path: string;
  readonly clock?: Clock;
  /** How long a writer waits for another process's write lock. Default 5000 ms. */
  readonly busyTimeoutMs?: number;
  /** Extra `PRAGMA name = value` applied after the defaults (e.g. max_page_count). */
  readonly pragmas?: Readonly<Record<string, string | number>>;
  readonly onListenerError?: ListenerErrorHandler;
  /** Told about every storage failure and committed write (readiness). */
  readonly storageEvents?: StorageEvents | undefined;
  /**
   * Why the database must already hold data (e.g. "the CA journal … exists"):
   * then a missing file or one with no schema (0 bytes) is refused with
   * ERR_DATASTORE_MISSING instead of being created empty.
   */
  readonly existingDataExpected?: string | undefined;
}

export const sqliteDialect: SqlDialect = {
  name: 'sqlite',
  autoIncrementPk: 'INTEGER PRIMARY KEY AUTOINCREMENT',
  binaryText: 'TEXT',
};

const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_CONSTRAINT = 19;

// Result codes that mean the storage failed, not the statement
// (https://sqlite.org/rescode.html); extended codes add `n << 8`.
const STORAGE_CODES: Readonly<Record<number, string>> = { 8: 'SQLITE_READONLY', 10: 'SQLITE_IOERR', 11: 'SQLITE_CORRUPT', 13: 'SQLITE_FULL', 14: 'SQLITE_CANTOPEN', 26: 'SQLITE_NOTADB' };
const EXTENDED_NAMES: Readonly<Record<number, string>> = {
  [8 | (1 << 8)]: 'SQLITE_READONLY_RECOVERY', [8 | (2 << 8)]: 'SQLITE_READONLY_CANTLOCK', [8 | (3 << 8)]: 'SQLITE_READONLY_ROLLBACK',
  [8 | (4 << 8)]: 'SQLITE_READONLY_DBMOVED', [8 | (5 << 8)]: 'SQLITE_READONLY_CANTINIT', [8 | (6 << 8)]: 'SQLITE_READONLY_DIRECTORY',
  [10 | (1 << 8)]: 'SQLITE_IOERR_READ', [10 | (2 << 8)]: 'SQLITE_IOERR_SHORT_READ', [10 | (3 << 8)]: 'SQLITE_IOERR_WRITE',
  [10 | (4 << 8)]: 'SQLITE_IOERR_FSYNC', [10 | (5 << 8)]: 'SQLITE_IOERR_DIR_FSYNC', [10 | (6 << 8)]: 'SQLITE_IOERR_TRUNCATE',
  [10 | (7 << 8)]: 'SQLITE_IOERR_FSTAT', [10 | (10 << 8)]: 'SQLITE_IOERR_DELETE', [10 | (13 << 8)]: 'SQLITE_IOERR_ACCESS',
  [10 | (15 << 8)]: 'SQLITE_IOERR_LOCK', [10 | (18 << 8)]: 'SQLITE_IOERR_SHMOPEN', [10 | (19 << 8)]: 'SQLITE_IOERR_SHMSIZE',
  [10 | (21 << 8)]: 'SQLITE_IOERR_SHMMAP', [10 | (22 << 8)]: 'SQLITE_IOERR_SEEK', [10 | (24 << 8)]: 'SQLITE_IOERR_MMAP',
  [11 | (1 << 8)]: 'SQLITE_CORRUPT_VTAB', [14 | (1 << 8)]: 'SQLITE_CANTOPEN_NOTEMPDIR', [14 | (2 << 8)]: 'SQLITE_CANTOPEN_ISDIR',
};

interface SqliteDriverError {
  errcode?: number;
  errstr?: string;
  message?: string;
}

/**
 * Maps a node:sqlite error onto a DataStoreError (domain errors and
 * TypeErrors pass through). `diagnose`, for storage failures, returns the OS
 * errno behind them (SQLite reports ENOSPC as SQLITE_FULL but EROFS or EIO
 * only as some SQLITE_IOERR_*).
 */
export function translateSqliteError(op: string, err: unknown, diagnose?: () => string | undefined): Error {
  if (err instanceof HeraldError || err instanceof TypeError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as SqliteDriverError;
  const primary = (e.errcode ?? -1) & 0xff;
  const detail = e.message ?? String(err);
  switch (primary) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return transientError(DataStoreCode.Busy, `${op}: ${detail}`, err);
    case SQLITE_CONSTRAINT:
      return dataStoreError(DataStoreCode.Query, `${op}: constraint violated: ${detail}`, { cause: err });
  }
  const storage = STORAGE_CODES[primary];
  if (storage === undefined) return dataStoreError(DataStoreCode.Query, `${op}: ${detail}`, { cause: err });
  const errno = diagnose?.();
  const causes = [EXTENDED_NAMES[e.errcode!] ?? storage, ...(errno ? [errno] : [])];
  return storageError(op, causes, err, e.errstr ?? detail);
}

/**
 * The errno a small write next to the database meets now (ENOSPC, EROFS,
 * EIO, …), or undefined when it succeeds. Run only on the failure path.
 */
export function diagnoseDirectory(dir: string): string | undefined {
  const probe = join(dir, `.herald-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  let fd: number | undefined;
  try {
    fd = openSync(probe, 'wx', 0o600);
    writeSync(fd, PROBE_BYTES);
    fsyncSync(fd);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  } finally {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        /* already reported */
      }
      try {
        unlinkSync(probe);
      } catch {
        /* nothing was created, or the filesystem just went read-only */
      }
    }
  }
}

/** diagnoseDirectory off the event loop, for the periodic check (an fsync may take a while on a busy disk). */
export async function diagnoseDirectoryAsync(dir: string): Promise<string | undefined> {
  const probe = join(dir, `.herald-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(probe, 'wx', 0o600);
    await fh.write(PROBE_BYTES);
    await fh.sync();
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  } finally {
    if (fh !== undefined) {
      await fh.close().catch(() => undefined);
      await unlink(probe).catch(() => undefined);
    }
  }
}

/** A page's worth: a one-byte write can fit in a block the filesystem already has. */
const PROBE_BYTES = Buffer.alloc(4096);

function isBusy(err: unknown): boolean {
  const code = (err as SqliteDriverError | undefined)?.errcode;
  return typeof code === 'number' && ((code & 0xff) === SQLITE_BUSY || (code & 0xff) === SQLITE_LOCKED);
}

/** SQLite's own busy handler only covers short internal waits; lock waits are async retries. */
const DRIVER_BUSY_TIMEOUT_MS = 10;

class SqliteConnection implements SqlConnection {
  readonly dialect = sqliteDialect;
  readonly #db: DatabaseSync;
  readonly #busyTimeoutMs: number;
  readonly #statements = new Map<string, StatementSync>();
  readonly #arrayStatements = new Map<string, StatementSync>();
  #tail: Promise<void> = Promise.resolve();
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #query: SqlQuery;
  /** The database file's directory (undefined in memory): where a failing write is diagnosed. */
  readonly #dir: string | undefined;
  readonly #diagnose: (() => string | undefined) | undefined;

  constructor(db: DatabaseSync, busyTimeoutMs: number, dir: string | undefined) {
    this.#db = db;
    this.#busyTimeoutMs = busyTimeoutMs;
    this.#dir = dir;
    this.#diagnose = dir === undefined ? undefined : () => diagnoseDirectory(dir);
    this.#query = {
      all: async (sql, params = []) => this.#prepare(sql).all(...(params as SqlValue[])) as Row[],
      get: async (sql, params = []) => this.#prepare(sql).get(...(params as SqlValue[])) as Row | undefined,
      run: async (sql, params = []) => Number(this.#prepare(sql).run(...(params as SqlValue[])).changes),
      // RETURNING is markedly slower than lastInsertRowid in node:sqlite.
      insert: async (sql, params = []) => Number(this.#prepare(sql).run(...(params as SqlValue[])).lastInsertRowid),
      rows: async (sql, params = []) => this.#prepare(sql, true).all(...(params as SqlValue[])) as unknown as unknown[][],
    };
  }

  #prepare(sql: string, arrays = false): StatementSync {
    const cache = arrays ? this.#arrayStatements : this.#statements;
    let s = cache.get(sql);
    if (s === undefined) {
      s = this.#db.prepare(sql);
      if (arrays) s.setReturnArrays(true);
      // Dynamic IN lists make many shapes; keep the cache bounded.
      if (cache.size < 2000) cache.set(sql, s);
    }
    return s;
  }

  /** One operation at a time on this connection. */
  async #exclusive<T>(op: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw dataStoreError(DataStoreCode.Closed, `${op}: datastore is closed`);
    const prev = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((r) => { release = r; });
    await prev;
    try {
      if (this.#closed) throw dataStoreError(DataStoreCode.Closed, `${op}: datastore is closed`);
      return await fn();
    } finally {
      release();
    }
  }

  /** BEGIN, retried with backoff while another connection holds the write lock. */
  async #begin(op: string, begin: string): Promise<void> {
    let waited = 0;
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      try {
        this.#db.exec(begin);
        return;
      } catch (err) {
        if (!isBusy(err) || waited >= this.#busyTimeoutMs) throw translateSqliteError(op, err, this.#diagnose);
      }
      const d = Math.min(delay, this.#busyTimeoutMs - waited);
      await sleep(d);
      waited += d;
    }
  }

  async #transaction<T>(op: string, begin: string, body: (q: SqlQuery) => Promise<T>): Promise<T> {
    return this.#exclusive(op, async () => {
      await this.#begin(op, begin);
      let result: T;
      try {
        result = await body(this.#query);
        this.#db.exec('COMMIT');
      } catch (err) {
        throw this.#rollback(op, err);
      }
      return result;
    });
  }

  /** Rolls back (unless SQLite already did, as it may on FULL/BUSY) and returns the error to throw. */
  #rollback(op: string, err: unknown): Error {
    const translated = translateSqliteError(op, err, this.#diagnose);
    if (!this.#db.isTransaction) return translated;
    try {
      this.#db.exec('ROLLBACK');
    } catch (rollbackErr) {
      return dataStoreError(DataStoreCode.Query, `${op}: rollback failed after: ${translated.message}`, {
        cause: new AggregateError([translated, rollbackErr]),
      });
    }
    return translated;
  }

  write<T>(op: string, body: (q: SqlQuery) => Promise<T>): Promise<T> {
    return this.#transaction(op, 'BEGIN IMMEDIATE', body);
  }

  read<T>(op: string, body: (q: SqlQuery) => Promise<T>, options: { snapshot?: boolean } = {}): Promise<T> {
    if (options.snapshot) return this.#transaction(op, 'BEGIN', body);
    return this.#exclusive(op, async () => {
      try {
        return await body(this.#query);
      } catch (err) {
        throw translateSqliteError(op, err, this.#diagnose);
      }
    });
  }

  /** A small write beside the database file: catches a full or read-only disk the WAL's spare room would hide. */
  async checkStorage(): Promise<void> {
    if (this.#dir === undefined) return;
    const errno = await diagnoseDirectoryAsync(this.#dir);
    if (errno !== undefined) throw storageError('storage check', [errno], undefined, `cannot write in ${this.#dir}`);
  }

  close(): Promise<void> {
    // Queued operations finish first; later calls share the one close.
    this.#closing ??= this.#exclusive('close', async () => {
      this.#closed = true;
      this.#statements.clear();
      this.#arrayStatements.clear();
      this.#db.close();
    });
    return this.#closing;
  }
}

/** Whether the file holds Herald's schema, looked at read-only (a 0-byte file opens as a database with no tables). */
function hasHeraldSchema(file: string): boolean {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(file, { readOnly: true });
    return db.prepare(`SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?`).get(SCHEMA_VERSION_TABLE) !== undefined;
  } catch {
    // Unreadable (locked, corrupt): the normal open reports it.
    return true;
  } finally {
    db?.close();
  }
}

/** The database file of a path or `file:` URI; undefined for in-memory databases. */
function databaseFile(path: string): string | undefined {
  if (path === ':memory:') return undefined;
  if (!path.startsWith('file:')) return path;
  const url = new URL(path);
  if (url.searchParams.get('mode') === 'memory' || url.pathname === ':memory:') return undefined;
  return decodeURIComponent(url.pathname);
}

function busyTimeout(options: SqliteDataStoreOptions): number {
  return Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000));
}

function openDatabase(options: SqliteDataStoreOptions): DatabaseSync {
  const { path } = options;
  let location: string | URL = path;
  if (path.startsWith('file:')) location = new URL(path);
  else if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(location, { enableForeignKeyConstraints: true });
  } catch (err) {
    throw dataStoreError(DataStoreCode.Open, `cannot open SQLite database ${JSON.stringify(path)}: ${(err as Error).message}`, { cause: err });
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.min(DRIVER_BUSY_TIMEOUT_MS, busyTimeout(options))}`);
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA foreign_keys = ON');
    db.exec('PRAGMA synchronous = FULL');
    for (const [name, value] of Object.entries(options.pragmas ?? {})) {
      if (!/^[a-z_]+$/.test(name)) throw new TypeError(`openSqliteDataStore: invalid pragma name ${JSON.stringify(name)}`);
      if (typeof value === 'string' && !/^[A-Za-z0-9_]+$/.test(value)) {
        throw new TypeError(`openSqliteDataStore: invalid value for pragma ${name}`);
      }
      db.exec(`PRAGMA ${name} = ${value}`);
    }
  } catch (err) {
    db.close();
    throw translateSqliteError('open', err);
  }
  return db;
}

/** A bare connection, not migrated (for the migration runner and its tests). */
export function openSqliteConnection(options: SqliteDataStoreOptions): SqlConnection {
  const file = databaseFile(options.path);
  return new SqliteConnection(openDatabase(options), busyTimeout(options), file === undefined ? undefined : dirname(file));
}

/** Opens (creating and migrating as needed) a SQLite datastore. */
export async function openSqliteDataStore(options: SqliteDataStoreOptions): Promise<DataStore> {
  const clock = options.clock ?? systemClock;
  const expected = options.existingDataExpected;
  const file = databaseFile(options.path);
  // Checked before opening, which would create the file or (journal_mode = WAL) write a header into an empty one.
  if (expected !== undefined && file !== undefined) {
    if (!existsSync(file)) throw missingDatastore(`the SQLite datastore ${file} does not exist`, expected);
    if (!hasHeraldSchema(file)) throw missingDatastore(`the SQLite datastore ${file} is empty (${statSync(file).size} bytes, no Herald schema)`, expected);
  }
  const conn = openSqliteConnection(options);
  try {
    await migrate(conn, latestMigrations, clock);
  } catch (err) {
    await conn.close();
    throw err;
  }
  return new SqlDataStore(conn, { clock, onListenerError: options.onListenerError, storageEvents: options.storageEvents });
}
