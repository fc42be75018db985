// google.protobuf.Struct in proto-loader's keepCase shape (ValidateJWTSVID
// claims). Numbers become doubles, as protojson does.
export type StructValue =
  | { null_value: 'NULL_VALUE' }
  | { number_value: number }
  | { string_value: string }
  | { bool_value: boolean }
  | { struct_value: { fields: Record<string, StructValue> } }
  | { list_value: { values: StructValue[] } };

export function toStructValue(v: unknown): StructValue {
  if (v === null || v === undefined) return { null_value: 'NULL_VALUE' };
  if (typeof v === 'number') return { number_value: v };
  if (typeof v === 'string') return { string_value: v };
  if (typeof v === 'boolean') return { bool_value: v };
  if (Array.isArray(v)) return { list_value: { values: v.map(toStructValue) } };
  if (typeof v === 'object') return { struct_value: toStruct(v as Record<string, unknown>) };
  return { string_value: String(v) };
}

export function toStruct(obj: Record<string, unknown>): { fields: Record<string, StructValue> } {
  const fields: Record<string, StructValue> = {};
  for (const [k, v] of Object.entries(obj)) fields[k] = toStructValue(v);
  return { fields };
}

export function fromStructValue(v: StructValue | Record<string, unknown>): unknown {
  const x = v as Record<string, unknown>;
  if ('string_value' in x) return x.string_value;
  if ('number_value' in x) return x.number_value;
  if ('bool_value' in x) return x.bool_value;
  if ('list_value' in x) return ((x.list_value as { values?: StructValue[] }).values ?? []).map(fromStructValue);
  if ('struct_value' in x) return fromStruct(x.struct_value as { fields?: Record<string, StructValue> });
  return null;
}

export function fromStruct(s: { fields?: Record<string, StructValue> } | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = fromStructValue(v);
  return out;
}
