// The DataStore over any SqlConnection: each method is one transaction (or
// one read) composed from the statement modules, and change notices go out
// only after the commit.
import type { Clock } from '../../../common/clock.ts';
import type { SpiffeId } from '../../../spiffe/id.ts';
import type { TrustDomain } from '../../../spiffe/trust-domain.ts';
import type {
  AuthorityRef,
  BundleMask,
  ChangeKind,
  ChangeNotice,
  ConsumeJoinTokenResult,
  DataStore,
  DeleteMode,
  EntryFilter,
  EntryMask,
  EntryChanges,
  EntryChangesRequest,
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
} from '../datastore.ts';
import { readSchemaVersion, SCHEMA_VERSION_TABLE } from '../migrations/runner.ts';
import { monitorConnection, type StorageEvents } from '../storage-health.ts';
import type {
  AttestedNode,
  AttestedNodeInput,
  EntryInput,
  FederationRelationship,
  FederationRelationshipInput,
  JoinToken,
  RegistrationEntry,
  Selector,
  StoredBundle,
} from '../types.ts';
import * as bundles from './bundles.ts';
import type { SqlConnection, SqlQuery, WriteOptions } from './connection.ts';
import * as entries from './entries.ts';
import { readEntryChanges } from './entry-changes.ts';
import * as events from './entry-events.ts';
import * as federation from './federation.ts';
import * as tokens from './join-tokens.ts';
import * as nodes from './nodes.ts';

export type ListenerErrorHandler = (err: unknown, notice: ChangeNotice) => void;

export interface SqlDataStoreOptions {
  readonly clock: Clock;
  /** Called when a change listener throws; default: a process warning. */
  readonly onListenerError?: ListenerErrorHandler | undefined;
  /** Told about every storage failure and committed write (the server's readiness). */
  readonly storageEvents?: StorageEvents | undefined;
}

const DEFAULT_EVENT_PAGE = 10_000;

/** What other servers keep in memory (entry cache, trust bundle, federation refresher, sync reads) and must hear about. */
const REMOTE_KINDS: readonly ChangeKind[] = ['entries', 'bundles', 'federation_relationships', 'nodes', 'node_selectors'];
const isRemoteKind = (k: string | undefined): k is ChangeKind => (REMOTE_KINDS as readonly (string | undefined)[]).includes(k);
// Agent records and join tokens are written on every attestation and agent
// SVID renewal: they queue per record, not behind every writer of the
// database; nothing else reads them inside a write or orders against them.
const nodeLock = (id: SpiffeId): WriteOptions => ({ lockKey: `node:${id}` });
const tokenLock = (token: string): WriteOptions => ({ lockKey: `join_token:${token}` });
const relationshipKinds = (r: { bundleChanged: boolean }): ChangeKind[] => ['federation_relationships', ...(r.bundleChanged ? (['bundles'] as const) : [])];

export class SqlDataStore implements DataStore {
  readonly #conn: SqlConnection;
  readonly #clock: Clock;
  readonly #listeners = new Set<(n: ChangeNotice) => void>();
  readonly #onListenerError: ListenerErrorHandler;
  readonly #ctx: entries.WriteContext;
  #stopWatch: (() => Promise<void>) | undefined;
  /** The notice channel is up: every other process's change since is heard. */
  #following = false;

  constructor(conn: SqlConnection, options: SqlDataStoreOptions) {
    this.#conn = options.storageEvents ? monitorConnection(conn, options.storageEvents) : conn;
    this.#clock = options.clock;
    this.#ctx = { nowSeconds: () => this.#nowSeconds() };
    this.#onListenerError =
      options.onListenerError ??
      ((err, notice) => process.emitWarning(`datastore: change listener for ${notice.kind} threw: ${String(err)}`, 'HeraldDataStoreWarning'));
  }

  #nowSeconds(): number {
    return Math.floor(this.#clock.now() / 1000);
  }

