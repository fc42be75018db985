// The agent's admin endpoint (agent.admin_socket_path): local, for the
// operator. HTTP/1.1 with JSON over a Unix socket, so `curl --unix-socket`
// works as well as `herald-agent sds status`.
//   GET /sds/status   connected Envoys: node, pid, SPIFFE IDs, resources,
//                     last sent / ACKed / NACKed (with Envoy's message), held back
//   GET /metrics      the agent's metrics, Prometheus text format (as telemetry.Prometheus serves them)
import { chmod, mkdir, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { checkSocketDirectory, type SocketFileLogger } from '../common/grpc/uds-socket-file.ts';
import type { SdsStreamRegistry } from './endpoints/sds/stream-state.ts';
import type { AgentManager } from './manager.ts';
import type { AgentMetrics } from './telemetry.ts';

// node:http through require, not an ESM import: Node builds the ESM namespace
// of node:http by reading every export, and its WebSocket getters then load
// Node's bundled undici (~8 ms at every start, for nothing).
const { createServer } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

export interface AdminApi {
  close(): Promise<void>;
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

export async function sdsStatus(registry: SdsStreamRegistry, manager: AgentManager, metrics: AgentMetrics): Promise<object> {
  return {
    ready: manager.lastSyncAt > 0,
    agent_id: manager.agentId?.toString() ?? null,
    last_sync: iso(manager.lastSyncAt || undefined),
    streams: registry.list().map((s) => ({
      stream: s.id,
      kind: s.kind,
      connected_at: iso(s.connectedAt),
      node_id: s.nodeId,
      cluster: s.cluster,
      user_agent: s.userAgent,
      pid: s.pid ?? null,
      spiffe_ids: s.spiffeIds,
      resource_names: s.resourceNames,
      last_sent: s.lastSent ? { version: s.lastSent.version, at: iso(s.lastSent.at) } : null,
      last_ack: s.lastAck ? { version: s.lastAck.version, at: iso(s.lastAck.at) } : null,
      last_nack: s.lastNack ? { version: s.lastNack.version, message: s.lastNack.message, at: iso(s.lastNack.at) } : null,
      held_back: s.heldBack,
    })),
    // Push→ACK percentiles are estimated from the histogram's buckets, as PromQL's histogram_quantile does.
    ...(await metrics.sdsSummary()),
  };
}

export async function startAdminApi(socketPath: string, deps: { registry: SdsStreamRegistry; manager: AgentManager; metrics: AgentMetrics; log?: SocketFileLogger }): Promise<AdminApi> {
  await mkdir(dirname(socketPath), { recursive: true, mode: 0o700 });
  // Another user who can write here could put their own socket in its place.
  checkSocketDirectory(dirname(socketPath), 'agent admin socket', deps.log);
  await rm(socketPath, { force: true });
  const server: Server = createServer((req, res) => {
    const send = (type: string, body: Promise<string>): void =>
      void body.then(
        (b) => res.writeHead(200, { 'content-type': type }).end(b),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`),
      );
    if (req.method === 'GET' && req.url === '/sds/status') send('application/json', sdsStatus(deps.registry, deps.manager, deps.metrics).then((s) => JSON.stringify(s, null, 2) + '\n'));
    else if (req.method === 'GET' && req.url === '/metrics') send(deps.metrics.contentType, deps.metrics.text());
    else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /sds/status or /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  // Operator-only: the status names every workload's identities.
  await chmod(socketPath, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => void rm(socketPath, { force: true }).then(() => resolve()));
      }),
  };
}
