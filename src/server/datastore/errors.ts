// Datastore errors. Domain outcomes (not found, already exists, in use) carry
// codes the shared status table maps (ERR_ENTRY_NOT_FOUND → NOT_FOUND, …);
// database failures are ERR_DATASTORE_* with the driver error as cause.
import { HeraldError, type HeraldErrorOptions } from '../../common/errors.ts';
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
  /** Disk or database size limit reached (RESOURCE_EXHAUSTED). */
  Full: 'ERR_DATASTORE_FULL',
  /** The database or its filesystem is read-only (UNAVAILABLE). */
  ReadOnly: 'ERR_DATASTORE_READ_ONLY',
  /** The disk failed a read or write (UNAVAILABLE). */
  Io: 'ERR_DATASTORE_IO',
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

/** Transient failures: their codes map to UNAVAILABLE (error-registry.ts) so clients retry. */
export function transientError(code: typeof DataStoreCode.Busy | typeof DataStoreCode.Unavailable, message: string, cause: unknown): DataStoreError {
  return dataStoreError(code, message, { cause });
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

/** Failures of the storage itself (not of the request): logged, and they make the server not ready. */
const STORAGE_FAILURE_CODES: ReadonlySet<string> = new Set([DataStoreCode.Full, DataStoreCode.ReadOnly, DataStoreCode.Io, DataStoreCode.Unavailable, DataStoreCode.Corrupt]);

export function isStorageFailure(err: unknown): err is DataStoreError {
  return err instanceof DataStoreError && STORAGE_FAILURE_CODES.has(err.code);
}

/**
 * A storage failure, classified by what the driver and the filesystem said:
 * `causes` are the driver's code (SQLITE_FULL, SQLSTATE 53100) and the OS
 * errno when known (ENOSPC, EROFS, EIO). The message names them and nothing
 * the request carried, so it can go to the client as is.
 */
export function storageError(op: string, causes: readonly string[], cause: unknown, fallback: string): DataStoreError {
  const has = (c: string): boolean => causes.includes(c);
  const tag = causes.length > 0 ? ` (${causes.join(', ')})` : '';
  if (has('ENOSPC') || has('EDQUOT')) {
    return dataStoreError(DataStoreCode.Full, `${op}: ${has('EDQUOT') ? 'disk quota exceeded' : 'no space left on the datastore disk'}${tag}`, { cause });
  }
  if (has('EROFS')) return dataStoreError(DataStoreCode.ReadOnly, `${op}: the datastore filesystem is read-only${tag}`, { cause });
  if (has('SQLITE_FULL') || causes.some((c) => c.startsWith('SQLSTATE 53'))) {
    return dataStoreError(DataStoreCode.Full, `${op}: ${fallback}${tag}`, { cause });
  }
  if (causes.some((c) => c.startsWith('SQLITE_READONLY')) || has('SQLSTATE 25006')) {
    return dataStoreError(DataStoreCode.ReadOnly, `${op}: the datastore is read-only${tag}`, { cause });
  }
  if (causes.some((c) => c.startsWith('SQLITE_CORRUPT') || c === 'SQLITE_NOTADB')) {
    return dataStoreError(DataStoreCode.Corrupt, `${op}: the database file is damaged${tag}`, { cause });
  }
  return dataStoreError(DataStoreCode.Io, `${op}: ${fallback}${tag}`, { cause });
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
