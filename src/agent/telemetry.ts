// herald-agent's metrics (docs/observability.md lists them with SPIRE's
// equivalents). Counters and histograms are updated where things happen;
// gauges describing state (the cache, open SDS streams, last sync) are read at
// scrape time from the components that own it, attached once the agent is built.
import type { Clock } from '../common/clock.ts';
import { histogramQuantile, MetricsRegistry, valueOf } from '../common/telemetry/metrics.ts';
import type { WorkloadCache } from './cache/workload-cache.ts';
import type { SdsStreamRegistry } from './endpoints/sds/stream-state.ts';

/** SPIRE's service name, the default metric prefix (telemetry.MetricPrefix overrides it). */
export const AGENT_METRIC_PREFIX = 'spire_agent';

export interface AgentMetricSources {
  cache: WorkloadCache;
  /** When the last sync succeeded (ms; 0 before the first). */
  lastSyncAt: () => number;
  sdsStreams?: SdsStreamRegistry;
  clock: Clock;
}

export type AuthzResult = 'allowed' | 'injected' | 'denied_policy' | 'denied_missing_token' | 'denied_invalid_token';

export class AgentMetrics extends MetricsRegistry {
  #sources: AgentMetricSources | undefined;

  readonly sync = this.call('manager_sync', 'Syncs with the server, by result (gRPC status name)');
  readonly svidsFetched = this.counter('manager_sync_svids_fetched', 'Workload X509-SVIDs fetched from the server');
  readonly svidsRejected = this.counter('manager_sync_svids_rejected', 'Workload X509-SVIDs from the server that failed the agent\'s checks');
  readonly entryNudges = this.counter('manager_entry_watch_nudges', 'Messages of the server\'s entry watch: its entries changed, or the watch is registered (each asks for a sync, which the agent rate limits)');
  readonly workloadAttestor = this.call<'attestor'>('workload_api_workload_attestor', 'Workload attestor invocations by attestor and result', ['attestor']);
  readonly workloadApiConnection = this.counter('workload_api_connection', 'Workload API streams opened');
  readonly workloadApiConnections = this.gauge('workload_api_connections', 'Workload API streams open');
  readonly workloadApiFetch = this.counter<'type'>('workload_api_fetch', 'Workload API fetches by type (x509_svid, jwt_svid)', ['type']);
  readonly workloadApiChangeToPush = this.histogram('workload_api_change_to_push_elapsed_time', 'From a cache change to its Workload API update written (ms)');
  readonly sdsPush = this.counter('sds_api_push', 'SDS responses sent');
  readonly sdsAck = this.counter('sds_api_ack', 'SDS responses Envoy acknowledged (ACK)');
  readonly sdsNack = this.counter('sds_api_nack', 'SDS responses Envoy rejected (NACK)');
  readonly sdsPushToAck = this.histogram('sds_api_push_to_ack_elapsed_time', 'From an SDS response sent to its ACK (ms)');
  readonly sdsChangeToPush = this.histogram('sds_api_change_to_push_elapsed_time', 'From a cache change to its SDS response written (ms)');
  readonly sdsHeldBack = this.counter('sds_api_resource_held_back', 'SDS resources held back from a caller not entitled to them');
  readonly authzDecision = this.counter<'result'>('authz_decision', 'ext_authz decisions by result', ['result']);
  readonly authzLatency = this.histogram('authz_check_elapsed_time', 'ext_authz Check time (ms)');

  constructor(prefix = AGENT_METRIC_PREFIX) {
    super(prefix);
    this.gauge<'kind'>('sds_api_connections', 'SDS streams open, by kind (stream, delta)', ['kind'], (g) => {
      g.reset();
      for (const kind of ['stream', 'delta'] as const) g.set({ kind }, this.#sources?.sdsStreams?.list().filter((s) => s.kind === kind).length ?? 0);
    });
    this.gauge('lru_cache_record_map_size', 'Registration entries in the agent cache', [], (g) => {
      if (this.#sources) g.set(this.#sources.cache.entries().length);
    });
    this.gauge('lru_cache_svid_map_size', 'Workload X509-SVIDs in the agent cache', [], (g) => {
      if (this.#sources) g.set(this.#svids().length);
    });
    // One series per SPIFFE ID the agent holds an SVID for: bounded by the entries authorized to this agent.
    this.gauge<'spiffe_id'>('cache_manager_svid_expiry_seconds', 'Seconds until each cached workload X509-SVID expires (the soonest per SPIFFE ID)', ['spiffe_id'], (g) => {
      g.reset();
      const now = this.#sources?.clock.now() ?? Date.now();
      const soonest = new Map<string, number>();
      for (const s of this.#svids()) {
        const id = s.id.toString();
        const left = (s.notAfter - now) / 1000;
        soonest.set(id, Math.min(left, soonest.get(id) ?? Infinity));
      }
      for (const [spiffe_id, left] of soonest) g.set({ spiffe_id }, left);
    });
    this.gauge('manager_last_sync_age_seconds', 'Seconds since the last successful sync with the server (NaN before the first)', [], (g) => {
      const at = this.#sources?.lastSyncAt() ?? 0;
      g.set(at > 0 ? (this.#sources!.clock.now() - at) / 1000 : NaN);
    });
  }

  #svids() {
    const cache = this.#sources?.cache;
    if (!cache) return [];
    return cache.entries().flatMap((e) => cache.svid(e.id) ?? []);
  }

  attach(sources: AgentMetricSources): void {
    this.#sources = sources;
  }

  /** The SDS counters and push→ACK percentiles for `herald-agent sds status`. */
  async sdsSummary(): Promise<{ counters: Record<string, number>; push_to_ack_ms: { p50: number; p99: number } | null }> {
    const counters = {
      'sds.push': await valueOf(this.sdsPush),
      'sds.ack': await valueOf(this.sdsAck),
      'sds.nack': await valueOf(this.sdsNack),
      'sds.resource_held_back': await valueOf(this.sdsHeldBack),
    };
    const p50 = await histogramQuantile(this.sdsPushToAck, 0.5);
    const p99 = await histogramQuantile(this.sdsPushToAck, 0.99);
    return { counters, push_to_ack_ms: p50 === undefined || p99 === undefined ? null : { p50, p99 } };
  }
}