  #emit(kinds: readonly ChangeKind[], subject?: SpiffeId): void {
    for (const kind of kinds) this.#tell(subject === undefined ? { kind } : { kind, subject: subject.toString() });
  }

  #tell(notice: ChangeNotice): void {
    for (const l of [...this.#listeners]) {
      try {
        l(notice);
      } catch (err) {
        this.#onListenerError(err, notice);
      }
    }
  }

  /**
   * A write transaction, then in-process notices of `kinds` (or of what
   * `kinds` makes of the result). Kinds other servers cache (entries,
   * bundles) are also sent to them in the transaction (PostgreSQL NOTIFY,
   * delivered at commit); a notice only wakes them, they read the change from
   * the database.
   */
  async #write<T>(
    op: string,
    kinds: readonly ChangeKind[] | ((result: T) => readonly ChangeKind[]),
    body: (q: SqlQuery) => Promise<T>,
    options?: WriteOptions,
    subject?: SpiffeId,
  ): Promise<T> {
    const kindsOf = typeof kinds === 'function' ? kinds : () => kinds;
    const conn = this.#conn;
    const result = await conn.write(
      op,
      conn.changeNoticeSql === undefined
        ? body
        : async (q) => {
            const r = await body(q);
            const remote = kindsOf(r).filter(isRemoteKind);
            if (remote.length > 0) {
              const notice = conn.changeNoticeSql!(remote, subject?.toString());
              await q.run(notice.sql, notice.params);
            }
            return r;
          },
      options,
    );
    this.#emit(kindsOf(result), subject);
    return result;
  }

  /** A write of one agent's record or selectors: other servers hear which agent. */
  #nodeWrite<T>(op: string, kinds: readonly ChangeKind[], id: SpiffeId, body: (q: SqlQuery) => Promise<T>): Promise<T> {
    return this.#write(op, kinds, body, nodeLock(id), id);
  }

  /** Starts following other servers' changes (once, when the first listener subscribes). */
  #watch(): void {
    if (this.#stopWatch !== undefined || this.#conn.watchChangeNotices === undefined) return;
    // Not a kind we know (or undefined: reconnected, notices may have been missed): anything may have changed.
    this.#stopWatch = this.#conn.watchChangeNotices(
      (kind, subject) => {
        if (isRemoteKind(kind)) this.#tell(subject === undefined ? { kind, remote: true } : { kind, subject, remote: true });
        else for (const k of REMOTE_KINDS) this.#tell({ kind: k, remote: true, resync: true });
      },
      (connected) => {
        this.#following = connected;
      },
    );
  }

  followsChanges(): boolean {
    return this.#following;
  }

  sharedWithOtherServers(): boolean {
    return this.#conn.watchChangeNotices !== undefined;
  }

  // Entries

  createEntry(input: EntryInput): Promise<RegistrationEntry> {
    return this.#write('create entry', ['entries'], (q) => entries.createEntry(q, this.#ctx, input));
  }

  createEntries(inputs: readonly EntryInput[]): Promise<RegistrationEntry[]> {
    if (inputs.length === 0) return Promise.resolve([]);
    return this.#write('create entries', ['entries'], async (q) => {
      const batch = entries.newBatchState();
      const out: RegistrationEntry[] = [];
      for (const input of inputs) out.push(await entries.createEntry(q, this.#ctx, input, batch));
      return out;
    });
  }

  getEntry(id: string): Promise<RegistrationEntry | undefined> {
    return this.#conn.read('get entry', async (q) => (await entries.getEntryRow(q, id))?.entry);
  }

  getEntries(ids: readonly string[]): Promise<RegistrationEntry[]> {
    return this.#conn.read('get entries', (q) => entries.getEntries(q, ids), { snapshot: true });
  }

  listEntries(req?: ListEntriesRequest): Promise<Page<RegistrationEntry>> {
    return this.#conn.read('list entries', (q) => entries.listEntries(q, req));
  }

  countEntries(filter?: EntryFilter): Promise<number> {
    return this.#conn.read('count entries', (q) => entries.countEntries(q, filter));
  }

  updateEntry(update: EntryUpdate, mask?: EntryMask): Promise<RegistrationEntry> {
    return this.#write('update entry', ['entries'], (q) => entries.updateEntry(q, this.#ctx, update, mask));
  }

  deleteEntry(id: string): Promise<RegistrationEntry> {
    return this.#write('delete entry', ['entries'], (q) => entries.deleteEntry(q, this.#ctx, id));
  }

  async pruneEntries(expiresBefore: number): Promise<number> {
    return this.#write('prune entries', (n) => (n > 0 ? ['entries'] : []), (q) => entries.pruneEntries(q, this.#ctx, expiresBefore));
  }

  listEntryEvents(afterId: number, limit = DEFAULT_EVENT_PAGE): Promise<ListEntryEventsResult> {
    return this.#conn.read('list entry events', (q) => events.listEntryEvents(q, afterId, limit), { snapshot: true });
  }

  entrySnapshot(): Promise<EntrySnapshot> {
    return this.#conn.read('read entry snapshot', (q) => events.entrySnapshot(q), { snapshot: true, quiesce: true });
  }

  readEntryChanges(req: EntryChangesRequest): Promise<EntryChanges> {
    return this.#conn.read('read entry changes', (q) => readEntryChanges(q, this.#conn.dialect.name, req), { snapshot: true });
  }

  pruneEntryEvents(createdBefore: number): Promise<number> {
    return this.#conn.write('prune entry events', (q) => events.pruneEntryEvents(q, createdBefore));
  }

  // Attested nodes

  createAttestedNode(input: AttestedNodeInput): Promise<AttestedNode> {
    return this.#nodeWrite('create attested node', ['nodes'], input.spiffeId, (q) => nodes.createNode(q, this.#nowSeconds(), input));
  }

  getAttestedNode(id: SpiffeId, opts: { fetchSelectors?: boolean } = {}): Promise<AttestedNode | undefined> {
    return this.#conn.read('get attested node', (q) => nodes.getNode(q, id, opts.fetchSelectors === true), { snapshot: opts.fetchSelectors === true });
  }

  listAttestedNodes(req?: ListNodesRequest): Promise<Page<AttestedNode>> {
    return this.#conn.read('list attested nodes', (q) => nodes.listNodes(q, req), { snapshot: req?.fetchSelectors === true });
  }

  countAttestedNodes(filter?: NodeFilter): Promise<number> {
    return this.#conn.read('count attested nodes', (q) => nodes.countNodes(q, filter));
  }

  updateAttestedNode(update: NodeUpdate, mask?: NodeMask): Promise<AttestedNode> {
    return this.#nodeWrite('update attested node', ['nodes'], update.spiffeId, (q) => nodes.updateNode(q, update, mask));
  }

  banAttestedNode(id: SpiffeId): Promise<AttestedNode> {
    return this.#nodeWrite('ban attested node', ['nodes'], id, (q) => nodes.updateNode(q, { spiffeId: id, certSerialNumber: '', newCertSerialNumber: '' }));
  }

  deleteAttestedNode(id: SpiffeId): Promise<AttestedNode> {
    return this.#nodeWrite('delete attested node', ['nodes', 'node_selectors'], id, (q) => nodes.deleteNode(q, id));
  }

  setNodeSelectors(id: SpiffeId, selectors: readonly Selector[]): Promise<void> {
    return this.#nodeWrite('set node selectors', ['node_selectors'], id, (q) => nodes.setNodeSelectors(q, id, selectors));
  }

  getNodeSelectors(id: SpiffeId): Promise<Selector[]> {
    return this.#conn.read('get node selectors', (q) => nodes.getNodeSelectors(q, id));
  }

  listNodeSelectors(): Promise<Map<string, Selector[]>> {
    return this.#conn.read('list node selectors', (q) => nodes.listNodeSelectors(q));
  }

  // Join tokens

  createJoinToken(token: JoinToken): Promise<void> {
    return this.#write('create join token', ['join_tokens'], (q) => tokens.createJoinToken(q, token), tokenLock(token.token));
  }

  getJoinToken(token: string): Promise<JoinToken | undefined> {
    return this.#conn.read('get join token', (q) => tokens.getJoinToken(q, token));
  }

  deleteJoinToken(token: string): Promise<void> {
    return this.#write('delete join token', ['join_tokens'], (q) => tokens.deleteJoinToken(q, token), tokenLock(token));
  }

  async consumeJoinToken(token: string): Promise<ConsumeJoinTokenResult> {
    const r = await this.#conn.write('consume join token', (q) => tokens.consumeJoinToken(q, token, this.#nowSeconds()), tokenLock(token));
    if (r.status !== 'not_found') this.#emit(['join_tokens']);
    return r;
  }

  async pruneJoinTokens(expiresBefore: number): Promise<number> {
    const n = await this.#conn.write('prune join tokens', (q) => tokens.pruneJoinTokens(q, expiresBefore));
    if (n > 0) this.#emit(['join_tokens']);
    return n;
  }

  // Bundles

  createBundle(bundle: StoredBundle): Promise<StoredBundle> {
    return this.#write('create bundle', ['bundles'], (q) => bundles.createBundle(q, bundle));
  }

  getBundle(td: TrustDomain): Promise<StoredBundle | undefined> {
    return this.#conn.read('get bundle', (q) => bundles.getBundle(q, td));
  }

  listBundles(req: { pagination?: Pagination } = {}): Promise<Page<StoredBundle>> {
    return this.#conn.read('list bundles', (q) => bundles.listBundles(q, req.pagination));
  }

  countBundles(): Promise<number> {
    return this.#conn.read('count bundles', (q) => bundles.countBundles(q));
  }

  async #bundleWrite(op: string, body: (q: SqlQuery) => Promise<bundles.BundleWrite>): Promise<StoredBundle> {
    const r = await this.#write(op, (w) => (w.changed ? ['bundles'] : []), body);
    return r.bundle;
  }

  updateBundle(bundle: StoredBundle, mask?: BundleMask): Promise<StoredBundle> {
    return this.#bundleWrite('update bundle', (q) => bundles.updateBundle(q, bundle, mask));
  }

  setBundle(bundle: StoredBundle): Promise<StoredBundle> {
    return this.#bundleWrite('set bundle', (q) => bundles.setBundle(q, bundle));
  }

  appendBundle(bundle: StoredBundle): Promise<StoredBundle> {
    return this.#bundleWrite('append bundle', (q) => bundles.appendBundle(q, bundle));
  }

  changeAuthority(td: TrustDomain, ref: AuthorityRef, action: 'taint' | 'revoke'): Promise<StoredBundle> {
    return this.#bundleWrite(`${action} authority`, (q) => bundles.changeAuthority(q, td, ref, action));
  }

  async deleteBundle(td: TrustDomain, mode: DeleteMode = 'restrict'): Promise<void> {
    await this.#write('delete bundle', (touched: number) => ['bundles', ...(touched > 0 ? (['entries'] as const) : [])], (q) => bundles.deleteBundle(q, this.#ctx, td, mode));
  }

  // Federation relationships

  async createFederationRelationship(input: FederationRelationshipInput): Promise<FederationRelationship> {
    const r = await this.#write('create federation relationship', relationshipKinds, (q) => federation.createRelationship(q, input));
    return r.relationship;
  }

  getFederationRelationship(td: TrustDomain): Promise<FederationRelationship | undefined> {
    return this.#conn.read('get federation relationship', (q) => federation.getRelationship(q, td));
  }

  listFederationRelationships(req: { pagination?: Pagination } = {}): Promise<Page<FederationRelationship>> {
    return this.#conn.read('list federation relationships', (q) => federation.listRelationships(q, req.pagination));
  }

  async updateFederationRelationship(update: FederationRelationshipUpdate, mask?: FederationRelationshipMask): Promise<FederationRelationship> {
    const r = await this.#write('update federation relationship', relationshipKinds, (q) => federation.updateRelationship(q, update, mask));
    return r.relationship;
  }

  deleteFederationRelationship(td: TrustDomain): Promise<void> {
    return this.#write('delete federation relationship', ['federation_relationships'], (q) => federation.deleteRelationship(q, td));
  }

  onChange(listener: (notice: ChangeNotice) => void): () => void {
    this.#listeners.add(listener);
    this.#watch();
    return () => {
      this.#listeners.delete(listener);
    };
  }

  schemaVersion(): Promise<number> {
    return readSchemaVersion(this.#conn);
  }

  async checkWritable(): Promise<void> {
    await this.#conn.checkStorage?.();
    // A real write that changes nothing: the newest schema row keeps its value.
    // Its own lock: a busy writers' queue must not make the check (readiness) wait.
    await this.#conn.write(
      'storage check',
      (q) => q.run(`UPDATE ${SCHEMA_VERSION_TABLE} SET applied_at = applied_at WHERE version = (SELECT MAX(version) FROM ${SCHEMA_VERSION_TABLE})`),
      { lockKey: 'storage-check' },
    );
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    const stopWatch = this.#stopWatch;
    this.#stopWatch = undefined;
    await stopWatch?.();
    await this.#conn.close();
  }
}
