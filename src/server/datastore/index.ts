// The datastore's public names. Other modules import from here.
export type {
  AttestedNode,
  AttestedNodeInput,
  BundleEndpointProfile,
  EntryFields,
  EntryInput,
  FederationRelationship,
  FederationRelationshipInput,
  JoinToken,
  RegistrationEntry,
  Selector,
  StoredBundle,
  StoredJwtAuthority,
  StoredX509Authority,
} from './types.ts';
export { DeleteMode, MatchBehavior } from './datastore.ts';
export type {
  AuthorityRef,
  BundleMask,
  ByFederatesWith,
  BySelectors,
  ChangeKind,
  ChangeNotice,
  ConsumeJoinTokenResult,
  DataStore,
  EntryChanges,
  EntryChangesRequest,
  EntryEvent,
  EntryFilter,
  EntryMask,
  EntrySnapshot,
  EntryUpdate,
  FederationRelationshipMask,
  FederationRelationshipUpdate,
  ListEntriesRequest,
  ListEntryEventsResult,
  ListNodesRequest,
  NodeFilter,
  NodeMask,
  NodeUpdate,
  Page,
  Pagination,
  SnapshotHorizon,
} from './datastore.ts';
export { DataStoreCode, DataStoreError, EntryExistsError, isStorageFailure } from './errors.ts';
export { StorageHealth, type StorageEvents } from './storage-health.ts';
export { openSqliteDataStore, type SqliteDataStoreOptions } from './sqlite.ts';
export { openPostgresDataStore, type PostgresDataStoreOptions } from './postgres.ts';
export { openDataStore, type OpenDataStoreOptions } from './open.ts';
export { LATEST_SCHEMA_VERSION } from './migrations/index.ts';
