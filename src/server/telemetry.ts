// herald-server's metrics (docs/observability.md lists them with SPIRE's
// equivalents). Counters and histograms are updated where things happen;
// gauges describing state (CA slots, bundles, caches) are read at scrape time
// from the components that own that state, attached once the server is built.
import type { Clock } from '../common/clock.ts';
import { grpcStatusFor } from '../common/errors.ts';
import { MetricsRegistry, rpcMetricKey, statusName, type CallCounter } from '../common/telemetry/metrics.ts';
import type { TrustDomain } from '../spiffe/trust-domain.ts';
import type { CaManager } from './ca/manager.ts';
import { activationThreshold } from './ca/slot.ts';
import type { DataStore } from './datastore/datastore.ts';
import type { EntryCache } from './entry-cache/entry-cache.ts';

/** SPIRE's service name, the default metric prefix (telemetry.MetricPrefix overrides it). */
export const SERVER_METRIC_PREFIX = 'spire_server';

export interface ServerMetricSources {
  trustDomain: TrustDomain;
  ca: CaManager;
  ds: DataStore;
  entries: EntryCache;
  clock: Clock;
}

type SvidType = 'x509' | 'jwt';

export class ServerMetrics extends MetricsRegistry {
  #sources: ServerMetricSources | undefined;
  readonly #rpc = new Map<string, CallCounter<never>>();
  /** When each federated trust domain's bundle was last fetched successfully (ms). */
  readonly #federatedFetchedAt = new Map<string, number>();

  // SPIRE: server_ca.sign.{x509_svid,jwt_svid} (successes).
  readonly signX509Svid = this.counter('server_ca_sign_x509_svid', 'The CA has successfully signed an X.509 SVID');
  readonly signJwtSvid = this.counter('server_ca_sign_jwt_svid', 'The CA has successfully signed a JWT SVID');
  readonly svidIssued = this.counter<'type' | 'status'>('svid_issued', 'SVIDs issued by type and result (gRPC status name)', ['type', 'status']);
  readonly svidIssueLatency = this.histogram<'type'>('svid_issue_elapsed_time', 'Time to issue SVIDs, per request (ms)', ['type']);
  readonly x509CaActivate = this.counter('ca_manager_x509_ca_activate', 'The CA manager has successfully activated an X.509 CA');
  readonly jwtKeyActivate = this.counter('manager_jwt_key_activate', 'The CA manager has successfully activated a JWT Key');
  readonly attest = this.call<'attestor'>('node_attestor_attest', 'Agent attestations by node attestor and result', ['attestor']);
  readonly agentRenewals = this.counter('agent_renew', 'Agent X509-SVID renewals');
  readonly federatedBundleUpdate = this.counter<'trust_domain_id'>('bundle_manager_update_federated_bundle', 'The bundle endpoint manager updated a federated bundle', ['trust_domain_id']);
  readonly federatedBundleFetch = this.call<'trust_domain_id'>('bundle_manager_fetch_federated_bundle', 'The bundle endpoint manager fetched a federated bundle', ['trust_domain_id']);
  /** The entry cache's consistency check (HA): entries it found different from the datastore. */
  readonly entryCacheDriftRepaired = this.counter('entry_cache_drift_repaired', 'Entries the entry cache consistency check found different from the datastore, and repaired (a non-zero rate is a bug to report)');

