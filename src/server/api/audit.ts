// SPIRE's audit log (server.audit_log_enabled; pkg/server/api/audit and
// middleware/audit.go): one line per API call and per agent attestation,
// type=audit, "API accessed", with the caller, the method, the request's
// fields that are not secrets, and the result. SPIRE's field names:
// caller_id / caller_addr (TLS), caller_uid / caller_gid / caller_path (the
// admin socket's peer), request_id, status success|error, status_code,
// status_message.
import { randomUUID } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import type { Logger } from 'pino';
import { grpcStatusFor } from '../../common/errors.ts';
import { peerCredentials, type PeerAddressSource } from '../../common/grpc/peer.ts';
import { statusName } from '../../common/telemetry/metrics.ts';
import type { Caller } from './caller.ts';
import type { ApiContext } from './context.ts';

export const AUDIT_MESSAGE = 'API accessed';

/**
 * Request keys never logged, at any depth: join tokens, keys, CSRs,
 * attestation payloads and challenge responses (they prove identity), JWTs.
 */
const SECRET_KEY = /token|key|secret|password|csr|payload|challenge|jwt_svid|private/i;
const MAX_STRING = 256;
// Deep enough for entries[].selectors[].value; lists longer than MAX_ITEMS are logged as their length.
const MAX_DEPTH = 5;
const MAX_ITEMS = 100;

/**
 * The request's loggable fields: scalars, SPIFFE IDs as strings, nested
 * messages and lists (as their length when long or deep). Proto3 zero values
 * (0, "0" for int64, false, "") are left out as unset.
 */
export function auditRequestFields(req: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (req === null || typeof req !== 'object') return out;
  for (const [k, v] of Object.entries(req)) {
    const value = loggable(k, v, 1);
    if (value !== undefined) out[k] = value;
  }
  return out;
}

function loggable(key: string, v: unknown, depth: number): unknown {
  if (SECRET_KEY.test(key)) return undefined;
  if (v === null || v === undefined || v === '' || v === 0 || v === '0' || v === false) return undefined;
  if (typeof v === 'string') return v.length > MAX_STRING ? `${v.slice(0, MAX_STRING)}…` : v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return typeof v === 'bigint' ? String(v) : v;
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return undefined;
  if (Array.isArray(v)) {
    if (depth >= MAX_DEPTH || v.length > MAX_ITEMS) return v.length;
    const items = v.map((x) => loggable('', x, depth + 1)).filter((x) => x !== undefined);
    return items.length > 0 ? items : undefined;
  }
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    // spire.api.types.SPIFFEID
    if (typeof o.trust_domain === 'string' && typeof o.path === 'string' && Object.keys(o).length === 2) return `spiffe://${o.trust_domain}${o.path}`;
    if (depth >= MAX_DEPTH) return undefined;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) {
      const value = loggable(k, x, depth + 1);
      if (value !== undefined) out[k] = value;
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }
  return undefined;
}

/** SPIRE's caller fields for the audit line. */
export function callerFields(caller: Caller | undefined, peer: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const creds = peerCredentials({ getPeer: () => peer });
  if (creds) {
    out.caller_uid = creds.uid;
    out.caller_gid = creds.gid;
    try {
      out.caller_path = readlinkSync(`/proc/${creds.pid}/exe`);
    } catch {
      // Another user's process (or gone): SPIRE also logs without the path when it cannot read it.
    }
  } else if (peer) {
    out.caller_addr = peer.replace(/^ipv[46]:/, '');
  }
  if (caller && 'id' in caller) out.caller_id = caller.id.toString();
  return out;
}

/** "/spire.api.server.svid.v1.SVID/BatchNewX509SVID" → service "svid.v1.SVID", method "BatchNewX509SVID". */
export function methodFields(fullMethod: string): { service: string; method: string } {
  const [service = '', method = ''] = fullMethod.replace(/^\//, '').split('/');
  return { service: service.replace(/^spire\.api\.server\./, ''), method };
}

/** Writes the audit line of one finished call; `err` undefined on success. */
export function audit(log: Logger, a: { fullMethod: string; peer: string; caller: Caller | undefined; request: unknown; extra?: Record<string, unknown>; err?: unknown }): void {
  const code = a.err === undefined ? 0 : grpcStatusFor(a.err);
  const result =
    code === 0 ? { status: 'success' } : { status: 'error', status_code: statusName(code), status_message: a.err instanceof Error ? a.err.message : String(a.err) };
  // Request fields first: a request key named like a fixed field (type, method, status) cannot forge it.
  log.info({ ...auditRequestFields(a.request), ...a.extra, type: 'audit', request_id: randomUUID(), ...methodFields(a.fullMethod), ...callerFields(a.caller, a.peer), ...result }, AUDIT_MESSAGE);
}

/** What an attestation got to, for its metrics and audit line. */
export interface Attestation {
  started: number;
  attestor?: string;
  agentId?: string;
}

export function attestationFinished(ctx: ApiContext, call: PeerAddressSource & { getPath(): string }, a: Attestation, err?: unknown): void {
  const status = statusName(err === undefined ? 0 : grpcStatusFor(err));
  ctx.metrics.rpc(call.getPath()).done(status, a.started);
  // The type comes from the client: only configured attestors become label values.
  ctx.metrics.attest.done(status, a.started, { attestor: a.attestor !== undefined && ctx.attestors.has(a.attestor) ? a.attestor : 'unknown' });
  // The attestation data and challenge responses prove the agent's identity: only their type is logged.
  if (ctx.auditLog) audit(ctx.log, { fullMethod: call.getPath(), peer: call.getPeer(), caller: undefined, request: undefined, extra: { node_attestor_type: a.attestor, agent_id: a.agentId }, err });
}
