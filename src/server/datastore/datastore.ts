// The datastore contract (SPIRE pkg/server/datastore/datastore.go, trimmed).
// Implementations: sqlite.ts (node:sqlite) and postgres.ts (pg); both are the
// same SQL store over a dialect, checked by one conformance suite.
//
// Reads of a missing record return undefined; updates/deletes of a missing
// record throw a not-found DataStoreError. Database failures throw
// DataStoreError with an ERR_DATASTORE_* code and the driver error as cause;
// the operation's transaction is rolled back.
import type { SpiffeId } from '../../spiffe/id.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import type {
  AttestedNode,
  AttestedNodeInput,
  EntryFields,
  EntryInput,
  FederationRelationship,
  FederationRelationshipInput,
  JoinToken,
  RegistrationEntry,
  Selector,
  StoredBundle,
} from './types.ts';

/** How a set filter compares a record's set R with the given set G (SPIRE MatchBehavior). */
export const MatchBehavior = {
  /** R = G. */
  Exact: 'exact',
  /** R ⊆ G (and R shares at least one element with G): what workload matching uses. */
  Subset: 'subset',
  /** R ⊇ G. */
  Superset: 'superset',
  /** R ∩ G ≠ ∅. */
  MatchAny: 'match_any',
} as const;
export type MatchBehavior = (typeof MatchBehavior)[keyof typeof MatchBehavior];

/** What DeleteBundle does with entries that federate with the bundle's trust domain. */
export const DeleteMode = {
  /** Refuse while any entry federates with it. */
  Restrict: 'restrict',
  /** Delete those entries too. */
  Delete: 'delete',
  /** Remove the trust domain from those entries' federatesWith. */
  Dissociate: 'dissociate',
} as const;
export type DeleteMode = (typeof DeleteMode)[keyof typeof DeleteMode];

export interface Pagination {
  /** Opaque; '' or undefined for the first page. */
  readonly token?: string;
  /** > 0. */
  readonly pageSize: number;
}

export interface Page<T> {
  readonly items: T[];
  /** Set when more items may follow; pass it back as pagination.token. */
  readonly nextPageToken?: string;
}

export interface BySelectors {
  readonly selectors: readonly Selector[];
  readonly match: MatchBehavior;
}

export interface ByFederatesWith {
  readonly trustDomains: readonly TrustDomain[];
  readonly match: MatchBehavior;
}

export interface EntryFilter {
  readonly byParentId?: SpiffeId;
  readonly bySpiffeId?: SpiffeId;
  readonly bySelectors?: BySelectors;
  readonly byFederatesWith?: ByFederatesWith;
  readonly byHint?: string;
  /** true: only downstream entries; false or absent: no filter (SPIRE's semantics). */
  readonly byDownstream?: boolean;
}

export interface ListEntriesRequest extends EntryFilter {
  readonly pagination?: Pagination;
}

/** Which fields an update writes (spire.api.types.EntryMask). */
export type EntryMask = { readonly [K in keyof EntryFields]?: boolean };

/** `id` plus the new values; with no mask, every field present is written. */
export type EntryUpdate = { readonly id: string } & Partial<EntryFields>;

export interface EntryEvent {
  /** Increases in commit order (gaps possible). */
  readonly id: number;
  readonly entryId: string;
}

export interface ListEntryEventsResult {
  /** Events with id > afterId, ascending. */
  readonly events: EntryEvent[];
  /**
   * Events with id ≤ prunedThrough were deleted; a reader whose last seen id
   * is below it may have missed changes and must reload everything.
   */
  readonly prunedThrough: number;
}

/** What an entry cache asks for in one consistent read (see EntryChanges). */
export interface EntryChangesRequest {
  /** Events with id > afterId, ascending, at most `limit`. */
  readonly afterId: number;
  readonly limit?: number;
  /** Ranges [lo, hi] of event ids at or below afterId that were missing (gaps) and may still commit. */
  readonly recheck?: readonly (readonly [number, number])[];
  /** Also compute the per-bucket digest of every entry (the consistency check). */
  readonly digest?: boolean;
  /** Also return every entry of these buckets (repairing drift). */
  readonly reloadBuckets?: readonly string[];
}

