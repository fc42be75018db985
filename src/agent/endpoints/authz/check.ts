// envoy.service.auth.v3.Authorization/Check. Two modes, chosen per listener
// or route by the context extension `herald_mode`:
//  - validate (default, inbound): the JWT-SVID in the request must be valid
//    for one of the audiences, then the policy decides; allowed requests get
//    the caller's identity headers.
//  - inject (outbound): the caller's (Envoy's) own JWT-SVID for the
//    upstream's audience is added as `Authorization: Bearer …`.
//  - peer: no token; the policy decides on the mTLS peer's SPIFFE ID.
// Denials say which class of problem occurred, never echo the token.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { GrpcCode, errorMessage } from '../../../common/errors.ts';
import type { AgentMetrics } from '../../telemetry.ts';
import { SpiffeId } from '../../../spiffe/id.ts';
import { evaluate, type Policy } from './policy.ts';
import type { JwtSvidValidator } from './jwt-validator.ts';
import type { CheckRequest } from './check-request.ts';

export interface CheckConfig {
  header: string;
  audiences: readonly string[];
  injectAudience: string | undefined;
  stripToken: boolean;
  spiffeIdHeader: string;
  trustDomainHeader: string;
}

export interface CheckDeps {
  config: CheckConfig;
  validator: JwtSvidValidator;
  policy(): Policy | undefined;
  /** A JWT-SVID of the calling workload (Envoy) for `audience`. */
  injectToken(call: grpc.ServerUnaryCall<unknown, unknown>, audience: string): Promise<string>;
  log: Logger;
  metrics: AgentMetrics;
}


/** Largest token accepted; a JWT-SVID is well under 4 KiB. */
export const MAX_TOKEN_BYTES = 16 * 1024;

const { OK, PERMISSION_DENIED, UNAUTHENTICATED } = GrpcCode;

function header(key: string, value: string) {
  return { header: { key, value }, append: { value: false } };
}

function denied(grpcCode: number, httpStatus: number, reason: string, headers: { key: string; value: string }[] = []) {
  return {
    status: { code: grpcCode, message: reason },
    denied_response: { status: { code: httpStatus }, headers: headers.map((h) => header(h.key, h.value)), body: `${reason}\n` },
  };
}

function unauthenticated(reason: string, invalidToken: boolean) {
  const challenge = invalidToken ? `Bearer realm="herald", error="invalid_token", error_description="${reason}"` : 'Bearer realm="herald"';
  return denied(UNAUTHENTICATED, 401, reason, [{ key: 'www-authenticate', value: challenge }]);
}

/** `Bearer <token>`, scheme case-insensitive; a comma means two merged headers: refused. */
export function bearerToken(value: string): string | undefined {
  const m = /^\s*bearer\s+([^\s,]+)\s*$/i.exec(value);
  return m?.[1];
}

function asSpiffeId(s: string | undefined): SpiffeId | undefined {
  if (!s || !s.startsWith('spiffe://')) return undefined;
  try {
    return SpiffeId.fromString(s);
  } catch {
    return undefined;
  }
}

/**
 * The decision for one Check. Synchronous when the token is a cache hit
 * (or absent, or refused before any crypto): the common case costs no
 * promise; asynchronous when a token must be verified or one injected.
 */
export function check(call: grpc.ServerUnaryCall<CheckRequest, unknown>, d: CheckDeps): object | Promise<object> {
  const attrs = call.request.attributes ?? {};
  const http = attrs.request?.http ?? {};
  const headers = http.headers ?? {};
  const ext = attrs.context_extensions ?? {};
  const cfg = d.config;

  if (ext.herald_mode === 'inject') return inject(call, d, ext.audience ?? cfg.injectAudience);

  if (ext.herald_mode === 'peer') return decide(d, attrs, http, headers, undefined);

  const raw = headers[cfg.header];
  if (raw === undefined || raw === '') {
    d.metrics.authzDecision.inc({ result: 'denied_missing_token' });
    return unauthenticated('missing JWT-SVID', false);
  }
  if (Buffer.byteLength(raw) > MAX_TOKEN_BYTES) {
    d.metrics.authzDecision.inc({ result: 'denied_invalid_token' });
    return unauthenticated('token too large', true);
  }
  const token = bearerToken(raw);
  if (!token) {
    d.metrics.authzDecision.inc({ result: 'denied_invalid_token' });
    return unauthenticated('malformed authorization header (want: Bearer <JWT-SVID>)', true);
  }
  const audiences = ext.audience ? ext.audience.split(',').map((a) => a.trim()).filter(Boolean) : cfg.audiences;
  const hit = d.validator.cached(token, audiences);
  if (hit) return decide(d, attrs, http, headers, hit.id);
  return d.validator.validate(token, audiences).then(
    (svid) => decide(d, attrs, http, headers, svid.id),
    (err: unknown) => {
      d.metrics.authzDecision.inc({ result: 'denied_invalid_token' });
      d.log.debug({ err: errorMessage(err), peer: attrs.source?.principal }, 'JWT-SVID rejected');
      return unauthenticated('invalid JWT-SVID', true);
    },
  );
}

