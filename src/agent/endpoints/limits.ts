// Limits on what callers of the agent's sockets (Workload API + SDS, and
// ext_authz) may hold, so that one hostile or broken workload (a stream
// loop, huge messages, thousands of idle connections) cannot starve the
// others or grow the agent without bound. `agent.endpoint_limits` in the
// config; the defaults are far above what real workloads and Envoys use.
import type * as grpc from '@grpc/grpc-js';
import { s, type Infer } from '../../common/config/index.ts';
import type { UdsConnectionLimits } from '../../common/grpc/uds-server.ts';

export const endpointLimitsSchema = s.section(
  {
    max_connections: s.int({ description: 'Herald: connections open at once on each agent socket; further ones are closed as they are accepted', default: 4096, min: 1 }),
    max_connections_per_uid: s.int({ description: 'Herald: connections open at once from one caller uid on each agent socket (one workload cannot take them all)', default: 1024, min: 1 }),
    max_streams_per_connection: s.int({ description: 'Herald: concurrent calls (streams) on one connection; further ones wait in the client (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS)', default: 1000, min: 1 }),
    max_request_bytes: s.int({ description: 'Herald: largest request message; a larger one fails with RESOURCE_EXHAUSTED', default: 1024 * 1024, min: 1024 }),
    first_request_timeout: s.duration({ description: 'Herald: a connection that has not sent its first request by then is closed', default: '10s', min: '100ms' }),
    idle_connection_timeout: s.duration({ description: 'Herald: a connection without a call for this long is closed (clients reconnect); 0 = never', default: '30m' }),
  },
  { description: 'Herald: bounds on what callers of the agent sockets may hold' },
);

export type EndpointLimitsFile = Infer<typeof endpointLimitsSchema>;

export interface EndpointLimits {
  readonly connections: UdsConnectionLimits;
  /** grpc-js server options enforcing the per-connection and per-message bounds. */
  readonly grpcOptions: grpc.ServerOptions;
}

export function toEndpointLimits(f: EndpointLimitsFile): EndpointLimits {
  return {
    connections: { maxConnections: f.max_connections, maxConnectionsPerUid: f.max_connections_per_uid, firstRequestTimeoutMs: f.first_request_timeout },
    grpcOptions: {
      'grpc.max_concurrent_streams': f.max_streams_per_connection,
      'grpc.max_receive_message_length': f.max_request_bytes,
      ...(f.idle_connection_timeout > 0 ? { 'grpc.max_connection_idle_ms': f.idle_connection_timeout } : {}),
    },
  };
}