/**
 * Bounds of the database snapshot a read saw (PostgreSQL transaction ids).
 * Every transaction below xmin had finished; every transaction that had an
 * id when the snapshot was taken is below xmax.
 */
export interface SnapshotHorizon {
  readonly xmin: bigint;
  readonly xmax: bigint;
}

/** One consistent snapshot of the entry feed for a cache (see EntryChangesRequest). */
export interface EntryChanges {
  /** Events with id > afterId (ascending, at most limit), then the events now visible in the recheck ranges. */
  readonly events: EntryEvent[];
  /** The current state of every entry named by `events` that still exists. */
  readonly entries: RegistrationEntry[];
  readonly prunedThrough: number;
  /**
   * The snapshot's bounds where writers can commit out of event id order
   * (PostgreSQL); absent where they cannot (SQLite), so a gap is final at once.
   */
  readonly horizon?: SnapshotHorizon;
  /** Bucket (see entryBucket) → digest of its entries' ids and revisions; only buckets with entries. */
  readonly digests?: ReadonlyMap<string, string>;
  /** Every entry of the requested reloadBuckets. */
  readonly bucketEntries?: RegistrationEntry[];
}

export interface EntrySnapshot {
  readonly entries: RegistrationEntry[];
  /** The latest entry event included in `entries`; refresh from here. */
  readonly lastEventId: number;
}

export interface NodeFilter {
  readonly byAttestationType?: string;
  readonly byBanned?: boolean;
  /** certNotAfter < this (unix s). */
  readonly byExpiresBefore?: number;
  readonly bySelectors?: BySelectors;
  readonly byCanReattest?: boolean;
}

export interface ListNodesRequest extends NodeFilter {
  readonly fetchSelectors?: boolean;
  readonly pagination?: Pagination;
}

/** Which node fields an update writes (common.AttestedNodeMask). */
export interface NodeMask {
  readonly certSerialNumber?: boolean;
  readonly certNotAfter?: boolean;
  readonly newCertSerialNumber?: boolean;
  readonly newCertNotAfter?: boolean;
  readonly canReattest?: boolean;
}

export type NodeUpdate = { readonly spiffeId: SpiffeId } & Partial<
  Pick<AttestedNode, 'certSerialNumber' | 'certNotAfter' | 'newCertSerialNumber' | 'newCertNotAfter' | 'canReattest'>
>;

export type ConsumeJoinTokenResult =
  | { readonly status: 'consumed'; readonly token: JoinToken }
  /** Unknown or already used. */
  | { readonly status: 'not_found' }
  /** Existed but expired; it has been deleted. */
  | { readonly status: 'expired'; readonly token: JoinToken };

/** An authority of a bundle: an X.509 root by subject key ID (hex), or a JWT key by key ID. */
export type AuthorityRef = { readonly kind: 'x509'; readonly subjectKeyId: string } | { readonly kind: 'jwt'; readonly keyId: string };

/** Which bundle fields an update writes (common.BundleMask). */
export interface BundleMask {
  readonly x509Authorities?: boolean;
  readonly jwtAuthorities?: boolean;
  readonly refreshHint?: boolean;
  readonly sequenceNumber?: boolean;
}

export interface FederationRelationshipMask {
  readonly bundleEndpointUrl?: boolean;
  readonly profile?: boolean;
  readonly trustDomainBundle?: boolean;
}

export type FederationRelationshipUpdate = { readonly trustDomain: TrustDomain } & Partial<
  Omit<FederationRelationshipInput, 'trustDomain'>
>;

export type ChangeKind = 'entries' | 'nodes' | 'node_selectors' | 'join_tokens' | 'bundles' | 'federation_relationships';

/**
 * Notice emitted after a commit. In-process writes always; on PostgreSQL also
 * `entries` when another server's write commits (LISTEN/NOTIFY) and when the
 * notification channel (re)connects, since notices may have been missed.
 */
