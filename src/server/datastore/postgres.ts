// PostgreSQL datastore on a `pg` Pool: the same SQL store and migrations as
// SQLite. Write transactions take one transaction-scoped advisory lock, so
// writers from every server sharing the database are serialised (the same
// guarantee SQLite's BEGIN IMMEDIATE gives) and entry event ids are
// allocated in commit order.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { HeraldError } from '../../common/errors.ts';
import { systemClock, type Clock } from '../../common/clock.ts';
import type { DataStore } from './datastore.ts';
import { DataStoreCode, dataStoreError, missingDatastore, storageError, transientError } from './errors.ts';
import { latestMigrations } from './migrations/index.ts';
import { migrate, readSchemaVersion } from './migrations/runner.ts';
import type { ReadOptions, Row, SqlConnection, SqlDialect, SqlQuery, SqlValue, WriteOptions } from './sql/connection.ts';
import { SqlDataStore, type ListenerErrorHandler } from './sql/sql-datastore.ts';
import type { StorageEvents } from './storage-health.ts';

export interface PostgresDataStoreOptions {
  /** libpq-style URI or key=value string. */
  readonly connectionString: string;
  readonly clock?: Clock;
  /** Pool size. Default 10. */
  readonly maxConnections?: number;
  /** How long to wait for a connection. Default 10000 ms. */
  readonly connectionTimeoutMs?: number;
  readonly onListenerError?: ListenerErrorHandler;
  /** Told about every storage failure and committed write (readiness). */
  readonly storageEvents?: StorageEvents | undefined;
  /** An idle pooled connection failed (the pool replaces it). Default: a process warning. */
  readonly onPoolError?: (err: Error) => void;
  /** Why the database must already hold data: then one with no Herald schema is refused (ERR_DATASTORE_MISSING). */
  readonly existingDataExpected?: string | undefined;
}

/**
 * LISTEN/NOTIFY channel of change notices; payload "<origin> <kind>", or
 * "<origin> <kind> <agent SPIFFE ID>" for an agent's record or selectors. A
 * wake-up or an invalidation only, never data: the tables (for entries, the
 * event table) are the truth.
 */
export const CHANGE_NOTICE_CHANNEL = 'herald_changes';

export const postgresDialect: SqlDialect = {
  name: 'postgres',
  autoIncrementPk: 'BIGSERIAL PRIMARY KEY',
  binaryText: 'TEXT COLLATE "C"',
};

/** Reconnect backoff of the notice channel: doubling from the first, capped, with full jitter. */
const WATCH_BACKOFF_MS = { first: 100, max: 5_000 };
/** How often the notice connection is probed, and how long a probe may take. */
const WATCH_HEARTBEAT_MS = 5_000;

