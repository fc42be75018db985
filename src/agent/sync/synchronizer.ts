// One sync with the server (SPIRE pkg/agent/manager sync.go): the trust
// bundle, the authorized entries, the federated bundles they need, and new
// X509-SVIDs for the entries that have none, changed, are half-way through
// their life or were signed by a tainted authority (CSRs in batches of
// BatchNewX509SVID). The workload cache is fed and published once at the
// end; JWT-SVIDs of removed entries, or signed by a tainted key, are dropped.
import { X509Certificate, type KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Clock } from '../../common/clock.ts';
import { GrpcCode, errorMessage } from '../../common/errors.ts';
import type { AgentMetrics } from '../telemetry.ts';
import { createCsr } from '../../spiffe/csr.ts';
import type { JwtSvidCache } from '../../spiffe/jwt-svid-cache.ts';
import { generateKeyPair, type KeyType } from '../../spiffe/keys.ts';
import { parseCertificatesDer } from '../../spiffe/bundle/der.ts';
import { cachedSvid } from '../cache/cached-svid.ts';
import type { CachedEntry } from '../cache/types.ts';
import type { WorkloadCache } from '../cache/workload-cache.ts';
import { describeServerError, grpcCodeOf, type ServerClient } from '../client/server-client.ts';
import { bundleFromWire, entryFromWire } from '../convert.ts';
import { AgentManagerError } from '../manager-error.ts';
import type { AgentStorage } from '../storage.ts';
import { checkIssuedSvid } from '../svid-check.ts';
import { renewalTime } from '../svid/rotator.ts';

/** SVIDs per BatchNewX509SVID call (SPIRE: 500). */
export const CSR_BATCH = 500;

/** The bundle as the server sends it (bundle/v1 GetBundle). */
type WireBundle = Awaited<ReturnType<ServerClient['getBundle']>>;

/** The sync's side of the connection to the server (the agent SVID rotator). */
export interface SyncConnection {
  /** The client presenting the current agent SVID. */
  readonly client: ServerClient;
  /** New roots from the server's bundle, stored in `source`: the client is rebuilt when they changed. */
  updateRoots(roots: readonly X509Certificate[], source: string): void;
}

export interface SynchronizerOptions {
  connection: SyncConnection;
  storage: AgentStorage;
  cache: WorkloadCache;
  jwt: JwtSvidCache;
  workloadKeyType: KeyType;
  /** CSRs per BatchNewX509SVID call (default CSR_BATCH). */
  csrBatchSize?: number;
  clock: Clock;
  log: Logger;
  metrics: AgentMetrics;
}

export interface SyncResult {
  /** Authorized entries after this sync. */
  entries: number;
  /** X509-SVIDs asked for and received (and accepted). */
  requested: number;
  fetched: number;
  /** Subscriber groups that saw a change. */
  published: number;
  bundleUpdated: boolean;
}

export interface SynchronizerEvents {
  synced: [SyncResult];
}

interface Tainted {
  readonly x509: readonly X509Certificate[];
  readonly jwtKeyIds: ReadonlySet<string>;
}

export class Synchronizer extends EventEmitter<SynchronizerEvents> {
  readonly #o: SynchronizerOptions;
  /** Tainted authorities of the last bundle: what they signed is replaced at once. */
  #tainted: Tainted = { x509: [], jwtKeyIds: new Set() };
  #renewAt = new Map<string, number>();
  /** A bundle data_dir could not take (read-only, full): written again at each sync. */
  #unsavedRoots: X509Certificate[] | undefined;

  constructor(o: SynchronizerOptions) {
    super();
    this.#o = o;
  }