export interface ChangeNotice {
  readonly kind: ChangeKind;
  /** Set when the notice came from another process (or a reconnected channel), not a write of this datastore. */
  readonly remote?: true;
  /** `nodes` / `node_selectors`: the agent (SPIFFE ID) whose record or selectors changed. */
  readonly subject?: string;
  /** The notice channel (re)connected: notices may have been missed, anything of this kind may have changed. */
  readonly resync?: true;
}

export interface DataStore {
  // Registration entries
  /** Throws ERR_ENTRY_EXISTS (with `.existing`) for the same spiffeId+parentId+selector set. */
  createEntry(input: EntryInput): Promise<RegistrationEntry>;
  /** All or nothing, in one transaction: the bulk path. */
  createEntries(inputs: readonly EntryInput[]): Promise<RegistrationEntry[]>;
  getEntry(id: string): Promise<RegistrationEntry | undefined>;
  /** The entries that exist among `ids` (any order). */
  getEntries(ids: readonly string[]): Promise<RegistrationEntry[]>;
  listEntries(req?: ListEntriesRequest): Promise<Page<RegistrationEntry>>;
  countEntries(filter?: EntryFilter): Promise<number>;
  /** revisionNumber + 1. Throws ERR_ENTRY_NOT_FOUND / ERR_ENTRY_EXISTS. */
  updateEntry(update: EntryUpdate, mask?: EntryMask): Promise<RegistrationEntry>;
  /** Returns the deleted entry. Throws ERR_ENTRY_NOT_FOUND. */
  deleteEntry(id: string): Promise<RegistrationEntry>;
  /** Deletes entries with 0 < expiresAt < expiresBefore (unix s); returns how many. */
  pruneEntries(expiresBefore: number): Promise<number>;

  // Entry change feed
  listEntryEvents(afterId: number, limit?: number): Promise<ListEntryEventsResult>;
  /** All entries and the event id they reflect, read consistently (for caches). */
  entrySnapshot(): Promise<EntrySnapshot>;
  /** Events, the entries they name, gap rechecks and digests, read in one snapshot (for caches). */
  readEntryChanges(req: EntryChangesRequest): Promise<EntryChanges>;
  /** Deletes events created before `createdBefore` (unix s); returns how many. */
  pruneEntryEvents(createdBefore: number): Promise<number>;

  // Attested nodes
  /** Throws ERR_ALREADY_EXISTS_AGENT. */
  createAttestedNode(input: AttestedNodeInput): Promise<AttestedNode>;
  /** `fresh`: read the database even where a cache of recent reads would answer (see sync-reads.ts). */
  getAttestedNode(id: SpiffeId, opts?: { fetchSelectors?: boolean; fresh?: boolean }): Promise<AttestedNode | undefined>;
  listAttestedNodes(req?: ListNodesRequest): Promise<Page<AttestedNode>>;
  countAttestedNodes(filter?: NodeFilter): Promise<number>;
  /** Throws ERR_AGENT_NOT_FOUND. */
  updateAttestedNode(update: NodeUpdate, mask?: NodeMask): Promise<AttestedNode>;
  /** Clears both serial numbers (SPIRE's ban). Throws ERR_AGENT_NOT_FOUND. */
  banAttestedNode(id: SpiffeId): Promise<AttestedNode>;
  /** Deletes the node and its selectors; returns the node. Throws ERR_AGENT_NOT_FOUND. */
  deleteAttestedNode(id: SpiffeId): Promise<AttestedNode>;

  // Node selectors (kept apart from nodes, as in SPIRE)
  setNodeSelectors(id: SpiffeId, selectors: readonly Selector[]): Promise<void>;
  getNodeSelectors(id: SpiffeId): Promise<Selector[]>;
  /** Keyed by SPIFFE ID string. */
  listNodeSelectors(): Promise<Map<string, Selector[]>>;

