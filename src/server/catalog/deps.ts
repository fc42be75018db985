// What herald-server hands its plugins' create() (SPIRE's host services and
// plugin config context, as plain values).
import type { Logger } from 'pino';
import type { Clock } from '../../common/clock.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import type { CertSubject } from '../../spiffe/x509-template.ts';
import type { DataStore } from '../datastore/datastore.ts';
import type { StorageEvents } from '../datastore/storage-health.ts';

export interface ServerPluginDeps {
  readonly trustDomain: TrustDomain;
  /** Absolute. */
  readonly dataDir: string;
  readonly clock: Clock;
  readonly log: Logger;
  /** Subject of the CA certificates (server.ca_subject). */
  readonly caSubject: CertSubject;
  /** DataStore: told about every storage failure and committed write (readiness). */
  readonly storageEvents?: StorageEvents | undefined;
  /** DataStore: why the database must already hold data (a missing or empty one is then refused). */
  readonly existingDataExpected?: string | undefined;
}

/** Every type after DataStore also gets the datastore (SPIRE plugins reach it through host services). */
export interface ServerPluginDepsWithDataStore extends ServerPluginDeps {
  readonly dataStore: DataStore;
}
