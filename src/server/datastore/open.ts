// Opens the datastore the server config names (plugins.DataStore.sql, whose
// plugin definition is src/server/plugins/datastore/sql).
// The PostgreSQL datastore (and the pg driver, ~40 ms of module loading) is
// loaded only when the config names it.
import type { Clock } from '../../common/clock.ts';
import type { DataStore } from './datastore.ts';
import { openSqliteDataStore } from './sqlite.ts';
import type { ListenerErrorHandler } from './sql/sql-datastore.ts';
import type { StorageEvents } from './storage-health.ts';

/** What plugins.DataStore.sql configures (src/server/plugins/datastore/sql). */
export interface DataStoreConfig {
  readonly databaseType: 'sqlite3' | 'postgres';
  /** sqlite3: absolute file path (or a `file:` URI as given); postgres: as given. */
  readonly connectionString: string;
}

export interface OpenDataStoreOptions {
  readonly clock?: Clock;
  readonly onListenerError?: ListenerErrorHandler;
  /** Told about every storage failure and committed write (readiness). */
  readonly storageEvents?: StorageEvents | undefined;
  /** Why the database must already hold data: a missing or empty one is then refused, not created. */
  readonly existingDataExpected?: string | undefined;
}

export function openDataStore(config: DataStoreConfig, options: OpenDataStoreOptions = {}): Promise<DataStore> {
  switch (config.databaseType) {
    case 'sqlite3':
      return openSqliteDataStore({ path: config.connectionString, ...options });
    case 'postgres':
      return import('./postgres.ts').then((m) => m.openPostgresDataStore({ connectionString: config.connectionString, ...options }));
    default:
      throw new TypeError(`openDataStore: unsupported database type ${JSON.stringify((config as { databaseType: unknown }).databaseType)}`);
  }
}
