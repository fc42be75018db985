// Registration entries ↔ rows: input normalisation, the selector-set key used
// for duplicate detection, and decoding (IDs are re-parsed: a row that does
// not parse is reported as corrupt, never passed on as a string). Rows are
// read as arrays in ENTRY_COLUMNS order: the entry cache loads 100k of them.
import { randomUUID } from 'node:crypto';
import { selectorKey } from '../../../common/selector.ts';
import { SpiffeId } from '../../../spiffe/id.ts';
import { TrustDomain } from '../../../spiffe/trust-domain.ts';
import { DataStoreCode, corrupt, dataStoreError } from '../errors.ts';
import type { EntryFields, EntryInput, RegistrationEntry, Selector } from '../types.ts';
import { num, str, type SqlValue } from './connection.ts';

const COLUMNS = [
  'pk', 'entry_id', 'spiffe_id', 'parent_id', 'selectors', 'x509_svid_ttl', 'jwt_svid_ttl', 'dns_names',
  'federates_with', 'admin', 'downstream', 'hint', 'expires_at', 'revision_number', 'created_at',
] as const;

/** Select list for decodeEntryRow, columns qualified with `alias.` when given. */
export function entryColumns(alias = ''): string {
  return COLUMNS.map((c) => (alias === '' ? c : `${alias}.${c}`)).join(', ');
}

/** The writable columns, in the order of entryValues(). */
export const ENTRY_WRITE_COLUMNS = [
  'spiffe_id', 'parent_id', 'selectors', 'x509_svid_ttl', 'jwt_svid_ttl',
  'dns_names', 'federates_with', 'admin', 'downstream', 'hint', 'expires_at',
] as const;

function dedupeSelectors(selectors: readonly Selector[]): Selector[] {
  const seen = new Set<string>();
  const out: Selector[] = [];
  for (const s of selectors) {
    if (typeof s?.type !== 'string' || typeof s.value !== 'string') throw new TypeError('datastore: a selector needs a string type and value');
    const k = selectorKey(s);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ type: s.type, value: s.value });
  }
  return out;
}

function dedupeTrustDomains(tds: readonly TrustDomain[]): TrustDomain[] {
  const seen = new Set<string>();
  return tds.filter((td) => {
    if (!(td instanceof TrustDomain)) throw new TypeError('datastore: federatesWith takes TrustDomain values');
    if (seen.has(td.name)) return false;
    seen.add(td.name);
    return true;
  });
}

function nonNegativeInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new TypeError(`datastore: ${name} must be a non-negative integer, got ${v}`);
  return v;
}

/** Defaults applied, duplicates removed, types checked. */
export function normalizeEntryFields(input: EntryInput | EntryFields): EntryFields {
  if (!(input.spiffeId instanceof SpiffeId) || !(input.parentId instanceof SpiffeId)) {
    throw new TypeError('datastore: spiffeId and parentId must be SpiffeId values');
  }
  const selectors = dedupeSelectors(input.selectors);
  if (selectors.length === 0) throw dataStoreError(DataStoreCode.InvalidEntry, 'invalid registration entry: missing selector list');
  return {
    spiffeId: input.spiffeId,
    parentId: input.parentId,
    selectors,
    x509SvidTtlSeconds: nonNegativeInt('x509SvidTtlSeconds', input.x509SvidTtlSeconds ?? 0),
    jwtSvidTtlSeconds: nonNegativeInt('jwtSvidTtlSeconds', input.jwtSvidTtlSeconds ?? 0),
    dnsNames: [...(input.dnsNames ?? [])],
    federatesWith: dedupeTrustDomains(input.federatesWith ?? []),
    admin: input.admin ?? false,
    downstream: input.downstream ?? false,
    hint: input.hint ?? '',
    expiresAt: nonNegativeInt('expiresAt', input.expiresAt ?? 0),
  };
}

export function newEntryId(input: EntryInput): string {
  if (input.id === undefined) return randomUUID();
  if (typeof input.id !== 'string' || input.id === '' || input.id.length > 255) {
    throw dataStoreError(DataStoreCode.InvalidEntry, 'invalid registration entry: entry ID must be 1 to 255 characters');
  }
  return input.id;
}