/** Advisory lock key serialising Herald writers ("HRLD"). */
export const WRITE_LOCK_KEY = '1213352004';
/** First key of the two-key advisory locks of keyed writes (WriteOptions.lockKey); apart from WRITE_LOCK_KEY's space. */
const KEYED_LOCK_CLASS = 1213352005;

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** Maps a pg / network error onto a DataStoreError (domain errors and TypeErrors pass through). */
export function translatePostgresError(op: string, err: unknown): Error {
  if (err instanceof HeraldError || err instanceof TypeError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const detail = typeof e.message === 'string' ? e.message : String(err);
  if (NETWORK_CODES.has(code) || code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || /Connection terminated|timeout exceeded when trying to connect|encountered a connection error and is not queryable/i.test(detail)) {
    return transientError(DataStoreCode.Unavailable, `${op}: database unavailable: ${detail}`, err);
  }
  if (code === '40001' || code === '40P01' || code === '55P03') return transientError(DataStoreCode.Busy, `${op}: ${detail}`, err);
  // 53300 too_many_connections: the server is there but will not take us now.
  if (code === '53300') return transientError(DataStoreCode.Unavailable, `${op}: database unavailable: ${detail}`, err);
  // 53100 disk_full and the other "insufficient resources"; 25006 read_only_sql_transaction
  // (a standby, default_transaction_read_only); 58030 io_error.
  if (code.startsWith('53') || code === '25006' || code === '58030') return storageError(op, [`SQLSTATE ${code}`], err, detail);
  if (code.startsWith('23')) return dataStoreError(DataStoreCode.Query, `${op}: constraint violated: ${detail}`, { cause: err });
  return dataStoreError(DataStoreCode.Query, `${op}: ${detail}`, { cause: err });
}

interface Queryable {
  query(config: { text: string; values: unknown[]; rowMode?: 'array' }): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

class PostgresConnection implements SqlConnection {
  readonly dialect = postgresDialect;
  readonly #pool: pg.Pool;
  readonly #texts = new Map<string, string>();
  readonly #connectionString: string;
  readonly #onPoolError: (err: Error) => void;
  /** Notice payload naming this connection, so its own notices are not echoed back to it. */
  readonly #noticeOrigin = randomUUID();
  #closed = false;

  constructor(pool: pg.Pool, connectionString: string, onPoolError: (err: Error) => void) {
    this.#pool = pool;
    this.#connectionString = connectionString;
    this.#onPoolError = onPoolError;
    pool.on('error', (err) => {
      // pool.end() resolves before every socket is closed; a server-side
      // termination of such a connection after close() is not news.
      if (!this.#closed) onPoolError(err);
    });
  }

  /** `?` → `$n` (Herald's SQL has no `?` inside literals). */
  #text(sql: string): string {
    let t = this.#texts.get(sql);
    if (t === undefined) {
      let n = 0;
      t = sql.replace(/\?/g, () => `$${++n}`);
      if (this.#texts.size < 2000) this.#texts.set(sql, t);
    }
    return t;
  }

  #query(db: Queryable): SqlQuery {
    const exec = (sql: string, params: readonly SqlValue[] = [], arrays = false) =>
      db.query({ text: this.#text(sql), values: params as SqlValue[], ...(arrays ? { rowMode: 'array' as const } : {}) });
    return {
      all: async (sql, params) => (await exec(sql, params)).rows as Row[],
      get: async (sql, params) => (await exec(sql, params)).rows[0] as Row | undefined,
      run: async (sql, params) => (await exec(sql, params)).rowCount ?? 0,
      insert: async (sql, params) => Number(((await exec(`${sql} RETURNING pk`, params, true)).rows[0] as unknown[])[0]),
      rows: async (sql, params) => (await exec(sql, params, true)).rows as unknown[][],
    };
  }

  async #connect(op: string): Promise<pg.PoolClient> {
    if (this.#closed) throw dataStoreError(DataStoreCode.Closed, `${op}: datastore is closed`);
    try {
      return await this.#pool.connect();
    } catch (err) {
      throw translatePostgresError(op, err);
    }
  }

  async #transaction<T>(op: string, begin: readonly (string | { text: string; values: unknown[] })[], body: (q: SqlQuery) => Promise<T>): Promise<T> {
    const client = await this.#connect(op);
    let broken: Error | undefined;
    // A checked-out client has no pool error listener: a server shutdown
    // between statements would be an unhandled 'error' event (a crash).
    const onError = (err: Error) => {
      broken = err;
    };
    client.on('error', onError);
    try {
      for (const statement of begin) await client.query(statement);
      const result = await body(this.#query(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      const translated = translatePostgresError(op, err);
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        // The connection is unusable: drop it from the pool rather than reuse it.
        broken = rollbackErr as Error;
      }
      throw translated;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  write<T>(op: string, body: (q: SqlQuery) => Promise<T>, options: WriteOptions = {}): Promise<T> {
    if (options.lockKey !== undefined) {
      // Writers of the same record queue on its own lock; everyone else goes on.
      return this.#transaction(op, ['BEGIN', { text: `SELECT pg_advisory_xact_lock(${KEYED_LOCK_CLASS}, hashtext($1))`, values: [options.lockKey] }], body);
    }
    // pg_current_xact_id() gives the transaction its id before it allocates
    // any entry event id: a cache that sees a gap in event ids can then tell
    // from its snapshot's xmax whether the writer may still commit.
    return this.#transaction(op, ['BEGIN', `SELECT pg_advisory_xact_lock(${WRITE_LOCK_KEY}), pg_current_xact_id()`], body);
  }

  changeNoticeSql(kinds: readonly string[], subject?: string): { sql: string; params: string[] } {
    // Parameters: a subject (a SPIFFE ID) may contain a quote.
    const payloads = kinds.map((k) => `${this.#noticeOrigin} ${k}${subject === undefined ? '' : ` ${subject}`}`);
    return { sql: `SELECT ${payloads.map(() => `pg_notify('${CHANGE_NOTICE_CHANNEL}', ?)`).join(', ')}`, params: payloads };
  }

  watchChangeNotices(onNotice: (kind: string | undefined, subject?: string) => void, onState: (connected: boolean) => void = () => {}): () => Promise<void> {
    let stopped = false;
    let client: pg.Client | undefined;
    let timer: NodeJS.Timeout | undefined;
    let failures = 0;
    const retry = (err: unknown) => {
      if (stopped || timer !== undefined) return;
      const old = client;
      client = undefined;
      onState(false);
      old?.removeAllListeners();
      old?.on('error', () => {});
      void old?.end().catch(() => {});
      if (failures++ === 0) this.#onPoolError(new Error(`change notice channel (LISTEN ${CHANGE_NOTICE_CHANNEL}) lost, reconnecting: ${err instanceof Error ? err.message : String(err)}`));
      const cap = Math.min(WATCH_BACKOFF_MS.max, WATCH_BACKOFF_MS.first * 2 ** Math.min(failures, 10));
      timer = setTimeout(() => {
        timer = undefined;
        void connect();
      }, Math.random() * cap);
      timer.unref();
    };
    // A connection can die without an error (a half-open TCP connection):
    // callers trust what the notices keep fresh, so the channel is probed.
    const heartbeat = setInterval(() => {
      const c = client;
      if (c === undefined || timer !== undefined) return;
      c.query('SELECT 1').catch((err: unknown) => {
        if (client === c) retry(err);
      });
    }, WATCH_HEARTBEAT_MS);
    heartbeat.unref();
    const connect = async () => {
      const c = new pg.Client({
        connectionString: this.#connectionString,
        application_name: 'herald-server-notices',
        connectionTimeoutMillis: 10_000,
        keepAlive: true,
        query_timeout: WATCH_HEARTBEAT_MS,
      });
      client = c;
      c.on('error', retry);
      c.on('end', () => retry(new Error('connection ended')));
      c.on('notification', (n) => {
        const payload = n.payload ?? '';
        const [origin, kind] = payload.split(' ', 2);
        if (origin === this.#noticeOrigin) return;
        const rest = payload.slice(`${origin} ${kind} `.length);
        onNotice(kind, rest === '' ? undefined : rest);
      });
      try {
        await c.connect();
        await c.query(`LISTEN ${CHANGE_NOTICE_CHANNEL}`);
      } catch (err) {
        if (client === c) retry(err);
        return;
      }
      if (stopped || client !== c) return;
      failures = 0;
      onState(true);
      // Whatever was notified while we were not listening is in the tables.
      onNotice(undefined);
    };
    void connect();
    return async () => {
      stopped = true;
      clearInterval(heartbeat);
      if (timer !== undefined) clearTimeout(timer);
      const c = client;
      client = undefined;
      c?.removeAllListeners();
      c?.on('error', () => {});
      await c?.end().catch(() => {});
    };
  }

  async read<T>(op: string, body: (q: SqlQuery) => Promise<T>, options: ReadOptions = {}): Promise<T> {
    // A shared hold on the writers' lock: no Herald write commits while the
    // body's statements run, so READ COMMITTED sees one state. (REPEATABLE
    // READ would take its snapshot before the lock wait ended.)
    if (options.quiesce) return this.#transaction(op, ['BEGIN READ ONLY', `SELECT pg_advisory_xact_lock_shared(${WRITE_LOCK_KEY})`], body);
    if (options.snapshot) return this.#transaction(op, ['BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY'], body);
    if (this.#closed) throw dataStoreError(DataStoreCode.Closed, `${op}: datastore is closed`);
    try {
      return await body(this.#query(this.#pool));
    } catch (err) {
      throw translatePostgresError(op, err);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}

/** A bare connection, not migrated (for the migration runner and its tests). */
export function openPostgresConnection(options: PostgresDataStoreOptions): SqlConnection {
  if (typeof options.connectionString !== 'string' || options.connectionString === '') {
    throw new TypeError('openPostgresDataStore: connectionString is required');
  }
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    application_name: 'herald-server',
  });
  const onPoolError = options.onPoolError ?? ((err: Error) => process.emitWarning(`datastore: idle PostgreSQL connection failed: ${err.message}`, 'HeraldDataStoreWarning'));
  return new PostgresConnection(pool, options.connectionString, onPoolError);
}

/** Connects and migrates; fails with ERR_DATASTORE_UNAVAILABLE when the server cannot be reached. */
export async function openPostgresDataStore(options: PostgresDataStoreOptions): Promise<DataStore> {
  const clock = options.clock ?? systemClock;
  const conn = openPostgresConnection(options);
  try {
    if (options.existingDataExpected !== undefined && (await readSchemaVersion(conn)) === 0) {
      throw missingDatastore('the PostgreSQL datastore has no Herald schema (a new or wrong database)', options.existingDataExpected);
    }
    await migrate(conn, latestMigrations, clock);
  } catch (err) {
    await conn.close();
    throw err;
  }
  return new SqlDataStore(conn, { clock, onListenerError: options.onListenerError, storageEvents: options.storageEvents });
}
