// Ordered, versioned schema migrations. The version table records every
// applied step; each step runs in its own write transaction (both dialects
// have transactional DDL), so a crash leaves the schema at a whole version.
// A database at a version newer than the code knows is refused.
import type { Clock } from '../../../common/clock.ts';
import { DataStoreCode, dataStoreError } from '../errors.ts';
import { num, type SqlConnection, type SqlDialect, type SqlQuery } from '../sql/connection.ts';

export interface Migration {
  /** 1, 2, 3, … with no gaps. */
  readonly version: number;
  readonly description: string;
  statements(dialect: SqlDialect): readonly string[];
}

export const SCHEMA_VERSION_TABLE = 'herald_schema_version';

function checkOrder(migrations: readonly Migration[]): number {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new TypeError(`migrate: migration #${i} has version ${m.version}, expected ${i + 1}`);
  });
  return migrations.length;
}

async function currentVersion(q: SqlQuery): Promise<number> {
  const row = await q.get(`SELECT COALESCE(MAX(version), 0) AS v FROM ${SCHEMA_VERSION_TABLE}`);
  return row === undefined ? 0 : num(row.v);
}

function tooNew(found: number, known: number): Error {
  return dataStoreError(
    DataStoreCode.SchemaTooNew,
    `database schema version ${found} is newer than the newest version this Herald knows (${known}); run a newer Herald or restore a backup`,
  );
}

/** Reads the schema version (0 for an empty database). */
export async function readSchemaVersion(conn: SqlConnection): Promise<number> {
  return conn.read('read schema version', async (q) => {
    const exists = await q.get(
      conn.dialect.name === 'sqlite'
        ? `SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?`
        : `SELECT 1 AS x FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`,
      [SCHEMA_VERSION_TABLE],
    );
    return exists === undefined ? 0 : currentVersion(q);
  });
}

/**
 * Brings the schema to the last migration's version; a no-op when it is
 * already there. Safe to run concurrently from several processes: steps are
 * serialised by the write lock and each re-reads the version first.
 * Returns the resulting version.
 */
export async function migrate(conn: SqlConnection, migrations: readonly Migration[], clock: Clock): Promise<number> {
  const latest = checkOrder(migrations);
  for (;;) {
    const done = await conn.write('migrate schema', async (q) => {
      await q.run(
        `CREATE TABLE IF NOT EXISTS ${SCHEMA_VERSION_TABLE} (version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
      );
      const version = await currentVersion(q);
      if (version > latest) throw tooNew(version, latest);
      if (version === latest) return true;
      const next = migrations[version]!;
      for (const statement of next.statements(conn.dialect)) {
        try {
          await q.run(statement);
        } catch (err) {
          throw dataStoreError(DataStoreCode.Migration, `migration to schema version ${next.version} (${next.description}) failed`, { cause: err });
        }
      }
      await q.run(`INSERT INTO ${SCHEMA_VERSION_TABLE} (version, description, applied_at) VALUES (?, ?, ?)`, [
        next.version,
        next.description,
        Math.floor(clock.now() / 1000),
      ]);
      return false;
    });
    if (done) return latest;
  }
}
