// DataStore "sql" (SPIRE's plugin/server/datastore/sql): SQLite or
// PostgreSQL. The implementation stays in src/server/datastore.
import { join } from 'node:path';
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import { nonEmpty } from '../../../../common/config/spiffe-checks.ts';
import type { ServerPluginDeps } from '../../../catalog/deps.ts';
import type { DataStore } from '../../../datastore/datastore.ts';
import type { DataStoreConfig } from '../../../datastore/open.ts';

export const plugin = definePlugin({
  type: 'DataStore',
  name: 'sql',
  configSchema: s.section(
    {
      database_type: s.enum(['sqlite3', 'postgres'], { description: 'Database engine', default: 'sqlite3' }),
      connection_string: s.string({
        description: 'sqlite3: database file (default: datastore.sqlite3 in data_dir); postgres: connection URI or key=value string',
        validate: nonEmpty,
      }),
      ro_connection_string: s.unsupported('read-only replicas are not supported'),
      max_open_conns: s.unsupported('connection pool tuning is not supported'),
      max_idle_conns: s.unsupported('connection pool tuning is not supported'),
      conn_max_lifetime: s.unsupported('connection pool tuning is not supported'),
      disable_migration: s.unsupported('Herald always migrates its schema on start'),
      log_sql: s.unsupported('SQL statement logging is not supported'),
      root_ca_path: s.unsupported('set sslrootcert in the postgres connection_string'),
      client_cert_path: s.unsupported('set sslcert in the postgres connection_string'),
      client_key_path: s.unsupported('set sslkey in the postgres connection_string'),
    },
    {
      description: 'SQL datastore (SQLite or PostgreSQL)',
      validate: (v) =>
        v.database_type === 'postgres' && v.connection_string === undefined
          ? [{ key: 'connection_string', message: 'must be specified when database_type is postgres' }]
          : undefined,
    },
  ),
  configure: (data, ctx): DataStoreConfig => ({
    databaseType: data.database_type,
    connectionString:
      data.database_type === 'postgres'
        ? (data.connection_string ?? '')
        : data.connection_string === undefined
          ? join(ctx.dataDir, 'datastore.sqlite3')
          : data.connection_string.startsWith('file:') || data.connection_string === ':memory:'
            ? data.connection_string
            : ctx.abs(data.connection_string),
  }),
  create: async (config, deps: ServerPluginDeps): Promise<DataStore> => {
    const { openDataStore } = await import('../../../datastore/open.ts');
    return openDataStore(config, { clock: deps.clock, existingDataExpected: deps.existingDataExpected, storageEvents: deps.storageEvents });
  },
});
