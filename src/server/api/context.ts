// What every server API handler needs, and the one wrapper that turns a
// handler into a grpc-js method: resolve the caller, check the method's
// policy, run, map errors to statuses.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Clock } from '../../common/clock.ts';
import { HeraldError, grpcStatusFor } from '../../common/errors.ts';
import { statusName } from '../../common/telemetry/metrics.ts';
import { failStream, toServiceError } from '../../common/grpc/status.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import type { SvidIssuer } from '../ca/issuer.ts';
import type { CaManager } from '../ca/manager.ts';
import { MatchBehavior, type DataStore } from '../datastore/datastore.ts';
import type { EntryCache } from '../entry-cache/entry-cache.ts';
import type { ServerMetrics } from '../telemetry.ts';
import { audit } from './audit.ts';
import type { NodeAttestor } from '../plugins/nodeattestor/types.ts';
import { authorize, type Caller, type CallerResolver, type Policy } from './caller.ts';
import type { RateLimits } from './rate-limit.ts';

export interface ApiContext {
  readonly trustDomain: TrustDomain;
  readonly ds: DataStore;
  readonly ca: CaManager;
  readonly issuer: SvidIssuer;
  readonly entries: EntryCache;
  readonly attestors: ReadonlyMap<string, NodeAttestor>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: ServerMetrics;
  /** server.audit_log_enabled: every call and attestation gets an audit line (audit.ts). */
  readonly auditLog?: boolean;
  /** Lifetime of agent X509-SVIDs. */
  readonly agentSvidTtlMs: number;
  /** Asks federation to refresh one trust domain's bundle now (trustdomain/v1 RefreshBundle). */
  readonly refreshBundle?: (td: TrustDomain) => Promise<void>;
  /** Per-IP limits on attestation and signing (server.ratelimit); absent: none. */
  readonly rateLimits?: RateLimits;
}

type Handler<Req, Res> = (req: Req, caller: Caller, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>;

/** A unary method behind `policy`. */
export function unaryMethod<Req, Res>(
  ctx: ApiContext,
  resolver: CallerResolver,
  policy: Policy,
  fn: Handler<Req, Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const method = call.getPath();
    const started = performance.now();
    let caller: Caller | undefined;
    // Metrics and the audit line for every method, here in the one wrapper (SPIRE's middleware).
    const finished = (err?: unknown): void => {
      try {
        ctx.metrics.rpc(method).done(statusName(err === undefined ? 0 : grpcStatusFor(err)), started);
        if (ctx.auditLog) audit(ctx.log, { fullMethod: method, peer: call.getPeer(), caller, request: call.request, err });
      } catch (e) {
        // Never leave the call unanswered because of its bookkeeping.
        ctx.log.error({ err: e, method }, 'Recording the call failed');
      }
    };
    (async () => {
      caller = await resolver.resolve(call);
      authorize(caller, policy, method);
      return fn(call.request, caller, call);
    })().then(
      (res) => {
        finished();
        callback(null, res);
      },
      (err) => {
        finished(err);
        callback(toServiceError(err, ctx.log, method) as grpc.ServiceError);
      },
    );
  };
}

/** The calls streamMethod wraps: bidirectional, or server streaming. */
type StreamCall = grpc.ServerDuplexStream<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

/**
 * A streaming method (bidirectional or server streaming): runs `fn`, then
 * records the call as unaryMethod does (SPIRE's middleware counts streams
 * too) and fails the stream with the mapped status on error. `fn` resolves
 * its caller with streamCaller, and reports it through `seen` for the audit
 * line.
 */
export function streamMethod<Call extends StreamCall>(ctx: ApiContext, fn: (call: Call, seen: { caller?: Caller }) => Promise<void>): (call: Call) => void {
  return (call) => {
    const method = call.getPath();
    const started = performance.now();
    const seen: { caller?: Caller } = {};
    const finished = (err?: unknown): void => {
      try {
        // A stream the client cancelled ends without an error here; SPIRE's middleware counts it Canceled.
        const cause = err ?? (call.cancelled ? new HeraldError('ERR_CANCELLED', 'the client cancelled the stream') : undefined);
        ctx.metrics.rpc(method).done(statusName(cause === undefined ? 0 : grpcStatusFor(cause)), started);
        if (ctx.auditLog) audit(ctx.log, { fullMethod: method, peer: call.getPeer(), caller: seen.caller, request: undefined, err: cause });
      } catch (e) {
        ctx.log.error({ err: e, method }, 'Recording the call failed');
      }
    };
    fn(call, seen).then(
      () => finished(),
      (err) => {
        finished(err);
        failStream(call, err, ctx.log);
      },
    );
  };
}

/** Resolves and authorizes the caller of a streaming method. */
export async function streamCaller(resolver: CallerResolver, policy: Policy, call: StreamCall): Promise<Caller> {
  const caller = await resolver.resolve(call);
  authorize(caller, policy, call.getPath());
  return caller;
}

/** Page size from the wire (0 = everything). */
export function pagination(pageSize: number, pageToken: string): { token: string; pageSize: number } | undefined {
  if (pageSize < 0) throw new HeraldError('ERR_INVALID_ARGUMENT_PAGE_SIZE', `invalid page size ${pageSize}: must not be negative`);
  return pageSize > 0 ? { token: pageToken, pageSize } : undefined;
}

const MATCH: Record<string, MatchBehavior> = {
  MATCH_EXACT: MatchBehavior.Exact,
  MATCH_SUBSET: MatchBehavior.Subset,
  MATCH_SUPERSET: MatchBehavior.Superset,
  MATCH_ANY: MatchBehavior.MatchAny,
};

/** spire.api.types.SelectorMatch / FederatesWithMatch behaviour. */
export function matchBehavior(wire: string): MatchBehavior {
  const m = MATCH[wire];
  if (!m) throw new HeraldError('ERR_INVALID_ARGUMENT_MATCH', `unknown match behavior ${wire}`);
  return m;
}
