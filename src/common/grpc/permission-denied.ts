// SPIRE's PermissionDeniedDetails (spire/api/types/status.proto) in a
// status's grpc-status-details-bin trailer (a google.rpc.Status whose
// details hold the Any). SPIRE's server sends it when it refuses an agent's
// SVID, and SPIRE's agent reads it to choose: re-attest, or shut down
// (banned). Herald's server and agent do the same, so spire-agent against
// herald-server and herald-agent against spire-server behave as SPIRE's own.
// The messages are tiny; they are encoded by hand.
import * as grpc from '@grpc/grpc-js';
import { HeraldError, type ErrorCode } from '../errors.ts';

export const PermissionDeniedReason = {
  UNKNOWN: 0,
  AGENT_EXPIRED: 1,
  AGENT_NOT_ATTESTED: 2,
  AGENT_NOT_ACTIVE: 3,
  AGENT_BANNED: 4,
  AGENT_MUST_REATTEST: 5,
} as const;
export type PermissionDeniedReason = (typeof PermissionDeniedReason)[keyof typeof PermissionDeniedReason];

const DETAILS_KEY = 'grpc-status-details-bin';
const TYPE_URL = 'type.googleapis.com/spire.api.types.PermissionDeniedDetails';

/** A PERMISSION_DENIED refusal of an agent that carries SPIRE's reason. */
export class AgentPermissionDeniedError extends HeraldError {
  readonly reason: PermissionDeniedReason;

  constructor(reason: PermissionDeniedReason, code: ErrorCode, message: string) {
    super(code, message);
    this.reason = reason;
  }
}

/** The trailer for a PERMISSION_DENIED status with `reason` (google.rpc.Status{code, message, details: [Any]}). */
export function permissionDeniedTrailer(code: number, message: string, reason: PermissionDeniedReason): grpc.Metadata {
  const details = reason === 0 ? Buffer.alloc(0) : Buffer.concat([tag(1, 0), varint(reason)]);
  const any = Buffer.concat([bytesField(1, Buffer.from(TYPE_URL)), bytesField(2, details)]);
  const status = Buffer.concat([tag(1, 0), varint(code), bytesField(2, Buffer.from(message)), bytesField(3, any)]);
  const md = new grpc.Metadata();
  md.set(DETAILS_KEY, status);
  return md;
}

/** The PermissionDeniedDetails reason in a status error's trailers, if any. */
export function permissionDeniedReasonOf(err: unknown): PermissionDeniedReason | undefined {
  const md = (err as { metadata?: unknown })?.metadata;
  if (!(md instanceof grpc.Metadata)) return undefined;
  for (const v of md.get(DETAILS_KEY)) {
    if (!Buffer.isBuffer(v)) continue;
    try {
      for (const [field, any] of fields(v)) {
        if (field !== 3 || !Buffer.isBuffer(any)) continue;
        let typeUrl = '';
        let value: Buffer = Buffer.alloc(0);
        for (const [f, x] of fields(any)) {
          if (f === 1 && Buffer.isBuffer(x)) typeUrl = x.toString();
          if (f === 2 && Buffer.isBuffer(x)) value = x;
        }
        if (typeUrl !== TYPE_URL) continue;
        let reason = 0;
        for (const [f, x] of fields(value)) if (f === 1 && typeof x === 'number') reason = x;
        return reason as PermissionDeniedReason;
      }
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

function tag(field: number, wireType: number): Buffer {
  return varint((field << 3) | wireType);
}

function bytesField(field: number, b: Buffer): Buffer {
  return Buffer.concat([tag(field, 2), varint(b.length), b]);
}

/** Top-level fields of a protobuf message: varints as numbers, length-delimited as Buffers. */
function* fields(buf: Buffer): Generator<[number, number | Buffer]> {
  let i = 0;
  const readVarint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new Error('varint too long');
    }
  };
  while (i < buf.length) {
    const key = readVarint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) yield [field, readVarint()];
    else if (wire === 2) {
      const len = readVarint();
      if (i + len > buf.length) throw new Error('truncated field');
      yield [field, buf.subarray(i, i + len)];
      i += len;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}
