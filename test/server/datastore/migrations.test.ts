// The migration runner with synthetic migrations on a real SQLite file:
// ordered steps, idempotent re-runs, a failed step rolled back whole.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.ts';
import { migrate, readSchemaVersion, SCHEMA_VERSION_TABLE, type Migration } from '../../../src/server/datastore/migrations/runner.ts';
import type { SqlConnection } from '../../../src/server/datastore/sql/connection.ts';
import { openSqliteConnection } from '../../../src/server/datastore/sqlite.ts';
import { makeTempDir } from '../../helpers/tmp.ts';
import { caught } from './conformance/fixture.ts';

const step = (version: number, description: string, ...statements: string[]): Migration => ({ version, description, statements: () => statements });
const m1 = step(1, 'one', 'CREATE TABLE a (x INTEGER)', 'INSERT INTO a (x) VALUES (1)');
const m2 = step(2, 'two', 'CREATE TABLE b (y INTEGER)');

describe('migration runner', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let conn: SqlConnection;
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const tables = () => conn.read('t', async (q) => (await q.all(`SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('a', 'b', 'c') ORDER BY name`)).map((r) => r.name));
  const versions = () => conn.read('v', async (q) => (await q.all(`SELECT version, description, applied_at FROM ${SCHEMA_VERSION_TABLE} ORDER BY version`)));

  beforeEach(async () => {
    tmp = await makeTempDir('herald-mig-');
    conn = openSqliteConnection({ path: join(tmp.path, 'db.sqlite3') });
  });
  afterEach(async () => {
    await conn.close();
    await tmp.cleanup();
  });

  it('applies pending steps in order, once', async () => {
    expect(await readSchemaVersion(conn)).toBe(0);
    expect(await migrate(conn, [m1], clock)).toBe(1);
    expect(await migrate(conn, [m1, m2], clock)).toBe(2);
    expect(await migrate(conn, [m1, m2], clock)).toBe(2);
    expect(await tables()).toEqual(['a', 'b']);
    expect(await conn.read('n', (q) => q.all('SELECT x FROM a'))).toEqual([{ x: 1 }]);
    expect(await versions()).toEqual([
      { version: 1, description: 'one', applied_at: Date.UTC(2026, 0, 1) / 1000 },
      { version: 2, description: 'two', applied_at: Date.UTC(2026, 0, 1) / 1000 },
    ]);
    expect(await readSchemaVersion(conn)).toBe(2);
  });

  it('rolls back a failed step whole and stays at the previous version', async () => {
    await migrate(conn, [m1], clock);
    const broken = step(2, 'broken', 'CREATE TABLE c (z INTEGER)', 'INSERT INTO missing_table VALUES (1)');
    const err = await caught(() => migrate(conn, [m1, broken], clock));
    expect(err).toMatchObject({ code: 'ERR_DATASTORE_MIGRATION', message: 'datastore: migration to schema version 2 (broken) failed' });
    expect(String((err.cause as Error).message)).toMatch(/no such table: missing_table/);
    expect(await readSchemaVersion(conn)).toBe(1);
    expect(await tables()).toEqual(['a']);
  });

  it('refuses a list with gaps or out of order', async () => {
    expect(await caught(() => migrate(conn, [m2], clock))).toMatchObject({ name: 'TypeError', message: 'migrate: migration #0 has version 2, expected 1' });
    expect(await readSchemaVersion(conn)).toBe(0);
  });

  it('refuses a database newer than the list', async () => {
    await migrate(conn, [m1, m2], clock);
    expect(await caught(() => migrate(conn, [m1], clock))).toMatchObject({ code: 'ERR_DATASTORE_SCHEMA_TOO_NEW' });
  });
});