/** Order-independent key of a selector set (two entries with equal keys, parents and IDs are "similar"). */
export function selectorSetKey(selectors: readonly Selector[]): string {
  return selectors
    .map((s) => JSON.stringify([s.type, s.value]))
    .sort()
    .join(',');
}

/** The key that makes two entries duplicates: SPIFFE ID, parent ID and selector set. */
export function similarityKey(f: Pick<EntryFields, 'spiffeId' | 'parentId' | 'selectors'>): string {
  return JSON.stringify([f.spiffeId.toString(), f.parentId.toString()]) + selectorSetKey(f.selectors);
}

function jsonList(items: readonly unknown[]): string {
  return items.length === 0 ? '[]' : JSON.stringify(items);
}

/** Values for ENTRY_WRITE_COLUMNS. */
export function entryValues(f: EntryFields): SqlValue[] {
  return [
    f.spiffeId.toString(),
    f.parentId.toString(),
    JSON.stringify(f.selectors.map((s) => [s.type, s.value])),
    f.x509SvidTtlSeconds,
    f.jwtSvidTtlSeconds,
    jsonList(f.dnsNames),
    jsonList(f.federatesWith.map((td) => td.name)),
    f.admin ? 1 : 0,
    f.downstream ? 1 : 0,
    f.hint,
    f.expiresAt,
  ];
}

function parseList(v: unknown): unknown[] {
  const s = str(v);
  if (s === '[]') return [];
  const parsed: unknown = JSON.parse(s);
  if (!Array.isArray(parsed)) throw new TypeError('expected a JSON array');
  return parsed;
}

export interface EntryRow {
  readonly pk: number;
  readonly entry: RegistrationEntry;
}

/**
 * Parsed parent IDs and trust domains, shared across the rows of one read
 * (parents repeat: one agent parents many entries). The values are immutable.
 */
export class DecodeMemo {
  readonly #ids = new Map<string, SpiffeId>();
  readonly #tds = new Map<string, TrustDomain>();

  id(s: string): SpiffeId {
    let v = this.#ids.get(s);
    if (v === undefined) this.#ids.set(s, (v = SpiffeId.fromString(s)));
    return v;
  }

  td(s: string): TrustDomain {
    let v = this.#tds.get(s);
    if (v === undefined) this.#tds.set(s, (v = TrustDomain.fromString(s)));
    return v;
  }
}

/** Decodes one row selected with entryColumns(). */
export function decodeEntryRow(row: unknown[], memo: DecodeMemo = new DecodeMemo()): EntryRow {
  try {
    const selectors = parseList(row[4]).map((p) => {
      const [type, value] = p as [unknown, unknown];
      return { type: str(type), value: str(value) };
    });
    return {
      pk: num(row[0]),
      entry: {
        id: str(row[1]),
        spiffeId: SpiffeId.fromString(str(row[2])),
        parentId: memo.id(str(row[3])),
        selectors,
        x509SvidTtlSeconds: num(row[5]),
        jwtSvidTtlSeconds: num(row[6]),
        dnsNames: parseList(row[7]).map(str),
        federatesWith: parseList(row[8]).map((n) => memo.td(str(n))),
        admin: num(row[9]) !== 0,
        downstream: num(row[10]) !== 0,
        hint: str(row[11]),
        expiresAt: num(row[12]),
        revisionNumber: num(row[13]),
        createdAt: num(row[14]),
      },
    };
  } catch (err) {
    throw corrupt(`entry ${JSON.stringify(row[1])}`, err);
  }
}

export function decodeEntryRows(rows: unknown[][]): EntryRow[] {
  const memo = new DecodeMemo();
  const out = new Array<EntryRow>(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = decodeEntryRow(rows[i]!, memo);
  return out;
}

export function entryFieldsOf(e: RegistrationEntry): EntryFields {
  return {
    spiffeId: e.spiffeId,
    parentId: e.parentId,
    selectors: e.selectors,
    x509SvidTtlSeconds: e.x509SvidTtlSeconds,
    jwtSvidTtlSeconds: e.jwtSvidTtlSeconds,
    dnsNames: e.dnsNames,
    federatesWith: e.federatesWith,
    admin: e.admin,
    downstream: e.downstream,
    hint: e.hint,
    expiresAt: e.expiresAt,
  };
}
