// Conformance: schema versioning, reopening, closed stores.
import { describe, expect, it } from 'vitest';
import { LATEST_SCHEMA_VERSION } from '../../../../src/server/datastore/migrations/index.ts';
import { SCHEMA_VERSION_TABLE } from '../../../../src/server/datastore/migrations/runner.ts';
import { T0, bundle, caught, id, sel, td, type Fixture } from './fixture.ts';

export function schemaConformance(f: () => Fixture): void {
  describe('schema and lifecycle', () => {
    it('is at the latest version, and reopening neither re-applies migrations nor loses data', async () => {
      const { ds, backend, clock } = f();
      expect(await ds.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
      const e = await ds.createEntry({ spiffeId: id('spiffe://example.org/w'), parentId: id('spiffe://example.org/a'), selectors: [sel('a', '1')] });
      await ds.createBundle(bundle('fed.org'));
      await ds.createJoinToken({ token: 't', expiresAt: T0 + 60 });
      await ds.close();
      const again = await backend.open(clock);
      try {
        expect(await again.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
        expect(await again.getEntry(e.id)).toEqual(e);
        expect(await again.getBundle(td('fed.org'))).toEqual(bundle('fed.org'));
        expect(await again.getJoinToken('t')).toEqual({ token: 't', expiresAt: T0 + 60 });
      } finally {
        await again.close();
      }
      const rows = await backend.raw(`SELECT version FROM ${SCHEMA_VERSION_TABLE} ORDER BY version`);
      expect(rows.map((r) => Number(r.version))).toEqual(Array.from({ length: LATEST_SCHEMA_VERSION }, (_, i) => i + 1));
    });

    it('refuses a database written by a newer Herald', async () => {
      const { backend, clock } = f();
      const newer = LATEST_SCHEMA_VERSION + 1;
      await backend.raw(`INSERT INTO ${SCHEMA_VERSION_TABLE} (version, description, applied_at) VALUES (${newer}, 'from the future', 0)`);
      const err = await caught(() => backend.open(clock));
      expect(err).toMatchObject({
        code: 'ERR_DATASTORE_SCHEMA_TOO_NEW',
        message: `datastore: database schema version ${newer} is newer than the newest version this Herald knows (${LATEST_SCHEMA_VERSION}); run a newer Herald or restore a backup`,
      });
    });

    it('refuses operations once closed', async () => {
      const { ds } = f();
      await ds.close();
      expect(await caught(() => ds.getEntry('x'))).toMatchObject({ code: 'ERR_DATASTORE_CLOSED', message: 'datastore: get entry: datastore is closed' });
      expect(await caught(() => ds.createJoinToken({ token: 'x', expiresAt: 1 }))).toMatchObject({ code: 'ERR_DATASTORE_CLOSED' });
      await ds.close();
    });

    it('reports a stored row that cannot be decoded', async () => {
      const { ds, backend } = f();
      const e = await ds.createEntry({ spiffeId: id('spiffe://example.org/w'), parentId: id('spiffe://example.org/a'), selectors: [sel('a', '1')] });
      await backend.raw(`UPDATE registered_entries SET spiffe_id = 'not a spiffe id' WHERE entry_id = '${e.id}'`);
      expect(await caught(() => ds.getEntry(e.id))).toMatchObject({ code: 'ERR_DATASTORE_CORRUPT', message: `datastore: stored entry "${e.id}" cannot be decoded` });
    });
  });
}
