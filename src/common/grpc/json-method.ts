// A gRPC method definition with JSON serializers: for Herald's own small
// services that have no proto (the admin socket's debug service, tests).
import type * as grpc from '@grpc/grpc-js';

const serialize = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
// An empty message (a client that sends nothing) reads as {}.
const deserialize = (bytes: Buffer): unknown => (bytes.length === 0 ? {} : JSON.parse(bytes.toString('utf8')));

/** The definition of method `path` (`/package.Service/Method`), unary unless `responseStream`. */
export function jsonMethod(path: string, opts: { responseStream?: boolean } = {}): grpc.MethodDefinition<unknown, unknown> {
  return {
    path,
    requestStream: false,
    responseStream: opts.responseStream === true,
    requestSerialize: serialize,
    requestDeserialize: deserialize,
    responseSerialize: serialize,
    responseDeserialize: deserialize,
  };
}
