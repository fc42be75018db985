// A Workload API client for the agent CLI (`api fetch|validate|watch`):
// adds the security header and finds the socket like go-spiffe does.
import * as grpc from '@grpc/grpc-js';
import { HeraldError } from '../../common/errors.ts';
import { serviceClient, Services } from '../../common/grpc/protos.ts';
import { SECURITY_HEADER } from '../../spiffe/workload-api.ts';
import { connectionErrorOf } from '../grpc-client.ts';
import { callUnaryMethod, openServerStream } from '../../common/wire/call.ts';
import type { StreamMessage, StreamMethod, StreamRequest, UnaryMethod, UnaryRequest, UnaryResponse, WireClient } from '../../common/wire/types.ts';

export { agentSocketPath, DEFAULT_AGENT_SOCKET } from './socket-path.ts';

export type WorkloadClient = WireClient<typeof Services.workload>;

const socketOf = new WeakMap<grpc.Client, string>();

export function workloadClient(socketPath: string): WorkloadClient {
  const Ctor = serviceClient(Services.workload);
  const client = new Ctor(`unix:${socketPath}`, grpc.credentials.createInsecure());
  socketOf.set(client, socketPath);
  return client;
}

/** A failure to reach the socket as "connection error: … (is the agent running? -socketPath …)". */
function reachable(client: grpc.Client, err: grpc.ServiceError): Error {
  const path = socketOf.get(client);
  return path ? connectionErrorOf(err, path, 'agent') : err;
}

export function headerMetadata(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(SECURITY_HEADER, 'true');
  return md;
}

/** The first message of a server stream (then cancels it). */
export function firstMessage<M extends StreamMethod<WorkloadClient>>(client: WorkloadClient, method: M, request: StreamRequest<WorkloadClient, M>, timeoutMs: number): Promise<StreamMessage<WorkloadClient, M>> {
  type T = StreamMessage<WorkloadClient, M>;
  return new Promise((resolve, reject) => {
    const call = openServerStream(client, method, request, headerMetadata(), { deadline: Date.now() + timeoutMs });
    let done = false;
    call.on('data', (m: T) => {
      if (done) return;
      done = true;
      resolve(m);
      call.cancel();
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (!done) reject(reachable(client, err));
    });
    call.on('end', () => {
      if (!done) reject(new HeraldError('ERR_UNAVAILABLE_STREAM_ENDED', 'stream ended without a message'));
    });
  });
}

export function unaryCall<M extends UnaryMethod<WorkloadClient>>(client: WorkloadClient, method: M, req: UnaryRequest<WorkloadClient, M>, timeoutMs: number): Promise<UnaryResponse<WorkloadClient, M>> {
  return callUnaryMethod(client, method, req, headerMetadata(), { deadline: Date.now() + timeoutMs }).catch((err: grpc.ServiceError) => {
    throw reachable(client, err);
  });
}
