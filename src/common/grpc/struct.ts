// google.protobuf.Struct as grpc-js/proto-loader encode it (ValidateJWTSVID
// claims). protobufjs defines the well-known types itself, with camelCase
// field names, whatever keepCase says. Numbers become doubles, as protojson does.
import type { Struct__Output } from '../../../proto/gen/google/protobuf/Struct.ts';
import type { Value__Output } from '../../../proto/gen/google/protobuf/Value.ts';

export type StructValue =
  | { nullValue: 'NULL_VALUE' }
  | { numberValue: number }
  | { stringValue: string }
  | { boolValue: boolean }
  | { structValue: { fields: Record<string, StructValue> } }
  | { listValue: { values: StructValue[] } };

export function toStructValue(v: unknown): StructValue {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toStructValue) } };
  if (typeof v === 'object') return { structValue: toStruct(v as Record<string, unknown>) };
  return { stringValue: String(v) };
}

export function toStruct(obj: Record<string, unknown>): { fields: Record<string, StructValue> } {
  const fields: Record<string, StructValue> = {};
  for (const [k, v] of Object.entries(obj)) fields[k] = toStructValue(v);
  return { fields };
}

export function fromStructValue(v: StructValue | Value__Output | Record<string, unknown>): unknown {
  const x = v as Record<string, unknown>;
  if ('stringValue' in x) return x.stringValue;
  if ('numberValue' in x) return x.numberValue;
  if ('boolValue' in x) return x.boolValue;
  if ('listValue' in x) return ((x.listValue as { values?: StructValue[] }).values ?? []).map(fromStructValue);
  if ('structValue' in x) return fromStruct(x.structValue as { fields?: Record<string, StructValue> });
  return null;
}

export function fromStruct(s: { fields?: Record<string, StructValue> } | Struct__Output | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = fromStructValue(v);
  return out;
}
