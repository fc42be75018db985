// herald.server.agent.v1.AgentUpdates/WatchEntries: Herald's own (SPIRE has
// no counterpart, and its agents never call it). An agent holds the stream
// open; the server sends a small message whenever an entry change concerns
// that agent (entry-cache/entry-watchers.ts), and the agent syncs at once
// instead of at its next sync_interval. The message carries no entry: the
// sync stays the only source of what the agent serves. JSON over gRPC, no
// proto, authorized as SyncAuthorizedEntries (an attested agent's SVID).
import type * as grpc from '@grpc/grpc-js';
import { HeraldError } from '../../common/errors.ts';
import { jsonMethod } from '../../common/grpc/json-method.ts';
import type { EntryWatchers } from '../entry-cache/entry-watchers.ts';
import type { Caller, CallerResolver } from './caller.ts';
import { streamCaller, streamMethod, type ApiContext } from './context.ts';

export const WATCH_ENTRIES_METHOD = '/herald.server.agent.v1.AgentUpdates/WatchEntries';

/**
 * One message per nudge, and one first that says the watch is registered:
 * the agent syncs on that too, so a change made between its last sync and
 * the registration is not left for sync_interval. `reason` is for people
 * reading a capture; the agent syncs on every message alike.
 */
export interface EntriesChanged {
  readonly reason: 'watching' | 'entries_changed';
}

export const ENTRY_WATCH_SERVICE: grpc.ServiceDefinition = {
  WatchEntries: jsonMethod(WATCH_ENTRIES_METHOD, { responseStream: true }),
};

export function entryWatchService(ctx: ApiContext, resolver: CallerResolver, watchers: EntryWatchers): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
  const watchEntries = async (call: grpc.ServerWritableStream<unknown, EntriesChanged>, seen: { caller?: Caller }): Promise<void> => {
    const caller = await streamCaller(resolver, 'agent', call);
    seen.caller = caller;
    // The admin socket's local caller passes every policy but has no entries.
    if (caller.kind !== 'agent') throw new HeraldError('ERR_PERMISSION_DENIED', 'only agents have authorized entries to watch');
    const selectors = await ctx.ds.getNodeSelectors(caller.id);
    if (call.cancelled) return;
    // Backpressure: while the transport holds an unsent message, further
    // nudges only set `pending` (one message says all there is to say).
    let blocked = false;
    let pending = false;
    const send = (reason: EntriesChanged['reason']): void => {
      if (blocked) {
        pending = true;
        return;
      }
      if (call.write({ reason })) return;
      blocked = true;
      call.once('drain', () => {
        blocked = false;
        if (pending) {
          pending = false;
          send('entries_changed');
        }
      });
    };
    await new Promise<void>((resolve, reject) => {
      // Authorization was checked when the stream opened: an agent banned or
      // evicted since then is told so, and loses the stream, at its next
      // nudge (read through the sync-read cache, which a ban at any server drops).
      const stillAttested = (): void => {
        ctx.ds.getAttestedNode(caller.id).then((node) => {
          if (node !== undefined && !node.banned) return;
          watch.close();
          reject(node === undefined ? new HeraldError('ERR_PERMISSION_DENIED_AGENT', `agent "${caller.id}" is no longer attested`) : new HeraldError('ERR_AGENT_BANNED', `agent "${caller.id}" is banned`));
        }, (err: unknown) => ctx.log.debug({ err, agent_id: caller.id.toString() }, 'Checking the agent of an entry watch failed'));
      };
      // Node selectors change only when the agent attests again, which gives it a new SVID and a new stream.
      const watch = watchers.watch(
        caller.id,
        selectors,
        () => {
          send('entries_changed');
          stillAttested();
        },
        () => {
          // Server shutdown: the agent reopens after its next sync (perhaps with another server).
          call.end();
          resolve();
        },
      );
      ctx.log.debug({ agent_id: caller.id.toString() }, 'Entry watch opened');
      send('watching');
      const done = (): void => {
        watch.close();
        resolve();
      };
      call.on('cancelled', done);
      call.on('close', done);
      call.on('error', done);
    });
  };
  return { definition: ENTRY_WATCH_SERVICE, implementation: { WatchEntries: streamMethod(ctx, watchEntries) } };
}