  constructor(prefix = SERVER_METRIC_PREFIX) {
    super(prefix);
    const td = () => this.#sources?.trustDomain.name ?? '';
    const seconds = (ms: number) => (ms - (this.#sources?.clock.now() ?? Date.now())) / 1000;
    this.gauge<'trust_domain_id'>('manager_x509_ca_rotate_expiration', 'Expiration of the active X.509 CA (seconds since the epoch)', ['trust_domain_id'], (g) => {
      const ca = this.#sources?.ca;
      g.reset();
      if (ca) g.set({ trust_domain_id: td() }, Math.floor(ca.currentX509Ca().notAfter / 1000));
    });
    this.gauge<'trust_domain_id'>('manager_x509_ca_rotate_ttl', 'Seconds until the active X.509 CA expires', ['trust_domain_id'], (g) => {
      const ca = this.#sources?.ca;
      g.reset();
      if (ca) g.set({ trust_domain_id: td() }, Math.floor(seconds(ca.currentX509Ca().notAfter)));
    });
    this.gauge<'kind' | 'status' | 'slot'>('ca_authority_expiry_seconds', 'Seconds until each X.509 CA and JWT key slot in use expires, by slot status (active, prepared, old)', ['kind', 'status', 'slot'], (g) => {
      const ca = this.#sources?.ca;
      g.reset();
      if (!ca) return;
      const slots = [
        ['x509_ca', 'active', ca.currentX509Ca()],
        ['x509_ca', 'prepared', ca.nextX509Ca()],
        ['x509_ca', 'old', ca.oldX509Ca()],
        ['jwt_key', 'active', ca.currentJwtKey()],
        ['jwt_key', 'prepared', ca.nextJwtKey()],
        ['jwt_key', 'old', ca.oldJwtKey()],
      ] as const;
      for (const [kind, status, a] of slots) if (a) g.set({ kind, status, slot: a.slotId }, seconds(a.notAfter));
    });
    this.gauge<'kind'>('ca_authority_activation_seconds', 'Seconds until the prepared X.509 CA or JWT key is due to become active (negative: overdue)', ['kind'], (g) => {
      const ca = this.#sources?.ca;
      g.reset();
      if (!ca) return;
      g.set({ kind: 'x509_ca' }, seconds(activationThreshold(ca.currentX509Ca())));
      g.set({ kind: 'jwt_key' }, seconds(activationThreshold(ca.currentJwtKey())));
    });
    this.gauge<'trust_domain_id'>('bundle_sequence', 'Sequence number of each bundle in the datastore (own and federated)', ['trust_domain_id'], async (g) => {
      const ds = this.#sources?.ds;
      g.reset();
      if (!ds) return;
      for (const b of (await ds.listBundles()).items) g.set({ trust_domain_id: b.trustDomain.name }, Number(b.sequenceNumber));
    });
    this.gauge<'trust_domain_id'>('bundle_manager_federated_bundle_age_seconds', 'Seconds since the federated bundle was last fetched successfully from its bundle endpoint', ['trust_domain_id'], (g) => {
      g.reset();
      for (const [name, at] of this.#federatedFetchedAt) g.set({ trust_domain_id: name }, -seconds(at));
    });
    this.gauge('entry_entries_by_entryid_cache_count', 'Registration entries in the entry cache', [], (g) => {
      if (this.#sources) g.set(this.#sources.entries.size);
    });
    this.gauge('node_agents_by_id_cache_count', 'Attested agents', [], async (g) => {
      if (this.#sources) g.set(await this.#sources.ds.countAttestedNodes());
    });
  }

  /** Gives the scrape-time gauges the components they read; counts CA activations. */
  attach(sources: ServerMetricSources): void {
    this.#sources = sources;
    sources.ca.onEvent((e) => {
      if (e.kind === 'x509-activated') this.x509CaActivate.inc();
      else if (e.kind === 'jwt-activated') this.jwtKeyActivate.inc();
    });
  }

  /** SPIRE's per-RPC call counter: rpc_<service>_<method>{status} and its _elapsed_time. */
  rpc(fullMethod: string): CallCounter<never> {
    let c = this.#rpc.get(fullMethod);
    if (!c) this.#rpc.set(fullMethod, (c = this.call(rpcMetricKey(fullMethod), `Calls of ${fullMethod}`)));
    return c;
  }

  /** Records one issuance request: its latency, and each SVID's result. */
  issued(type: SvidType, startedMs: number, codes: readonly number[]): void {
    this.svidIssueLatency.observe({ type }, performance.now() - startedMs);
    let ok = 0;
    for (const code of codes) {
      this.svidIssued.inc({ type, status: statusName(code) });
      if (code === 0) ok++;
    }
    (type === 'jwt' ? this.signJwtSvid : this.signX509Svid).inc(ok);
  }

  /** Runs one single-SVID issuance and records it (its error's status on failure). */
  async timeIssue<T>(type: SvidType, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const out = await fn();
      this.issued(type, started, [0]);
      return out;
    } catch (err) {
      this.issued(type, started, [grpcStatusFor(err)]);
      throw err;
    }
  }

  /** A federated bundle fetch finished: `err` undefined on success. */
  federatedFetch(trustDomain: string, startedMs: number, outcome: { updated: boolean } | { err: unknown }): void {
    const ok = !('err' in outcome);
    this.federatedBundleFetch.done(ok ? 'OK' : statusName(grpcStatusFor(outcome.err)), startedMs, { trust_domain_id: trustDomain });
    if (ok) this.#federatedFetchedAt.set(trustDomain, this.#sources?.clock.now() ?? Date.now());
    if (ok && outcome.updated) this.federatedBundleUpdate.inc({ trust_domain_id: trustDomain });
  }
}
