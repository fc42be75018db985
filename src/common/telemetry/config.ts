// SPIRE's `telemetry` block, for both daemons (pkg/common/telemetry/config.go):
// Herald serves the Prometheus sink; the push sinks are refused by name.
import { s } from '../config/schema.ts';
import { nonEmpty } from '../config/spiffe-checks.ts';
import type { PrometheusConfig } from './prometheus-listener.ts';

export function telemetrySchema(service: 'spire_server' | 'spire_agent') {
  return s.section(
    {
      Prometheus: s.section(
        {
          host: s.string({ description: 'Address the /metrics listener binds (SPIRE: anything but localhost is warned about)', default: 'localhost', validate: nonEmpty }),
          port: s.int({ description: 'Port of the /metrics listener (0: any free port, logged at start)', required: true, min: 0, max: 65535 }),
        },
        { description: 'Serve metrics in Prometheus text format over HTTP', optional: true },
      ),
      MetricPrefix: s.string({ description: `Prefix of every metric name (SPIRE's service name)`, default: service, validate: (v) => (/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(v) ? undefined : 'must be a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)') }),
      DogStatsd: s.unsupported('the DogStatsd sink is not implemented; use Prometheus'),
      Statsd: s.unsupported('the Statsd sink is not implemented; use Prometheus'),
      M3: s.unsupported('the M3 sink is not implemented; use Prometheus'),
      InMem: s.unsupported('the InMem sink is not implemented; use Prometheus'),
      EnableTrustDomainLabel: s.unsupported('metrics carry the trust domain only where SPIRE labels it trust_domain_id'),
      EnableHostnameLabel: s.unsupported('Prometheus labels each target with its instance; no hostname label is added'),
      AllowedPrefixes: s.unsupported('metric filtering is not implemented; use Prometheus metric_relabel_configs'),
      BlockedPrefixes: s.unsupported('metric filtering is not implemented; use Prometheus metric_relabel_configs'),
      AllowedLabels: s.unsupported('metric filtering is not implemented; use Prometheus metric_relabel_configs'),
      BlockedLabels: s.unsupported('metric filtering is not implemented; use Prometheus metric_relabel_configs'),
    },
    { description: 'Metrics (SPIRE telemetry): the Prometheus sink' },
  );
}

export interface TelemetryConfig {
  /** Undefined: no /metrics listener. */
  readonly prometheus: PrometheusConfig | undefined;
  readonly metricPrefix: string;
}

export function toTelemetryConfig(t: { Prometheus: { host: string; port: number } | undefined; MetricPrefix: string }): TelemetryConfig {
  return { prometheus: t.Prometheus ? { host: t.Prometheus.host, port: t.Prometheus.port } : undefined, metricPrefix: t.MetricPrefix };
}
