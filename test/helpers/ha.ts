// A high-availability deployment for end-to-end tests and benchmarks: one
// real PostgreSQL, N herald-servers sharing it (each with its own data_dir,
// CA keys and admin socket), a real Envoy TCP load balancer in front of their
// agent APIs (round robin, connect-only health checks every second, connect
// retries on another server), and helpers to watch a workload's SVIDs.
import * as grpc from '@grpc/grpc-js';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { serviceClient, Services } from '../../src/common/grpc/protos.ts';
import { parseCertificatesDer } from '../../src/spiffe/bundle/der.ts';
import { startEnvoy, type EnvoyHandle } from './envoy.ts';
import { startServer, type ServerHandle } from './herald.ts';
import { freePort } from './ports.ts';
import { startPostgres, type PostgresCluster, type PostgresOptions } from './postgres.ts';

export interface HaDeployment {
  readonly postgres: PostgresCluster;
  readonly databaseUri: string;
  readonly servers: ServerHandle[];
  readonly lb: EnvoyHandle;
  /** A ServerHandle-shaped view of the load balancer, for startAgent's `server`. */
  readonly lbServer: ServerHandle;
  /** Active load-balanced connections per server (by index), from Envoy's /clusters. */
  activeConnections(): Promise<number[]>;
  stop(): Promise<void>;
}

export function lbYaml(lbPort: number, adminPort: number, serverPorts: readonly number[]): string {
  return `admin: { address: { socket_address: { address: 127.0.0.1, port_value: ${adminPort} } } }
static_resources:
  listeners:
  - name: herald
    address: { socket_address: { address: 127.0.0.1, port_value: ${lbPort} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: herald
          cluster: herald
          max_connect_attempts: 3
  clusters:
  - name: herald
    type: STATIC
    connect_timeout: 1s
    lb_policy: ROUND_ROBIN
    # Envoy's default allows 1,024 connections per cluster; every agent holds one.
    circuit_breakers: { thresholds: [ { max_connections: 1000000, max_pending_requests: 1000000, max_requests: 1000000 } ] }
    health_checks:
    - { timeout: 1s, interval: 1s, unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }
    load_assignment:
      cluster_name: herald
      endpoints:
      - lb_endpoints:
${serverPorts.map((p) => `        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p} } } }`).join('\n')}
`;
}

export async function startHa(o: { dir: string; servers?: number; x509SvidTtl?: string; extraServer?: string; postgres?: PostgresOptions }): Promise<HaDeployment> {
  const postgres = await startPostgres(o.postgres);
  const stops: (() => Promise<void>)[] = [() => postgres.stop()];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
  };
  try {
    const databaseUri = await postgres.createDatabase();
    const servers: ServerHandle[] = [];
    for (let i = 1; i <= (o.servers ?? 3); i++) {
      const dir = join(o.dir, `server${i}`);
      await mkdir(dir, { recursive: true });
      // One at a time: the first migrates the schema, the others find it.
      const s = await startServer({
        dir,
        logLevel: 'INFO',
        dataStore: `{ sql: { plugin_data: { database_type: postgres, connection_string: "${databaseUri}" } } }`,
        ...(o.x509SvidTtl ? { x509SvidTtl: o.x509SvidTtl } : {}),
        ...(o.extraServer ? { extraServer: o.extraServer } : {}),
      });
      servers.push(s);
      stops.push(() => s.stop());
    }
    const lbPort = await freePort();
    const adminPort = await freePort();
    const lb = await startEnvoy({ dir: o.dir, name: 'lb', yaml: lbYaml(lbPort, adminPort, servers.map((s) => s.port)), adminPort });
    stops.push(() => lb.stop());
    const lbServer: ServerHandle = { ...servers[0]!, port: lbPort };
    return {
      postgres,
      databaseUri,
      servers,
      lb,
      lbServer,
      async activeConnections() {
        const text = await lb.admin('/clusters');
        return servers.map((s) => Number(new RegExp(`^herald::127\\.0\\.0\\.1:${s.port}::cx_active::(\\d+)$`, 'm').exec(text)?.[1] ?? 0));
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** What a workload saw on its FetchX509SVID stream. */
export interface SvidWatch {
  /** SPIFFE IDs of the latest message, and when it came. */
  latest(): { ids: string[]; at: number; notAfter: Map<string, number> } | undefined;
  /** Moments the workload held no valid SVID for an ID it had, and stream errors. */
  readonly failures: string[];
  /** Resolves with the time (ms, Date.now) the ID first appeared / disappeared. */
  waitFor(id: string, present: boolean, timeoutMs: number): Promise<number>;
  close(): void;
}

/**
 * Streams FetchX509SVID as a workload and checks, every 50 ms, that no SVID it
 * holds has expired. "No identity issued" (nothing for it yet, or no longer)
 * is an empty set, asked again as a workload library would.
 */
export function watchSvids(socketPath: string, watched: (id: string) => boolean = () => true): SvidWatch {
  const Ctor = serviceClient(Services.workload);
  const client = new Ctor(`unix:${socketPath}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  type Msg = { svids: { spiffe_id: string; x509_svid: Buffer }[] };
  let latest: { ids: string[]; at: number; notAfter: Map<string, number> } | undefined;
  const failures: string[] = [];
  const waiters = new Set<() => void>();
  let closed = false;
  let call: grpc.ClientReadableStream<Msg> | undefined;
  let retry: NodeJS.Timeout | undefined;
  const publish = (ids: string[], notAfter: Map<string, number>) => {
    latest = { ids, at: Date.now(), notAfter };
    for (const w of [...waiters]) w();
  };
  const open = () => {
    const md = new grpc.Metadata();
    md.set('workload.spiffe.io', 'true');
    const c = (client.FetchX509SVID as (r: object, m: grpc.Metadata) => grpc.ClientReadableStream<Msg>)({}, md);
    call = c;
    c.on('data', (m: Msg) => {
      publish(m.svids.map((s) => s.spiffe_id), new Map(m.svids.map((s) => [s.spiffe_id, Date.parse(parseCertificatesDer(s.x509_svid)[0]!.validTo)] as const)));
    });
    c.on('error', (err: grpc.ServiceError) => {
      if (closed) return;
      const noIdentity = err.code === grpc.status.PERMISSION_DENIED && /no identity issued/.test(err.details);
      if (!noIdentity || latest?.ids.some(watched)) failures.push(`stream error while holding SVIDs: ${err.message}`);
      publish([], new Map());
      retry = setTimeout(open, 100);
    });
  };
  open();
  const check = setInterval(() => {
    if (latest === undefined) return;
    for (const [id, t] of latest.notAfter) if (watched(id) && t <= Date.now()) failures.push(`${id} expired at ${new Date(t).toISOString()} without a renewal`);
  }, 50);
  return {
    latest: () => latest,
    failures,
    waitFor(id, present, timeoutMs) {
      return new Promise((resolve, reject) => {
        const probe = () => {
          if (latest !== undefined && latest.ids.includes(id) === present) {
            waiters.delete(probe);
            clearTimeout(timer);
            resolve(latest.at);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(probe);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${id} to ${present ? 'appear' : 'disappear'}; latest: ${latest?.ids.join(', ') || 'nothing'}`));
        }, timeoutMs);
        waiters.add(probe);
        probe();
      });
    },
    close() {
      closed = true;
      clearInterval(check);
      clearTimeout(retry);
      call?.cancel();
      client.close();
    },
  };
}
