// Metrics on prom-client, one registry per daemon instance: tests run several
// servers and agents in one process, so nothing touches prom-client's global
// default registry. Names follow SPIRE's go-metrics Prometheus sink: the
// service name ("spire_server", "spire_agent", or telemetry.MetricPrefix),
// then the key parts joined with "_" (see docs/observability.md).
import { Counter, Gauge, Histogram, Registry } from './prom-client.ts';

/** Latency buckets in milliseconds (SPIRE's timers are in ms). */
export const LATENCY_BUCKETS_MS = [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000];

type Labels<L extends string> = Partial<Record<L, string | number>>;

/** SPIRE's call counter: `<key>{status}` counts calls, `<key>_elapsed_time{status}` times them (ms). */
export interface CallCounter<L extends string> {
  /** Records one call that started at `startedMs` (performance.now()) and ended with the gRPC code name `status` ("OK", …). */
  done(status: string, startedMs: number, labels?: Labels<L>): void;
}

export class MetricsRegistry {
  readonly registry = new Registry();
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  #name(key: string): string {
    return `${this.prefix}_${key}`;
  }

  counter<L extends string = never>(key: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name: this.#name(key), help, labelNames, registers: [this.registry] });
  }

  /**
   * A gauge; `collect` (run at every scrape) reads its value from the
   * component that owns it. A source that fails (a datastore that cannot be
   * read, no active CA yet) leaves this gauge without series for that scrape
   * (NaN when it has no labels: prom-client always writes those) instead of
   * failing the whole scrape.
   */
  gauge<L extends string = never>(key: string, help: string, labelNames: readonly L[] = [], collect?: (g: Gauge<L>) => void | Promise<void>): Gauge<L> {
    return new Gauge({
      name: this.#name(key),
      help,
      labelNames,
      registers: [this.registry],
      ...(collect
        ? {
            async collect(this: Gauge<L>) {
              try {
                await collect(this);
              } catch {
                this.reset();
                if (labelNames.length === 0) this.set(NaN);
              }
            },
          }
        : {}),
    });
  }

  histogram<L extends string = never>(key: string, help: string, labelNames: readonly L[] = [], buckets: number[] = LATENCY_BUCKETS_MS): Histogram<L> {
    return new Histogram({ name: this.#name(key), help, labelNames, buckets, registers: [this.registry] });
  }

  call<L extends string = never>(key: string, help: string, labelNames: readonly L[] = []): CallCounter<L> {
    const count = this.counter<L | 'status'>(key, help, [...labelNames, 'status']);
    const elapsed = this.histogram<L | 'status'>(`${key}_elapsed_time`, `${help} (elapsed milliseconds)`, [...labelNames, 'status']);
    return {
      done(status, startedMs, labels) {
        const l = { ...labels, status } as Labels<L | 'status'>;
        count.inc(l);
        elapsed.observe(l, performance.now() - startedMs);
      },
    };
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** The value of a counter or gauge for `labels` (every series summed when omitted); for status pages and tests. */
export async function valueOf(m: Counter<string> | Gauge<string>, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await m.get();
  return values.filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)).reduce((sum, v) => sum + v.value, 0);
}

/**
 * A quantile (0..1) of a histogram's observations, interpolated within its
 * buckets as PromQL's histogram_quantile does; undefined without observations.
 */
export async function histogramQuantile(h: Histogram<string>, q: number): Promise<number | undefined> {
  const { values } = await h.get();
  const buckets = new Map<number, number>();
  for (const v of values) {
    if (v.metricName?.endsWith('_bucket') !== true) continue;
    const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + v.value);
  }
  return quantileFromBuckets([...buckets].sort((a, b) => a[0] - b[0]), q);
}

/** histogram_quantile over cumulative [upper bound, count] buckets sorted by bound. */
export function quantileFromBuckets(buckets: readonly (readonly [number, number])[], q: number): number | undefined {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return undefined;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of buckets) {
    if (count >= rank) {
      // The +Inf bucket has no width: answer the highest finite bound.
      if (bound === Infinity) return prevBound;
      return prevBound + ((bound - prevBound) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}

/**
 * SPIRE's metric key for a gRPC method (pkg/common/api/middleware/names.go):
 * the service without "spire.api.server.", split on dots, and the method, each
 * PascalCase → snake_case the way SPIRE does (BatchNewX509SVID → batch_new_x509svid).
 */
export function rpcMetricKey(fullMethod: string): string {
  const [rawService = '', method = ''] = fullMethod.replace(/^\//, '').split('/');
  const service = rawService
    .replace('spire.api.server.', '')
    .replace('SpiffeWorkloadAPI', 'WorkloadAPI')
    .replace('envoy.service.secret.v3.SecretDiscoveryService', 'SDS.v3')
    .replace('grpc.health.v1.Health', 'Health');
  const parts = [...service.split('.'), method.replace('SubscribeToX509SVIDs', 'subscribe_to_x509_svids')];
  return ['rpc', ...parts.map(snakeKey)].join('_');
}

function snakeKey(s: string): string {
  const chars = [...s];
  let out = '';
  chars.forEach((r, i) => {
    if (!/[\p{L}\p{N}]/u.test(r)) {
      out += '_';
      return;
    }
    const lower = r.toLowerCase();
    const isLower = (c: string | undefined) => c !== undefined && c !== c.toUpperCase() && c === c.toLowerCase();
    if (r !== lower && i > 0 && i + 1 < chars.length && (isLower(chars[i + 1]) || isLower(chars[i - 1])) && !out.endsWith('_')) out += '_';
    out += lower;
  });
  return out;
}

// Go's codes.Code.String(): SPIRE's `status` label and audit status_code.
const CODE_NAMES = ['OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied', 'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated'];

/** The gRPC code's name as SPIRE writes it in labels and logs ("OK", "PermissionDenied"). */
export function statusName(code: number): string {
  return CODE_NAMES[code] ?? `Code(${code})`;
}
