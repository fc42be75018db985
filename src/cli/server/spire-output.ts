// What SPIRE 1.13's CLI prints, byte for byte: `-output json` (protojson
// with proto names and unpopulated fields, re-marshalled by Go's
// encoding/json: compact, keys sorted, nulls dropped, <>& escaped), Go's
// time.Time.String(), gRPC code names and `rpc error: …` messages.
import protobuf from 'protobufjs';
import { protobufTypes } from '../../common/grpc/protos.ts';
import type { CliIo } from '../command.ts';
import { rpcErrorText } from '../grpc-status-text.ts';
import { SpireCliError } from './spire-flags.ts';

// Also here for the commands that print protos: they need both.
export { BareCliError, codeName, SpireCliError, spireFlags } from './spire-flags.ts';

function isStatusError(err: unknown): err is { code: number; details: string } {
  const e = err as { code?: unknown; details?: unknown };
  return typeof e?.code === 'number' && typeof e.details === 'string';
}

export { rpcErrorText } from '../grpc-status-text.ts';

/**
 * Awaits a call and turns a gRPC status error into SPIRE's wording, with
 * `prefix` (as Go's fmt.Errorf("prefix: %w")). A socket nobody listens on
 * already arrives as the client's connection error (grpc-client.ts) and
 * passes through.
 */
export async function rpc<T>(call: Promise<T>, prefix?: string): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (!isStatusError(err)) throw err;
    throw new SpireCliError(prefix ? `${prefix}: ${rpcErrorText(err)}` : rpcErrorText(err), { cause: err });
  }
}

/**
 * protojson.MarshalOptions{UseProtoNames, EmitUnpopulated} of `value` (a
 * proto-loader object of `typeName`), as SPIRE's cliprinter prints it.
 */
export function protoJson(typeName: string, value: object): string {
  const type = protobufTypes('spiffe').lookupType(typeName);
  const message = type.fromObject(value as Record<string, unknown>);
  const obj = type.toObject(message, { longs: String, enums: String, bytes: String, defaults: true, arrays: true, objects: true, oneofs: false });
  return goJson(withoutNulls(wellKnown(type, obj)));
}

/** Wrapper types (BoolValue…) print as their bare value in protojson. */
function wellKnown(type: protobuf.Type, obj: Record<string, unknown>): Record<string, unknown> {
  for (const field of type.fieldsArray) {
    const v = obj[field.name];
    if (v === null || v === undefined) continue;
    const rt = field.resolvedType;
    if (!(rt instanceof protobuf.Type)) continue;
    const conv = (x: unknown): unknown => (rt.fullName.startsWith('.google.protobuf.') && rt.fullName.endsWith('Value') ? (x as { value: unknown }).value : wellKnown(rt, x as Record<string, unknown>));
    obj[field.name] = field.repeated ? (v as unknown[]).map(conv) : conv(v);
  }
  return obj;
}

function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.filter((x) => x !== null && x !== undefined).map(withoutNulls);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = withoutNulls(x);
    return out;
  }
  return v;
}

/** Go's json.Marshal of a decoded map: keys sorted, compact, HTML-safe. */
export function goJson(v: unknown, sortKeys = true): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return `[${v.map((x) => goJson(x, sortKeys)).join(',')}]`;
  if (typeof v === 'object') {
    const keys = Object.keys(v);
    if (sortKeys) keys.sort();
    return `{${keys.map((k) => `${goString(k)}:${goJson((v as Record<string, unknown>)[k], sortKeys)}`).join(',')}}`;
  }
  if (typeof v === 'string') return goString(v);
  return JSON.stringify(v);
}

function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Go's time.Duration.String() for a duration under an hour, as spire-agent prints response times. */
export function goDuration(ms: number): string {
  if (ms < 1) return `${trimZeros((ms * 1000).toFixed(3))}µs`;
  if (ms < 1000) return `${trimZeros(ms.toFixed(6))}ms`;
  return `${trimZeros((ms / 1000).toFixed(9))}s`;
}

function trimZeros(s: string): string {
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

/** Prints one proto message as SPIRE's `-output json` does. */
export function printProto(io: CliIo, typeName: string, value: object): void {
  io.stdout.write(protoJson(typeName, value) + '\n');
}

/** Prints a Go struct (fields in declaration order) as encoding/json does. */
export function printStruct(io: CliIo, value: object): void {
  io.stdout.write(goJson(value, false) + '\n');
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** time.Unix(s, 0).UTC().String(): `2030-03-17 17:46:40 +0000 UTC`. */
export function goTimeUtc(unixSeconds: number | string): string {
  const d = new Date(Number(unixSeconds) * 1000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000 UTC`;
}

/** time.Unix(s, 0).String() in the local time zone (`… +0000 UTC` where local is UTC). */
export function goTimeLocal(unixSeconds: number | string): string {
  const d = new Date(Number(unixSeconds) * 1000);
  const off = -d.getTimezoneOffset();
  if (off === 0 && /^(UTC|Etc\/UTC|GMT|UTC0|Etc\/GMT|)$/.test(Intl.DateTimeFormat().resolvedOptions().timeZone ?? '')) return goTimeUtc(unixSeconds);
  const zone = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName')?.value ?? '';
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)} ${zone}`;
}

/** util.Pluralizer. */
export function pluralize(msg: string, one: string, many: string, n: number): string {
  return msg + (n === 1 ? one : many);
}

/** Go's *PathError text for a failed open/read (`open /x: no such file or directory`). */
export function goFsError(err: unknown, path: string): string {
  const code = (err as { code?: string })?.code;
  const text: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    ENOTDIR: 'not a directory',
  };
  if (code === 'EISDIR') return `read ${path}: is a directory`;
  return `open ${path}: ${text[code ?? ''] ?? (err as Error)?.message ?? String(err)}`;
}
