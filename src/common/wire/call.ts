// Calls on the generated clients (types.ts) by method name, typed end to
// end: the request and the response come from the protos.
import type * as grpc from '@grpc/grpc-js';
import type { StreamMessage, StreamMethod, StreamRequest, UnaryMethod, UnaryRequest, UnaryResponse } from './types.ts';

/** Calls unary `method` of `client`; resolves with the response, rejects with the gRPC status error. */
export function callUnaryMethod<C extends grpc.Client, M extends UnaryMethod<C>>(
  client: C,
  method: M,
  request: UnaryRequest<C, M>,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
): Promise<UnaryResponse<C, M>> {
  return callUnaryByName<UnaryResponse<C, M>>(client, method, request, metadata, options);
}

/** A method whose name is only known at run time (built from flags): the caller names the response. */
export function callUnaryByName<Res>(client: grpc.Client, method: string, request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn: unknown = Reflect.get(client, method);
    if (typeof fn !== 'function') {
      reject(new Error(`no method ${method}`));
      return;
    }
    fn.call(client, request, metadata, options, (err: grpc.ServiceError | null, res: Res) => (err ? reject(err) : resolve(res)));
  });
}

/** Opens server-stream `method` of `client`. */
export function openServerStream<C extends grpc.Client, M extends StreamMethod<C>>(
  client: C,
  method: M,
  request: StreamRequest<C, M>,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
): grpc.ClientReadableStream<StreamMessage<C, M>> {
  const fn: unknown = Reflect.get(client, method);
  if (typeof fn !== 'function') throw new Error(`no method ${method}`);
  return fn.call(client, request, metadata, options);
}