async function inject(call: grpc.ServerUnaryCall<CheckRequest, unknown>, d: CheckDeps, audience: string | undefined): Promise<object> {
  if (!audience) return denied(PERMISSION_DENIED, 403, 'no audience configured for token injection');
  let token: string;
  try {
    token = await d.injectToken(call as grpc.ServerUnaryCall<unknown, unknown>, audience);
  } catch (err) {
    d.log.warn({ err: errorMessage(err), audience }, 'Could not inject a JWT-SVID');
    return denied(PERMISSION_DENIED, 403, 'no JWT-SVID available for this workload');
  }
  d.metrics.authzDecision.inc({ result: 'injected' });
  // Whatever the caller sent in the header is replaced, never forwarded.
  return { status: { code: OK, message: '' }, ok_response: { headers: [header(d.config.header, `Bearer ${token}`)], headers_to_remove: [] } };
}

// Allow responses depend only on the config and the caller: one object per
// caller, shared by every Check that allows it, so the service encodes it
// once (isSharedResponse). Bounded; emptied when full.
const MAX_SHARED_RESPONSES = 1024;
const allowResponses = new WeakMap<CheckConfig, Map<string, object>>();
const shared = new WeakSet<object>();

/** Whether `res` is returned again for later calls (worth encoding once). */
export function isSharedResponse(res: object): boolean {
  return shared.has(res);
}

function allowResponse(cfg: CheckConfig, caller: SpiffeId | undefined): object {
  let byCaller = allowResponses.get(cfg);
  if (!byCaller) allowResponses.set(cfg, (byCaller = new Map()));
  const key = caller?.toString() ?? '';
  let res = byCaller.get(key);
  if (!res) {
    if (byCaller.size >= MAX_SHARED_RESPONSES) byCaller.clear();
    res = Object.freeze({
      status: { code: OK, message: '' },
      ok_response: {
        headers: caller ? [header(cfg.spiffeIdHeader, key), header(cfg.trustDomainHeader, caller.trustDomain.name)] : [],
        headers_to_remove: cfg.stripToken ? [cfg.header] : [],
      },
    });
    byCaller.set(key, res);
    shared.add(res);
  }
  return res;
}

/** Policy, then the allow response with the caller's identity headers. */
function decide(d: CheckDeps, attrs: NonNullable<CheckRequest['attributes']>, http: NonNullable<NonNullable<NonNullable<CheckRequest['attributes']>['request']>['http']>, headers: Record<string, string>, jwtSubject: SpiffeId | undefined): object {
  const cfg = d.config;
  const peer = asSpiffeId(attrs.source?.principal);
  const policy = d.policy();
  if (policy) {
    const decision = evaluate(policy, { host: http.host ?? headers[':authority'] ?? '', path: http.path ?? '', method: http.method ?? '', jwtSubject, peer });
    if (decision.action === 'deny') {
      d.metrics.authzDecision.inc({ result: 'denied_policy' });
      d.log.debug({ spiffe_id: jwtSubject?.toString(), peer: peer?.toString(), rule: decision.rule ?? 'default' }, 'Request denied by policy');
      return denied(PERMISSION_DENIED, 403, 'forbidden by policy');
    }
  } else if (!jwtSubject) {
    // Peer mode without a policy would let every peer through: refuse.
    return denied(PERMISSION_DENIED, 403, 'forbidden by policy');
  }
  d.metrics.authzDecision.inc({ result: 'allowed' });
  return allowResponse(cfg, jwtSubject ?? peer);
}
