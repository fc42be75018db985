// Turning thrown errors into gRPC statuses, in one place. INVALID_ARGUMENT
// and PERMISSION_DENIED carry the message (it names what was wrong with the
// caller's input); internal errors reach the peer as a generic message and
// are logged once with their cause.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { GrpcCode, HeraldError, errorMessage, grpcStatusFor } from '../errors.ts';
import { AgentPermissionDeniedError, permissionDeniedTrailer } from './permission-denied.ts';

export interface ServiceErrorLike {
  code: number;
  details: string;
  /** Trailers: SPIRE's PermissionDeniedDetails when an agent is refused. */
  metadata?: grpc.Metadata;
}

export function toServiceError(err: unknown, log?: Logger, method?: string): ServiceErrorLike {
  const code = grpcStatusFor(err);
  const exposeMessage = err instanceof HeraldError && code !== GrpcCode.INTERNAL;
  // Well-formed: a message may echo caller input that is not (protobufjs reads
  // invalid UTF-8 as lone surrogates), and grpc-js's encodeURI of it would
  // throw outside any handler and take the process down.
  const details = (exposeMessage ? errorMessage(err) : 'internal error').toWellFormed();
  if (log) {
    const level = code === GrpcCode.INTERNAL || code === GrpcCode.UNKNOWN ? 'error' : 'debug';
    log[level]({ err, method, code: grpc.status[code] }, 'Request failed');
  }
  if (err instanceof AgentPermissionDeniedError && code === GrpcCode.PERMISSION_DENIED) {
    return { code, details, metadata: permissionDeniedTrailer(code, details, err.reason) };
  }
  return { code, details };
}

/** Wraps an async unary handler: resolve → callback(null, value); throw → status. */
export function unary<Req, Res>(
  fn: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
  log?: Logger,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call).then(
      (res) => callback(null, res),
      (err) => callback(toServiceError(err, log, call.getPath()) as grpc.ServiceError),
    );
  };
}

/** Ends a server stream with the status for `err`. */
export function failStream(call: { emit(event: 'error', err: unknown): boolean; getPath(): string }, err: unknown, log?: Logger): void {
  call.emit('error', toServiceError(err, log, call.getPath()));
}
