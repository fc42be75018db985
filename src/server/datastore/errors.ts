// Datastore errors. Domain outcomes (not found, already exists, in use) carry
// codes the shared status table maps (ERR_ENTRY_NOT_FOUND → NOT_FOUND, …);
// database failures are ERR_DATASTORE_* with the driver error as cause.
import { GrpcCode, HeraldError, type HeraldErrorOptions } from '../../common/errors.ts';
import type { RegistrationEntry } from './types.ts';

export class DataStoreError extends HeraldError {}

/** A similar entry (same spiffeId, parentId and selector set) exists; `existing` is it. */
export class EntryExistsError extends DataStoreError {
  readonly existing: RegistrationEntry;

  constructor(existing: RegistrationEntry, options: HeraldErrorOptions = {}) {
    super('ERR_ENTRY_EXISTS', 'datastore: similar entry already exists', options);
    this.existing = existing;
  }
}

export const DataStoreCode = {
  EntryNotFound: 'ERR_ENTRY_NOT_FOUND',
  EntryExists: 'ERR_ENTRY_EXISTS',
  InvalidEntry: 'ERR_INVALID_ARGUMENT_ENTRY',
  FederatedBundleNotFound: 'ERR_FAILED_PRECONDITION_FEDERATED_BUNDLE_NOT_FOUND',
  NodeNotFound: 'ERR_AGENT_NOT_FOUND',
  NodeExists: 'ERR_ALREADY_EXISTS_AGENT',
  JoinTokenNotFound: 'ERR_NOT_FOUND_JOIN_TOKEN',
  JoinTokenExists: 'ERR_ALREADY_EXISTS_JOIN_TOKEN',
  BundleNotFound: 'ERR_BUNDLE_NOT_FOUND',
  BundleExists: 'ERR_ALREADY_EXISTS_BUNDLE',
  BundleInUse: 'ERR_FAILED_PRECONDITION_BUNDLE_IN_USE',
  AuthorityNotFound: 'ERR_NOT_FOUND_AUTHORITY',
  AuthorityTainted: 'ERR_FAILED_PRECONDITION_AUTHORITY_TAINTED',
  AuthorityNotTainted: 'ERR_FAILED_PRECONDITION_AUTHORITY_NOT_TAINTED',
  FederationRelationshipNotFound: 'ERR_NOT_FOUND_FEDERATION_RELATIONSHIP',
  FederationRelationshipExists: 'ERR_ALREADY_EXISTS_FEDERATION_RELATIONSHIP',
  InvalidPageToken: 'ERR_INVALID_ARGUMENT_PAGE_TOKEN',
  InvalidFilter: 'ERR_INVALID_ARGUMENT_FILTER',
  /** Another writer holds the lock past busy_timeout (SQLITE_BUSY), or a serialization failure. */
  Busy: 'ERR_DATASTORE_BUSY',
  /** Disk or database size limit reached. */
  Full: 'ERR_DATASTORE_FULL',
  /** Cannot reach / lost the database server. */
  Unavailable: 'ERR_DATASTORE_UNAVAILABLE',
  /** Any other statement failure. */
  Query: 'ERR_DATASTORE_QUERY',
  /** A stored row cannot be decoded. */
  Corrupt: 'ERR_DATASTORE_CORRUPT',
  /** The database was written by a newer Herald. */
  SchemaTooNew: 'ERR_DATASTORE_SCHEMA_TOO_NEW',
  Migration: 'ERR_DATASTORE_MIGRATION',
  /** Missing or empty (no schema) although other state says it held data. */
  Missing: 'ERR_DATASTORE_MISSING',
  Open: 'ERR_DATASTORE_OPEN',
  Closed: 'ERR_DATASTORE_CLOSED',
} as const;
export type DataStoreCode = (typeof DataStoreCode)[keyof typeof DataStoreCode];

export function dataStoreError(code: DataStoreCode, message: string, options: HeraldErrorOptions = {}): DataStoreError {
  return new DataStoreError(code, `datastore: ${message}`, options);
}

/** Transient failures map to UNAVAILABLE so clients retry. */
export function transientError(code: typeof DataStoreCode.Busy | typeof DataStoreCode.Unavailable, message: string, cause: unknown): DataStoreError {
  return dataStoreError(code, message, { cause, grpcCode: GrpcCode.UNAVAILABLE });
}

/**
 * The refusal to start on a missing or empty datastore while other state
 * (the CA journal, the keys) shows it held data: creating a new one would
 * lose every entry and agent without a word.
 */
export function missingDatastore(what: string, expectedBecause: string): DataStoreError {
  return dataStoreError(
    DataStoreCode.Missing,
    `${what}, but ${expectedBecause}: starting would silently lose every registration entry, agent and federated bundle it held, so the server refuses to start. ` +
      'Restore the datastore from a backup, or, to start with an empty datastore on purpose, run `herald-server run -allowEmptyDatastore`',
  );
}

export function entryNotFound(id: string): DataStoreError {
  return dataStoreError(DataStoreCode.EntryNotFound, `entry ${JSON.stringify(id)} not found`);
}

export function federatedBundleNotFound(td: string): DataStoreError {
  return dataStoreError(DataStoreCode.FederatedBundleNotFound, `unable to find federated bundle ${JSON.stringify(td)}`);
}

export function corrupt(what: string, cause: unknown): DataStoreError {
  return dataStoreError(DataStoreCode.Corrupt, `stored ${what} cannot be decoded`, { cause });
}
