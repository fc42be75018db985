// One datastore conformance suite, run against every backend (SPIRE's
// pkg/server/datastore/sqltest/suite.go): sqlite.test.ts, postgres.test.ts.
import { bundleAndFederationConformance } from './bundles-federation.ts';
import { entryConformance } from './entries.ts';
import { eventConformance } from './events.ts';
import { useFixture, type Backend } from './fixture.ts';
import { nodeAndTokenConformance } from './nodes-tokens.ts';
import { schemaConformance } from './schema.ts';

export function dataStoreConformance(backend: () => Backend): void {
  const f = useFixture(backend);
  entryConformance(f);
  eventConformance(f);
  nodeAndTokenConformance(f);
  bundleAndFederationConformance(f);
  schemaConformance(f);
}
