// The datastore conformance suite on SQLite (node:sqlite, a real file in a
// temp dir), plus what only SQLite has: file locking and size limits.
import { existsSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.ts';
import { GrpcCode, grpcStatusFor } from '../../../src/common/errors.ts';
import { openSqliteDataStore } from '../../../src/server/datastore/sqlite.ts';
import { makeTempDir } from '../../helpers/tmp.ts';
import { dataStoreConformance } from './conformance/suite.ts';
import { caught, id, sel, useFixture, type Backend } from './conformance/fixture.ts';

function sqliteBackend(): Backend & { file(): string } {
  let dir: { path: string; cleanup: () => Promise<void> } | undefined;
  const file = () => {
    if (dir === undefined) throw new Error('sqlite backend used before fresh()');
    return join(dir.path, 'data', 'datastore.sqlite3');
  };
  return {
    name: 'sqlite',
    file,
    async fresh() {
      dir = await makeTempDir('herald-ds-');
    },
    open: (clock) => openSqliteDataStore({ path: file(), clock }),
    async raw(sql) {
      const db = new DatabaseSync(file());
      try {
        return db.prepare(sql).all() as Record<string, unknown>[];
      } finally {
        db.close();
      }
    },
    async dispose() {
      await dir?.cleanup();
      dir = undefined;
    },
  };
}

const backend = sqliteBackend();

describe('datastore conformance: sqlite', () => {
  dataStoreConformance(() => backend);
});

describe('datastore: sqlite specifics', () => {
  const f = useFixture(() => backend);
  const input = (n: number) => ({ spiffeId: id(`spiffe://example.org/w/${n}`), parentId: id('spiffe://example.org/agent'), selectors: [sel('unix', `uid:${n}`)] });

  it('uses WAL and enforces foreign keys', async () => {
    const { backend: b } = f();
    expect(await b.raw('PRAGMA journal_mode')).toEqual([{ journal_mode: 'wal' }]);
    const err = await caught(() => b.raw(`INSERT INTO entry_federates_with (entry_pk, trust_domain) VALUES (1, 'x')`));
    expect(err.message).toBe('FOREIGN KEY constraint failed');
  });

  it('fails cleanly while another connection holds the write lock, keeping the data intact', async () => {
    const { ds: first, clock } = f();
    await first.createEntry(input(1));
    const dbFile = backend.file();
    const ds = await openSqliteDataStore({ path: dbFile, clock, busyTimeoutMs: 50 });
    const locker = new DatabaseSync(dbFile);
    try {
      locker.exec('BEGIN IMMEDIATE');
      locker.exec(`INSERT INTO join_tokens (token, expires_at) VALUES ('uncommitted', 1)`);
      const err = await caught(() => ds.createEntry(input(2)));
      expect(err).toMatchObject({ code: 'ERR_DATASTORE_BUSY', message: 'datastore: create entry: database is locked' });
      expect(grpcStatusFor(err)).toBe(GrpcCode.UNAVAILABLE);
      expect((err as { cause?: unknown }).cause).toBeDefined();
      // Readers are not blocked by a writer under WAL.
      expect(await ds.countEntries()).toBe(1);
      locker.exec('ROLLBACK');
      await ds.createEntry(input(2));
      expect(await ds.countEntries()).toBe(2);
      expect(await ds.getJoinToken('uncommitted')).toBeUndefined();
    } finally {
      if (locker.isTransaction) locker.exec('ROLLBACK');
      locker.close();
      await ds.close();
    }
  });

  it('rolls back a transaction that hits the size limit and keeps working', async () => {
    const { clock } = f();
    const dbFile = backend.file();
    const ds = await openSqliteDataStore({ path: dbFile, clock, pragmas: { max_page_count: 60 } });
    try {
      await ds.createEntry(input(0));
      const err = await caught(() => ds.createEntries(Array.from({ length: 3000 }, (_, i) => input(i + 1))));
      expect(err).toMatchObject({ code: 'ERR_DATASTORE_FULL', message: 'datastore: create entries: database or disk is full (SQLITE_FULL)' });
      expect(grpcStatusFor(err)).toBe(GrpcCode.RESOURCE_EXHAUSTED);
      expect(await ds.countEntries()).toBe(1);
      expect((await ds.listEntryEvents(0)).events).toHaveLength(1);
      await ds.createEntry(input(5000));
      expect(await ds.countEntries()).toBe(2);
    } finally {
      await ds.close();
    }
  });

  it('serialises concurrent calls on one connection', async () => {
    const { ds } = f();
    const made = await Promise.all(Array.from({ length: 50 }, (_, i) => ds.createEntry(input(i))));
    expect(new Set(made.map((e) => e.id)).size).toBe(50);
    expect(await ds.countEntries()).toBe(50);
    const dup = await Promise.allSettled(Array.from({ length: 10 }, () => ds.createEntry(input(1000))));
    expect(dup.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('creates the directory and reports a file it cannot open', async () => {
    const tmp = await makeTempDir('herald-ds-');
    try {
      const ds = await openSqliteDataStore({ path: join(tmp.path, 'a', 'b', 'ds.sqlite3'), clock: new ManualClock() });
      await ds.close();
      const err = await caught(() => openSqliteDataStore({ path: tmp.path, clock: new ManualClock() }));
      expect(err).toMatchObject({ code: 'ERR_DATASTORE_OPEN', message: `datastore: cannot open SQLite database ${JSON.stringify(tmp.path)}: unable to open database file` });
    } finally {
      await tmp.cleanup();
    }
  });

  // Issue 15 item 7: a 0-byte or missing datastore beside an existing CA journal is data loss, not a first start.
  it('refuses a missing or 0-byte file when data is expected, leaving the file untouched', async () => {
    const tmp = await makeTempDir('herald-ds-');
    try {
      const path = join(tmp.path, 'datastore.sqlite3');
      const expected = 'the CA journal /x/journal.json exists';
      const missing = await caught(() => openSqliteDataStore({ path, clock: new ManualClock(), existingDataExpected: expected }));
      expect(missing).toMatchObject({ code: 'ERR_DATASTORE_MISSING' });
      expect(missing.message).toBe(
        `datastore: the SQLite datastore ${path} does not exist, but the CA journal /x/journal.json exists: starting would silently lose every registration entry, agent and federated bundle it held, ` +
          'so the server refuses to start. Restore the datastore from a backup, or, to start with an empty datastore on purpose, run `herald-server run -allowEmptyDatastore`',
      );
      expect(existsSync(path)).toBe(false);

      await writeFile(path, '');
      const empty = await caught(() => openSqliteDataStore({ path, clock: new ManualClock(), existingDataExpected: expected }));
      expect(empty).toMatchObject({ code: 'ERR_DATASTORE_MISSING' });
      expect(empty.message).toMatch(/^datastore: the SQLite datastore .* is empty \(0 bytes, no Herald schema\), but the CA journal/);
      expect(statSync(path).size).toBe(0);

      // Without the expectation (first start, or -allowEmptyDatastore) it is created as before; then data is found.
      const ds = await openSqliteDataStore({ path, clock: new ManualClock() });
      await ds.close();
      const again = await openSqliteDataStore({ path, clock: new ManualClock(), existingDataExpected: expected });
      await again.close();
    } finally {
      await tmp.cleanup();
    }
  });
});

