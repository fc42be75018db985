// herald.debug.v1.EntryCache, on the admin socket only: what this server's
// entry cache holds (entry IDs with revision numbers, the event cursor, open
// gaps), to compare servers with the database (docs/ha.md, the HA churn
// test). Herald's own, not a SPIRE API: JSON over gRPC, no proto.
import * as grpc from '@grpc/grpc-js';
import { jsonMethod } from '../../common/grpc/json-method.ts';
import type { EntryCache } from '../entry-cache/entry-cache.ts';

export interface EntryCacheDump {
  /** The newest entry event the cache reflects. */
  readonly lastEventId: number;
  /** Event id gaps still watched (writers that may yet commit). */
  readonly pendingGaps: number;
  /** [entry ID, revision number], by entry ID. */
  readonly entries: [string, number][];
}

export const ENTRY_CACHE_DEBUG_SERVICE: grpc.ServiceDefinition = {
  Dump: jsonMethod('/herald.debug.v1.EntryCache/Dump'),
};

export function entryCacheDebugService(cache: EntryCache): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
  return {
    definition: ENTRY_CACHE_DEBUG_SERVICE,
    implementation: {
      Dump: (_call: grpc.ServerUnaryCall<unknown, EntryCacheDump>, callback: grpc.sendUnaryData<EntryCacheDump>) => {
        const entries = cache
          .entries()
          .map((e): [string, number] => [e.id, e.revisionNumber])
          .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        callback(null, { lastEventId: cache.lastEventId, pendingGaps: cache.stats.pendingGaps, entries });
      },
    },
  };
}

/** A client for the admin socket at `socketPath`; close it when done. */
export function entryCacheDebugClient(socketPath: string): { dump(): Promise<EntryCacheDump>; close(): void } {
  const Ctor = grpc.makeGenericClientConstructor(ENTRY_CACHE_DEBUG_SERVICE, 'EntryCache');
  const client = new Ctor(`unix:${socketPath}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Dump: (req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: EntryCacheDump) => void) => void };
  return {
    dump: () => new Promise((resolve, reject) => client.Dump({}, { deadline: Date.now() + 30_000 }, (err, res) => (err ? reject(err) : resolve(res)))),
    close: () => client.close(),
  };
}
