// Whether the datastore can write, for the server's readiness. Storage
// failures (disk full, read-only filesystem or database, I/O errors, an
// unreachable database) are logged once each with their cause, and make the
// server not ready until a write succeeds again; a periodic check finds a
// full or read-only disk before a client's write does, and notices recovery.
import type { Logger } from 'pino';
import type { Clock, Timer } from '../../common/clock.ts';
import { isStorageFailure, type DataStoreError } from './errors.ts';
import type { ReadOptions, SqlConnection, SqlQuery, WriteOptions } from './sql/connection.ts';

/** What the SQL store reports as it runs. */
export interface StorageEvents {
  /** A statement failed because of the storage (see isStorageFailure). */
  failed(op: string, err: DataStoreError): void;
  /** A write transaction committed. */
  wrote(): void;
}

/** The connection with every storage failure and committed write reported to `events`. */
export function monitorConnection(conn: SqlConnection, events: StorageEvents): SqlConnection {
  const report = (op: string, err: unknown): never => {
    if (isStorageFailure(err)) events.failed(op, err);
    throw err;
  };
  return {
    dialect: conn.dialect,
    async write<T>(op: string, body: (q: SqlQuery) => Promise<T>, options?: WriteOptions): Promise<T> {
      const result = await conn.write(op, body, options).catch((err: unknown) => report(op, err));
      events.wrote();
      return result;
    },
    read: <T>(op: string, body: (q: SqlQuery) => Promise<T>, options?: ReadOptions): Promise<T> => conn.read(op, body, options).catch((err: unknown) => report(op, err)),
    ...(conn.checkStorage ? { checkStorage: () => conn.checkStorage!().catch((err: unknown) => report('storage check', err)) } : {}),
    ...(conn.watchChangeNotices ? { watchChangeNotices: conn.watchChangeNotices.bind(conn) } : {}),
    ...(conn.changeNoticeSql ? { changeNoticeSql: conn.changeNoticeSql.bind(conn) } : {}),
    close: () => conn.close(),
  };
}

export interface StorageHealthOptions {
  log: Logger;
  clock: Clock;
  /** How often storage is checked while writes succeed. Default 10 s. */
  checkIntervalMs?: number;
  /** How often it is checked while it cannot write. Default 2 s. */
  recoveryIntervalMs?: number;
}

/** The datastore's side of readiness. */
export class StorageHealth implements StorageEvents {
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #checkIntervalMs: number;
  readonly #recoveryIntervalMs: number;
  #problem: { code: string; message: string } | undefined;
  #check: (() => Promise<void>) | undefined;
  #timer: Timer | undefined;
  #stopped = false;

  constructor(opts: StorageHealthOptions) {
    this.#log = opts.log;
    this.#clock = opts.clock;
    this.#checkIntervalMs = opts.checkIntervalMs ?? 10_000;
    this.#recoveryIntervalMs = opts.recoveryIntervalMs ?? 2_000;
  }

  /** True while the datastore can write (as far as the last write or check showed). */
  ready(): boolean {
    return this.#problem === undefined;
  }

  /** Why it is not ready, for logs and status output. */
  problem(): string | undefined {
    return this.#problem?.message;
  }

  failed(op: string, err: DataStoreError): void {
    // Every failure, with the driver's error as cause (never the request's data: messages carry only the operation).
    this.#log.error({ op, code: err.code, err }, `Datastore ${op} failed: ${err.message}`);
    const changed = this.#problem?.code !== err.code;
    this.#problem = { code: err.code, message: err.message };
    if (changed) {
      this.#log.warn({ code: err.code }, 'Datastore cannot write: reporting not ready until a write succeeds');
      this.#schedule();
    }
  }

  wrote(): void {
    if (this.#problem === undefined) return;
    this.#problem = undefined;
    this.#log.info({}, 'Datastore writes again: ready');
    this.#schedule();
  }

  /**
   * Checks now, then periodically: `check` writes (and checks the disk) and
   * throws the storage error when it cannot. Resolves after the first check,
   * so a server started on a full disk is not ready from the start.
   */
  async start(check: () => Promise<void>): Promise<void> {
    this.#check = check;
    await this.#run(check);
    if (this.#timer === undefined) this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#stopped || this.#check === undefined) return;
    this.#timer?.cancel();
    const check = this.#check;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#run(check).finally(() => {
        if (this.#timer === undefined) this.#schedule();
      });
    }, this.#problem ? this.#recoveryIntervalMs : this.#checkIntervalMs);
  }

  async #run(check: () => Promise<void>): Promise<void> {
    try {
      await check();
    } catch (err) {
      // Storage failures were reported through failed(); anything else is a bug worth a line.
      if (!isStorageFailure(err)) this.#log.warn({ err }, 'Datastore storage check failed');
    }
  }
}
