// The datastore conformance suite on a real PostgreSQL cluster (started from
// the installed binaries; missing binaries fail the run), plus what only a
// server database has: unreachable servers and truly parallel writers.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.ts';
import { GrpcCode, grpcStatusFor } from '../../../src/common/errors.ts';
import { LATEST_SCHEMA_VERSION } from '../../../src/server/datastore/migrations/index.ts';
import { SCHEMA_VERSION_TABLE } from '../../../src/server/datastore/migrations/runner.ts';
import { openPostgresDataStore } from '../../../src/server/datastore/postgres.ts';
import { freePort } from '../../helpers/ports.ts';
import { waitFor } from '../../helpers/wait.ts';
import { usePostgresCluster } from '../../helpers/postgres-cluster.ts';
import { dataStoreConformance } from './conformance/suite.ts';
import { caught, id, sel, useFixture, type Backend } from './conformance/fixture.ts';

const cluster = usePostgresCluster();

async function rawQuery(connectionString: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return (await client.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

function postgresBackend(): Backend {
  let uri: string | undefined;
  const current = () => {
    if (uri === undefined) throw new Error('postgres backend used before fresh()');
    return uri;
  };
  return {
    name: 'postgres',
    async fresh() {
      uri = await cluster().createDatabase();
    },
    open: (clock) => openPostgresDataStore({ connectionString: current(), clock }),
    raw: (sql) => rawQuery(current(), sql),
    async dispose() {
      if (uri === undefined) return;
      const name = new URL(uri).pathname.slice(1);
      uri = undefined;
      await rawQuery(cluster().connectionString(), `DROP DATABASE ${name} WITH (FORCE)`);
    },
  };
}

const backend = postgresBackend();

describe('datastore conformance: postgres', () => {
  dataStoreConformance(() => backend);
});

describe('datastore: postgres specifics', () => {
  const f = useFixture(() => backend);
  const input = (n: number) => ({ spiffeId: id(`spiffe://example.org/w/${n}`), parentId: id('spiffe://example.org/agent'), selectors: [sel('unix', `uid:${n}`)] });

  it('fails with ERR_DATASTORE_UNAVAILABLE when the server cannot be reached', async () => {
    const port = await freePort();
    const err = await caught(() => openPostgresDataStore({ connectionString: `postgresql://herald@127.0.0.1:${port}/none`, clock: new ManualClock(), connectionTimeoutMs: 2000 }));
    expect(err.code).toBe('ERR_DATASTORE_UNAVAILABLE');
    expect(err.message).toMatch(/^datastore: migrate schema: database unavailable: .*ECONNREFUSED/);
    expect(grpcStatusFor(err)).toBe(GrpcCode.UNAVAILABLE);
  });

  it('lets exactly one of several servers create the same entry', async () => {
    const { ds, openAnother } = f();
    const stores = [ds, await openAnother(), await openAnother()];
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => stores[i % 3]!.createEntry(input(1))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as { code: string }).code).toBe('ERR_ENTRY_EXISTS');
    expect(await ds.countEntries()).toBe(1);
  });

  it('keeps event ids in commit order under parallel writers', async () => {
    const { ds, openAnother } = f();
    const stores = [ds, await openAnother(), await openAnother()];
    await Promise.all(Array.from({ length: 30 }, (_, i) => stores[i % 3]!.createEntry(input(i))));
    const { events } = await ds.listEntryEvents(0);
    expect(events).toHaveLength(30);
    for (let i = 1; i < events.length; i++) expect(events[i]!.id).toBeGreaterThan(events[i - 1]!.id);
  });

  it('migrates once when several servers start on an empty database together', async () => {
    const uri = await cluster().createDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresDataStore({ connectionString: uri, clock: new ManualClock() })));
    try {
      for (const s of stores) expect(await s.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
      const rows = await rawQuery(uri, `SELECT version FROM ${SCHEMA_VERSION_TABLE}`);
      expect(rows).toHaveLength(LATEST_SCHEMA_VERSION);
    } finally {
      for (const s of stores) await s.close();
    }
  });

  it('refuses a database without the Herald schema when data is expected', async () => {
    const uri = await cluster().createDatabase();
    const err = await caught(() => openPostgresDataStore({ connectionString: uri, clock: new ManualClock(), existingDataExpected: 'the CA journal /x/journal.json exists' }));
    expect(err).toMatchObject({ code: 'ERR_DATASTORE_MISSING' });
    expect(err.message).toMatch(/^datastore: the PostgreSQL datastore has no Herald schema \(a new or wrong database\), but the CA journal \/x\/journal\.json exists: .*-allowEmptyDatastore/);
    expect(await rawQuery(uri, `SELECT 1 FROM information_schema.tables WHERE table_name = '${SCHEMA_VERSION_TABLE}'`)).toHaveLength(0);
    const ds = await openPostgresDataStore({ connectionString: uri, clock: new ManualClock() });
    await ds.close();
    const again = await openPostgresDataStore({ connectionString: uri, clock: new ManualClock(), existingDataExpected: 'x' });
    await again.close();
  });

  // Issue 15 item 6: a database that turns read-only under a running server
  // (as after a failover to a standby) says so, not "internal error", and
  // makes the store not ready.
  it('reports a database turned read-only as ERR_DATASTORE_READ_ONLY (UNAVAILABLE, SQLSTATE 25006)', async () => {
    const uri = await cluster().createDatabase();
    const failures: string[] = [];
    const ds = await openPostgresDataStore({
      connectionString: uri,
      clock: new ManualClock(),
      storageEvents: { failed: (op, err) => void failures.push(`${op}: ${err.code}`), wrote: () => undefined },
    });
    const admin = async (...statements: string[]): Promise<void> => {
      const client = new pg.Client({ connectionString: cluster().connectionString() });
      await client.connect();
      try {
        for (const sql of statements) await client.query(sql);
      } finally {
        await client.end();
      }
    };
    try {
      await ds.createEntry(input(1));
      await admin('ALTER SYSTEM SET default_transaction_read_only = on', 'SELECT pg_reload_conf()');
      // Backends pick the reload up at their next command.
      await waitFor('the pool to see the read-only setting', async () => (await ds.checkWritable().then(() => false, () => true)) || undefined, { timeoutMs: 10_000 });
      const err = await caught(() => ds.createEntry(input(2)));
      expect(err).toMatchObject({ code: 'ERR_DATASTORE_READ_ONLY', message: 'datastore: create entry: the datastore is read-only (SQLSTATE 25006)' });
      expect(grpcStatusFor(err)).toBe(GrpcCode.UNAVAILABLE);
      expect(failures).toContain('create entry: ERR_DATASTORE_READ_ONLY');
      expect(failures).toContain('storage check: ERR_DATASTORE_READ_ONLY');
      expect(await ds.countEntries()).toBe(1);
    } finally {
      await admin('SET default_transaction_read_only = off', 'ALTER SYSTEM RESET default_transaction_read_only', 'SELECT pg_reload_conf()');
      await ds.close();
    }
  });
});

