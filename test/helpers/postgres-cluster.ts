// A PostgreSQL cluster shared by the tests of one file (vitest hooks; kept
// apart from postgres.ts, which benchmarks import outside vitest).
import { afterAll, beforeAll } from 'vitest';
import { startPostgres, type PostgresCluster } from './postgres.ts';

/** One cluster for a whole test file: started before its first test, removed after its last. */
export function usePostgresCluster(): () => PostgresCluster {
  let cluster: PostgresCluster | undefined;
  beforeAll(async () => {
    cluster = await startPostgres();
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  return () => {
    if (cluster === undefined) throw new Error('test/helpers/postgres: the PostgreSQL cluster is not started');
    return cluster;
  };
}
