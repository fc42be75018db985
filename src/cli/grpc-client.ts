// Promise-style calls over grpc-js clients for the CLIs, and the admin
// socket address. One channel per command run; closed when done.
import * as grpc from '@grpc/grpc-js';
import { serviceClient, type ServiceName } from '../common/grpc/protos.ts';

export type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export function udsClient(service: ServiceName, socketPath: string, options: grpc.ClientOptions = {}): Client {
  const Ctor = serviceClient(service);
  return new Ctor(`unix:${socketPath}`, grpc.credentials.createInsecure(), options) as unknown as Client;
}

/** Calls a unary method; rejects with the gRPC status error. */
export function callUnary<Res>(client: Client, method: string, request: object, metadata = new grpc.Metadata(), deadlineMs = 30_000): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = client[method];
    if (typeof fn !== 'function') {
      reject(new Error(`no method ${method}`));
      return;
    }
    fn.call(client, request, metadata, { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, res: Res) => (err ? reject(err) : resolve(res)));
  });
}
