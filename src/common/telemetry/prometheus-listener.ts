// SPIRE's `telemetry { Prometheus { host port } }`: an HTTP listener that
// answers every GET with the daemon's metrics in Prometheus text format
// (SPIRE serves its handler on every path; /metrics is what scrapers ask).
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { HeraldError, errorMessage } from '../errors.ts';
import type { MetricsRegistry } from './metrics.ts';

// node:http through require: see health-listener.ts (ESM import costs ~8 ms per start).
const { createServer } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

export interface PrometheusConfig {
  readonly host: string;
  readonly port: number;
}

export interface PrometheusListener {
  readonly port: number;
  close(): Promise<void>;
}

export async function startPrometheusListener(cfg: PrometheusConfig, metrics: MetricsRegistry, log: Logger): Promise<PrometheusListener> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET' }).end();
    metrics.text().then(
      (body) => res.writeHead(200, { 'content-type': metrics.contentType }).end(body),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`collecting metrics failed: ${errorMessage(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new HeraldError('ERR_UNAVAILABLE_LISTEN', `telemetry Prometheus: cannot listen on ${cfg.host}:${cfg.port}: ${errorMessage(err)}`, { cause: err })));
    server.listen(cfg.port, cfg.host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  // SPIRE's warning: anything but localhost lets the network read the metrics.
  if (cfg.host !== 'localhost' && cfg.host !== '127.0.0.1' && cfg.host !== '::1') log.warn({ host: cfg.host }, 'Prometheus exporter accepts remote network connections; please ensure access to this port is tightly controlled');
  log.info({ host: cfg.host, port }, 'Starting prometheus exporter');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