  /** Whether `chain` was signed by a tainted X.509 authority of the last bundle (SPIRE's agents rotate such SVIDs at once). */
  signedByTainted(chain: readonly X509Certificate[]): boolean {
    if (this.#tainted.x509.length === 0) return false;
    return chain.some((c) => this.#tainted.x509.some((t) => c.checkIssued(t) && c.verify(t.publicKey)));
  }

  async sync(): Promise<SyncResult> {
    const { cache, log } = this.#o;
    const bundleUpdated = await this.#syncBundle();

    const previous = new Map(cache.entries().map((e) => [e.id, e]));
    const entries = (await this.#o.connection.client.authorizedEntries()).map((w) => {
      const prev = previous.get(w.id);
      // Same revision → same object, so the cache sees "no change".
      return prev && prev.revisionNumber === Number(w.revision_number) && prev.createdAt === Number(w.created_at) ? prev : entryFromWire(w);
    });
    cache.setEntries(entries);

    await this.#syncFederatedBundles(entries);
    const { requested, fetched } = await this.#renewSvids(entries, previous);
    // High-resolution wall time, so benchmarks can time the fan-out from here.
    const publishedAt = performance.timeOrigin + performance.now();
    const published = cache.publish();
    if (published > 0) log.debug({ groups: published, published_at_ms: publishedAt }, 'Published a cache update to subscribers');
    this.#o.jwt.retain(new Set(entries.map((e) => e.id)));
    const dropped = this.#o.jwt.dropSignedBy(this.#tainted.jwtKeyIds);
    if (dropped > 0) log.info({ count: dropped }, 'Dropped cached JWT-SVIDs signed by a tainted key');
    const result = { entries: entries.length, requested, fetched, published, bundleUpdated };
    this.emit('synced', result);
    return result;
  }

  /** The trust bundle: stored, and given to the connection, when it changed. */
  async #syncBundle(): Promise<boolean> {
    const { cache, storage } = this.#o;
    if (this.#unsavedRoots) await this.#storeRoots(this.#unsavedRoots);
    const wireBundle = await this.#o.connection.client.getBundle();
    const bundle = bundleFromWire(wireBundle);
    this.#tainted = taintedOf(wireBundle);
    if (bundle.x509Authorities.length === 0) throw new AgentManagerError('ERR_UNAVAILABLE_EMPTY_BUNDLE', 'agent: the server sent an empty bundle; keeping the current one');
    if (cache.bundle().equal(bundle) && cache.bundle().sequenceNumber === bundle.sequenceNumber) return false;
    cache.setBundle(bundle);
    const roots = [...bundle.x509Authorities];
    this.#o.connection.updateRoots(roots, `the stored bundle in ${storage.bundlePath}`);
    await this.#storeRoots(roots);
    this.#o.log.debug({ sequence: String(bundle.sequenceNumber) }, 'Bundle updated');
    return true;
  }

  /**
   * Writes the bundle to data_dir. A data_dir that cannot be written does
   * not fail the sync: the bundle is already in use (cache, connection), and
   * a failed sync would stop SVID renewal until the disk recovers.
   */
  async #storeRoots(roots: X509Certificate[]): Promise<void> {
    try {
      await this.#o.storage.storeBundle(roots);
      if (this.#unsavedRoots) this.#o.log.info({}, 'Stored the trust bundle in data_dir');
      this.#unsavedRoots = undefined;
    } catch (err) {
      if (!this.#unsavedRoots) this.#o.log.error({ err: errorMessage(err) }, 'Could not store the trust bundle in data_dir; using it from memory and retrying at each sync');
      this.#unsavedRoots = roots;
    }
  }

  async #syncFederatedBundles(entries: readonly CachedEntry[]): Promise<void> {
    const { cache } = this.#o;
    const wanted = new Set<string>();
    for (const e of entries) for (const td of e.federatesWith) wanted.add(td.name);
    for (const td of cache.federatedBundles().keys()) if (!wanted.has(td)) cache.setFederatedBundle(td, undefined);
    for (const td of wanted) {
      try {
        const b = bundleFromWire(await this.#o.connection.client.getFederatedBundle(td));
        const current = cache.federatedBundles().get(td);
        if (!current || !current.equal(b) || current.sequenceNumber !== b.sequenceNumber) cache.setFederatedBundle(td, b);
      } catch (err) {
        // Keep the last good bundle: a transient failure must not drop a trust domain.
        if (grpcCodeOf(err) === GrpcCode.NOT_FOUND && !cache.federatedBundles().has(td)) continue;
        this.#o.log.warn({ trust_domain: td, err: describeServerError(err) }, 'Failed to fetch a federated bundle; keeping the last one');
      }
    }
  }

  async #renewSvids(entries: readonly CachedEntry[], previous: ReadonlyMap<string, CachedEntry>): Promise<{ requested: number; fetched: number }> {
    const { cache, clock, log, metrics } = this.#o;
    const now = clock.now();
    const due: { entry: CachedEntry; key: KeyObject; csr: Buffer }[] = [];
    let taintedCount = 0;
    for (const e of entries) {
      const has = cache.svid(e.id);
      const changed = previous.get(e.id) !== e;
      // Parsed only while the bundle has a tainted authority (rare: from a taint until the revoke).
      const tainted = has !== undefined && this.#tainted.x509.length > 0 && this.signedByTainted(parseCertificatesDer(has.certificates));
      if (has && !changed && (this.#renewAt.get(e.id) ?? 0) > now && !tainted) continue;
      if (tainted) taintedCount++;
      const { privateKey } = generateKeyPair(this.#o.workloadKeyType);
      due.push({ entry: e, key: privateKey, csr: createCsr(privateKey) });
    }
    if (taintedCount > 0) log.info({ count: taintedCount }, 'Rotating X509-SVIDs signed by a tainted authority');
    for (const id of this.#renewAt.keys()) if (!entries.some((e) => e.id === id)) this.#renewAt.delete(id);
    const batchSize = this.#o.csrBatchSize ?? CSR_BATCH;
    let fetched = 0;
    for (let i = 0; i < due.length; i += batchSize) {
      const batch = due.slice(i, i + batchSize);
      const results = await this.#o.connection.client.batchNewX509Svid(batch.map((d) => ({ entryId: d.entry.id, csr: d.csr })));
      results.forEach((r, j) => {
        const d = batch[j]!;
        if (r.status.code !== GrpcCode.OK || !r.svid) {
          log.warn({ entry_id: d.entry.id, spiffe_id: d.entry.spiffeId.toString(), err: r.status.message }, 'Failed to get an X509-SVID for an entry');
          return;
        }
        let certificates: X509Certificate[];
        try {
          certificates = r.svid.cert_chain.map((c) => new X509Certificate(c));
          checkIssuedSvid(certificates, { id: d.entry.spiffeId, privateKey: d.key, bundles: cache.bundle(), now: clock.now() });
        } catch (err) {
          // Keep serving the SVID we have; the next sync asks again.
          log.error({ entry_id: d.entry.id, spiffe_id: d.entry.spiffeId.toString(), err: errorMessage(err) }, 'Rejected an X509-SVID from the server');
          metrics.svidsRejected.inc();
          return;
        }
        const privateKeyPkcs8 = d.key.export({ format: 'der', type: 'pkcs8' });
        cache.setSvid(d.entry.id, cachedSvid({ id: d.entry.spiffeId, chain: r.svid.cert_chain, privateKeyPkcs8, notAfter: Date.parse(certificates[0]!.validTo), hint: d.entry.hint }));
        // cachedSvid copied the key: the export is not left in freed memory.
        privateKeyPkcs8.fill(0);
        this.#renewAt.set(d.entry.id, renewalTime(certificates[0]!, now));
        fetched++;
      });
      metrics.svidsFetched.inc(results.filter((r) => r.status.code === GrpcCode.OK).length);
    }
    return { requested: due.length, fetched };
  }
}

function taintedOf(w: WireBundle): Tainted {
  return {
    x509: w.x509_authorities.filter((a) => a.tainted).map((a) => new X509Certificate(a.asn1)),
    jwtKeyIds: new Set(w.jwt_authorities.filter((a) => a.tainted).map((a) => a.key_id)),
  };
}
