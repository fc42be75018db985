// grpc.health.v1.Health on both listeners; `healthcheck` calls it on the
// admin socket. The server answers SERVING while its datastore can write
// (see datastore/storage-health.ts); the agent once it has its SVIDs.
import type * as grpc from '@grpc/grpc-js';
import { HeraldError } from '../../common/errors.ts';
import { unary } from '../../common/grpc/status.ts';

export function healthService(isServing: () => boolean): grpc.UntypedServiceImplementation {
  return {
    Check: unary<{ service: string }, { status: string }>(async (call) => {
      if (call.request.service !== '') throw new HeraldError('ERR_NOT_FOUND_SERVICE', `unknown service "${call.request.service}"`);
      return { status: isServing() ? 'SERVING' : 'NOT_SERVING' };
    }),
    Watch: (call: grpc.ServerWritableStream<{ service: string }, { status: string }>) => {
      call.write({ status: isServing() ? 'SERVING' : 'NOT_SERVING' });
    },
  };
}