  // Join tokens
  /** Throws ERR_ALREADY_EXISTS_JOIN_TOKEN. */
  createJoinToken(token: JoinToken): Promise<void>;
  getJoinToken(token: string): Promise<JoinToken | undefined>;
  /** Throws ERR_NOT_FOUND_JOIN_TOKEN. */
  deleteJoinToken(token: string): Promise<void>;
  /** Atomically deletes the token: of concurrent consumers exactly one gets 'consumed'. */
  consumeJoinToken(token: string): Promise<ConsumeJoinTokenResult>;
  /** Deletes tokens with expiresAt < expiresBefore (unix s); returns how many. */
  pruneJoinTokens(expiresBefore: number): Promise<number>;

  // Bundles (sequenceNumber increases on every stored change)
  /** Throws ERR_ALREADY_EXISTS_BUNDLE. Stored with the given sequence number. */
  createBundle(bundle: StoredBundle): Promise<StoredBundle>;
  getBundle(td: TrustDomain): Promise<StoredBundle | undefined>;
  listBundles(req?: { pagination?: Pagination }): Promise<Page<StoredBundle>>;
  countBundles(): Promise<number>;
  /** Throws ERR_BUNDLE_NOT_FOUND. No write (same sequence) when nothing changes. */
  updateBundle(bundle: StoredBundle, mask?: BundleMask): Promise<StoredBundle>;
  /** Create, or replace the contents. */
  setBundle(bundle: StoredBundle): Promise<StoredBundle>;
  /** Create, or add the authorities not already present. */
  appendBundle(bundle: StoredBundle): Promise<StoredBundle>;
  /**
   * Taints an authority of `td`'s bundle, or revokes (removes) a tainted one.
   * Throws ERR_NOT_FOUND_AUTHORITY, ERR_FAILED_PRECONDITION_AUTHORITY_TAINTED
   * (taint twice) or ..._NOT_TAINTED (revoke before taint).
   */
  changeAuthority(td: TrustDomain, ref: AuthorityRef, action: 'taint' | 'revoke'): Promise<StoredBundle>;
  /** Throws ERR_BUNDLE_NOT_FOUND, or ERR_FAILED_PRECONDITION_BUNDLE_IN_USE in restrict mode. */
  deleteBundle(td: TrustDomain, mode?: DeleteMode): Promise<void>;

  // Federation relationships
  /** Throws ERR_ALREADY_EXISTS_FEDERATION_RELATIONSHIP. */
  createFederationRelationship(input: FederationRelationshipInput): Promise<FederationRelationship>;
  getFederationRelationship(td: TrustDomain): Promise<FederationRelationship | undefined>;
  listFederationRelationships(req?: { pagination?: Pagination }): Promise<Page<FederationRelationship>>;
  /** Throws ERR_NOT_FOUND_FEDERATION_RELATIONSHIP. */
  updateFederationRelationship(
    update: FederationRelationshipUpdate,
    mask?: FederationRelationshipMask,
  ): Promise<FederationRelationship>;
  /** Leaves the trust domain's bundle in place. Throws ERR_NOT_FOUND_FEDERATION_RELATIONSHIP. */
  deleteFederationRelationship(td: TrustDomain): Promise<void>;

  /** Subscribes to in-process change notices; returns the unsubscribe function. */
  onChange(listener: (notice: ChangeNotice) => void): () => void;
  /**
   * True while every other process's change is heard (PostgreSQL: the
   * LISTEN connection is up; subscribe with onChange first). Absent where
   * other processes' writes are not followed.
   */
  followsChanges?(): boolean;
  /**
   * Other servers may write this database (PostgreSQL), so what a server
   * keeps in memory is only as fresh as followsChanges says. False for
   * SQLite, which one server owns: every change is heard in-process.
   */
  sharedWithOtherServers?(): boolean;
  /** The schema version the database is at. */
  schemaVersion(): Promise<number>;
  /**
   * Proves the datastore can write now (a write that changes nothing, and for
   * SQLite a small file beside the database); throws the storage error
   * (ERR_DATASTORE_FULL, _READ_ONLY, _IO, _UNAVAILABLE) otherwise.
   */
  checkWritable(): Promise<void>;
  close(): Promise<void>;
}
