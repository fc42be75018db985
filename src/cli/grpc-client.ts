// Promise-style calls over grpc-js clients for the CLIs, and the admin
// socket address. One channel per command run; closed when done.
//
// Errors read as SPIRE's CLI prints them (Go's status String: `rpc error:
// code = AlreadyExists desc = …`); a socket nobody listens on is a
// `connection error: … (is the server running? -socketPath …)`. Before an
// admin socket is used, its owner is checked: it must be the CLI's own uid
// or root, or another local user may have put an impostor in its place.
import * as grpc from '@grpc/grpc-js';
import { serviceClient, type ServiceName } from '../common/grpc/protos.ts';
import { callUnaryByName } from '../common/wire/call.ts';
import type { UnaryMethod, UnaryRequest, UnaryResponse, WireClient } from '../common/wire/types.ts';
import { connectErrnoError, connectionErrorText, type ConnectionError } from './admin-socket.ts';

export { grpcCodeName, rpcErrorText } from './grpc-status-text.ts';
export { checkAdminSocket, ConnectionError } from './admin-socket.ts';

/** A client of one of the daemons' APIs, typed with the generated client where there is one. */
export type Client = grpc.Client;

/** Which daemon a client talks to, for "is the server running?". */
const targets = new WeakMap<grpc.Client, { socketPath: string; daemon: string }>();

export function udsClient<N extends ServiceName>(service: N, socketPath: string, options: grpc.ClientOptions = {}, daemon = 'server'): WireClient<N> {
  const Ctor = serviceClient(service);
  const client = new Ctor(`unix:${socketPath}`, grpc.credentials.createInsecure(), options);
  targets.set(client, { socketPath, daemon });
  return client;
}

/** Calls a unary method; rejects with the gRPC status error (a ConnectionError when the socket cannot be reached). */
export function callUnary<C extends grpc.Client, M extends UnaryMethod<C>>(client: C, method: M, request: UnaryRequest<C, M>, metadata?: grpc.Metadata, deadlineMs?: number): Promise<UnaryResponse<C, M>>;
/** A method whose name is built at run time: the caller names the response. */
export function callUnary<Res>(client: grpc.Client, method: string, request: object, metadata?: grpc.Metadata, deadlineMs?: number): Promise<Res>;
export function callUnary(client: grpc.Client, method: string, request: unknown, metadata = new grpc.Metadata(), deadlineMs = 30_000): Promise<unknown> {
  return callUnaryByName(client, method, request, metadata, { deadline: Date.now() + deadlineMs }).catch((err: unknown) => {
    throw isServiceError(err) ? rpcErrorOf(client, err) : err;
  });
}

function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number';
}

function rpcErrorOf(client: grpc.Client, err: grpc.ServiceError): Error {
  const target = targets.get(client);
  return target ? connectionErrorOf(err, target.socketPath, target.daemon) : err;
}

/**
 * What grpc-js says when it could not connect ("No connection established.
 * Last error: Error: connect ENOENT /x.sock. Resolution note: "), as one
 * line in the style of Go's dialer.
 */
function connectionError(details: string, socketPath: string, daemon: string): ConnectionError {
  const last = /Last error: (?:Error: )?(.*?)(?:\.? Resolution note:.*)?$/s.exec(details)?.[1]?.trim() ?? details;
  const m = /^connect (E[A-Z]+)\b/.exec(last);
  return m ? connectErrnoError(m[1]!, socketPath, daemon) : connectionErrorText(last, socketPath, daemon);
}

/** `err` as a ConnectionError when grpc-js could not connect to `socketPath`; otherwise `err` itself. */
export function connectionErrorOf(err: grpc.ServiceError, socketPath: string, daemon: string): Error {
  if (err.code === grpc.status.UNAVAILABLE && /No connection established|connect E[A-Z]+/.test(err.details ?? '')) return connectionError(err.details, socketPath, daemon);
  return err;
}
