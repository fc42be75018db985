// What the SQL store needs from a database: statements with `?` placeholders,
// write transactions serialised against every other writer (SQLite: BEGIN
// IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock), and reads.
// Connections translate driver errors into DataStoreError; errors thrown by
// the body (domain errors) pass through after the rollback.

export type SqlValue = string | number | null;
export type Row = Record<string, unknown>;

export interface SqlQuery {
  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  get(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined>;
  /** Runs an INSERT of one row into a table whose key column is `pk`; returns the new pk. */
  insert(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** Rows as arrays in select-list order (cheaper for large reads). */
  rows(sql: string, params?: readonly SqlValue[]): Promise<unknown[][]>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

export interface SqlDialect {
  readonly name: 'sqlite' | 'postgres';
  /** Column definition of an auto-incrementing 64-bit primary key whose values are never reused. */
  readonly autoIncrementPk: string;
  /** Text type that sorts and compares by bytes (keyset pagination by name). */
  readonly binaryText: string;
}

export interface WriteOptions {
  /**
   * Serialise only against writes with the same key, not against every
   * writer. For records no other write reads or orders against (an agent's
   * record and selectors, a join token); entry and bundle writes never set
   * it (their event ids must follow commit order). SQLite serialises all
   * writes regardless.
   */
  readonly lockKey?: string;
}

export interface ReadOptions {
  /** All statements of the body see one consistent snapshot. */
  readonly snapshot?: boolean;
  /**
   * No write transaction is in flight while the body runs (PostgreSQL: waits
   * for the current writer and holds new ones off), so what it reads has no
   * event ids still to commit below the highest it sees. For whole-table
   * loads of the entry cache.
   */
  readonly quiesce?: boolean;
}

export interface SqlConnection {
  readonly dialect: SqlDialect;
  /**
   * Runs `body` in a write transaction, one writer at a time across all
   * processes sharing the database. Commits when it resolves, rolls back when
   * it throws. `op` names the operation in error messages.
   */
  write<T>(op: string, body: (q: SqlQuery) => Promise<T>, options?: WriteOptions): Promise<T>;
  read<T>(op: string, body: (q: SqlQuery) => Promise<T>, options?: ReadOptions): Promise<T>;
  /** Checks the storage under the database beyond what a transaction shows (SQLite: a write beside the file); throws its storage error. */
  checkStorage?(): Promise<void>;
  /**
   * Follows change notices sent by other processes (changeNoticeSql), with
   * the kind and, for per-record notices, the record (an agent's SPIFFE ID);
   * kind `undefined` after every (re)connection, since notices sent while
   * disconnected are lost. `onState` hears when the channel is up (every
   * notice committed since is delivered) and when it is lost. Returns the
   * function that stops following.
   */
  watchChangeNotices?(onNotice: (kind: string | undefined, subject?: string) => void, onState?: (connected: boolean) => void): () => Promise<void>;
  /**
   * The statement run in a write transaction to tell other processes what it
   * changed, at commit (PostgreSQL NOTIFY; this connection's own notices are
   * not passed to its watchChangeNotices). `subject`: the one record changed.
   */
  changeNoticeSql?(kinds: readonly string[], subject?: string): { readonly sql: string; readonly params: readonly SqlValue[] };
  close(): Promise<void>;
}

/** `(?, ?, …)` for n values. */
export function placeholders(n: number): string {
  if (n <= 0) throw new TypeError('placeholders: n must be positive');
  return '(' + '?, '.repeat(n - 1) + '?)';
}

/** Numbers come back as number (SQLite) or string (PostgreSQL int8/COUNT). */
export function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' || typeof v === 'bigint') return Number(v);
  throw new TypeError(`datastore: expected a number column, got ${typeof v}`);
}

export function str(v: unknown): string {
  if (typeof v === 'string') return v;
  throw new TypeError(`datastore: expected a text column, got ${typeof v}`);
}

/** Splits a list into chunks so statements stay under parameter limits. */
export function chunks<T>(items: readonly T[], size = 500): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
