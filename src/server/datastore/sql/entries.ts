// Registration entry statements. Every change also appends an entry event
// (the change feed the entry cache and other servers follow) in the same
// transaction.
import type { EntryFilter, EntryMask, EntryUpdate, ListEntriesRequest, Page } from '../datastore.ts';
import { EntryExistsError, DataStoreCode, dataStoreError, entryNotFound, federatedBundleNotFound } from '../errors.ts';
import type { EntryFields, EntryInput, RegistrationEntry } from '../types.ts';
import type { TrustDomain } from '../../../spiffe/trust-domain.ts';
import { chunks, placeholders, type SqlQuery, type SqlValue } from './connection.ts';
import {
  ENTRY_WRITE_COLUMNS,
  decodeEntryRows,
  entryColumns,
  entryFieldsOf,
  entryValues,
  newEntryId,
  normalizeEntryFields,
  selectorSetKey,
  similarityKey,
  type EntryRow,
} from './entry-codec.ts';
import { ENTRY_BUCKET_CHARS } from './entry-digest.ts';
import { recordEntryEvent } from './entry-events.ts';
import { limitClause, parseNumericToken, toPage } from './pagination.ts';
import { setMatchCondition, type Condition } from './set-match.ts';

export interface WriteContext {
  /** Unix seconds. */
  nowSeconds(): number;
}

const INSERT_ENTRY_SQL = `INSERT INTO registered_entries (entry_id, ${ENTRY_WRITE_COLUMNS.join(', ')}, revision_number, created_at) VALUES ${placeholders(ENTRY_WRITE_COLUMNS.length + 3)}`;

async function selectEntries(q: SqlQuery, where: string, params: readonly SqlValue[]): Promise<EntryRow[]> {
  return decodeEntryRows(await q.rows(`SELECT ${entryColumns('e')} FROM registered_entries e ${where}`, params));
}

export async function getEntryRow(q: SqlQuery, id: string): Promise<EntryRow | undefined> {
  return (await selectEntries(q, 'WHERE e.entry_id = ?', [id]))[0];
}

/** An existing entry with the same parent, SPIFFE ID and selector set, other than `exceptPk`. */
async function findSimilar(q: SqlQuery, f: EntryFields, exceptPk = 0): Promise<EntryRow | undefined> {
  const candidates = await selectEntries(q, 'WHERE e.parent_id = ? AND e.spiffe_id = ?', [f.parentId.toString(), f.spiffeId.toString()]);
  const key = selectorSetKey(f.selectors);
  return candidates.find((c) => c.pk !== exceptPk && selectorSetKey(c.entry.selectors) === key);
}

/** Every trust domain must have a stored bundle (SPIRE: "unable to find federated bundle"). */
async function checkFederatedBundles(q: SqlQuery, tds: readonly TrustDomain[], known?: Set<string>): Promise<void> {
  const missing = tds.filter((td) => !known?.has(td.name));
  if (missing.length === 0) return;
  const rows = await q.all(`SELECT trust_domain FROM bundles WHERE trust_domain IN ${placeholders(missing.length)}`, missing.map((td) => td.name));
  const found = new Set(rows.map((r) => r.trust_domain as string));
  for (const td of missing) {
    if (!found.has(td.name)) throw federatedBundleNotFound(td.name);
    known?.add(td.name);
  }
}

async function insertChildRows(q: SqlQuery, pk: number, f: EntryFields): Promise<void> {
  for (const part of chunks(f.selectors, 300)) {
    const params: SqlValue[] = [];
    for (const s of part) params.push(pk, s.type, s.value);
    await q.run(`INSERT INTO entry_selectors (entry_pk, type, value) VALUES ${part.map(() => '(?, ?, ?)').join(', ')}`, params);
  }
  for (const part of chunks(f.federatesWith, 300)) {
    const params: SqlValue[] = [];
    for (const td of part) params.push(pk, td.name);
    await q.run(`INSERT INTO entry_federates_with (entry_pk, trust_domain) VALUES ${part.map(() => '(?, ?)').join(', ')}`, params);
  }
}

export interface BatchState {
  readonly knownBundles: Set<string>;
  /** similarityKey → entry created earlier in the same batch. */
  readonly created: Map<string, RegistrationEntry>;
}

export function newBatchState(): BatchState {
  return { knownBundles: new Set(), created: new Map() };
}

export async function createEntry(q: SqlQuery, ctx: WriteContext, input: EntryInput, batch: BatchState = newBatchState()): Promise<RegistrationEntry> {
  const fields = normalizeEntryFields(input);
  const id = newEntryId(input);
  await checkFederatedBundles(q, fields.federatesWith, batch.knownBundles);
  const key = similarityKey(fields);
  const earlier = batch.created.get(key);
  if (earlier !== undefined) throw new EntryExistsError(earlier);
  const similar = await findSimilar(q, fields);
  if (similar !== undefined) throw new EntryExistsError(similar.entry);
  if (input.id !== undefined) {
    const clash = await getEntryRow(q, id);
    if (clash !== undefined) throw dataStoreError(DataStoreCode.EntryExists, `entry ID ${JSON.stringify(id)} is already in use`);
  }
  const createdAt = ctx.nowSeconds();
  const pk = await q.insert(INSERT_ENTRY_SQL, [id, ...entryValues(fields), 0, createdAt]);
  await insertChildRows(q, pk, fields);
  await recordEntryEvent(q, ctx, id);
  const entry: RegistrationEntry = { id, ...fields, revisionNumber: 0, createdAt };
  batch.created.set(key, entry);
  return entry;
}

export async function getEntries(q: SqlQuery, ids: readonly string[]): Promise<RegistrationEntry[]> {
  const out: RegistrationEntry[] = [];
  for (const part of chunks([...new Set(ids)])) {
    for (const r of await selectEntries(q, `WHERE e.entry_id IN ${placeholders(part.length)}`, part)) out.push(r.entry);
  }
  return out;
}

/** Every entry whose id starts with one of `buckets` (see entryBucket). */
export async function getEntriesInBuckets(q: SqlQuery, buckets: readonly string[]): Promise<RegistrationEntry[]> {
  const out: RegistrationEntry[] = [];
  for (const part of chunks([...new Set(buckets)])) {
    for (const r of await selectEntries(q, `WHERE substr(e.entry_id, 1, ${ENTRY_BUCKET_CHARS}) IN ${placeholders(part.length)}`, part)) out.push(r.entry);
  }
  return out;
}

function entryWhere(f: EntryFilter): Condition {
  const parts: string[] = [];
  const params: SqlValue[] = [];
  if (f.byParentId !== undefined) {
    parts.push('e.parent_id = ?');
    params.push(f.byParentId.toString());
  }
  if (f.bySpiffeId !== undefined) {
    parts.push('e.spiffe_id = ?');
    params.push(f.bySpiffeId.toString());
  }
  if (f.byHint !== undefined) {
    parts.push('e.hint = ?');
    params.push(f.byHint);
  }
  if (f.byDownstream === true) parts.push('e.downstream <> 0');
  if (f.bySelectors !== undefined) {
    const c = setMatchCondition(
      { table: 'entry_selectors', keyColumn: 'entry_pk', columns: ['type', 'value'] },
      'e.pk',
      f.bySelectors.selectors.map((s) => [s.type, s.value]),
      f.bySelectors.match,
      'selector',
    );
    parts.push(c.sql);
    params.push(...c.params);
  }
  if (f.byFederatesWith !== undefined) {
    const c = setMatchCondition(
      { table: 'entry_federates_with', keyColumn: 'entry_pk', columns: ['trust_domain'] },
      'e.pk',
      f.byFederatesWith.trustDomains.map((td) => [td.name]),
      f.byFederatesWith.match,
      'federated trust domain',
    );
    parts.push(c.sql);
    params.push(...c.params);
  }
  return { sql: parts.length === 0 ? '' : parts.join(' AND '), params };
}

export async function listEntries(q: SqlQuery, req: ListEntriesRequest = {}): Promise<Page<RegistrationEntry>> {
  const after = parseNumericToken(req.pagination);
  const where = entryWhere(req);
  const conds = [where.sql, after > 0 ? 'e.pk > ?' : ''].filter((s) => s !== '');
  const params = after > 0 ? [...where.params, after] : where.params;
  const rows = await selectEntries(q, (conds.length > 0 ? `WHERE ${conds.join(' AND ')}` : '') + ` ORDER BY e.pk${limitClause(req.pagination)}`, params);
  const page = toPage(rows, req.pagination, (r) => String(r.pk));
  return { items: page.items.map((r) => r.entry), ...(page.nextPageToken === undefined ? {} : { nextPageToken: page.nextPageToken }) };
}

export async function countEntries(q: SqlQuery, filter: EntryFilter = {}): Promise<number> {
  const where = entryWhere(filter);
  const row = await q.get(`SELECT COUNT(*) AS n FROM registered_entries e${where.sql === '' ? '' : ' WHERE ' + where.sql}`, where.params);
  return Number(row!.n);
}

const ENTRY_FIELD_NAMES: readonly (keyof EntryFields)[] = [
  'spiffeId', 'parentId', 'selectors', 'x509SvidTtlSeconds', 'jwtSvidTtlSeconds', 'dnsNames',
  'federatesWith', 'admin', 'downstream', 'hint', 'expiresAt',
];

function applyUpdate(current: EntryFields, update: EntryUpdate, mask: EntryMask | undefined): EntryFields {
  const next: Record<string, unknown> = { ...current };
  for (const k of ENTRY_FIELD_NAMES) {
    const selected = mask === undefined ? update[k] !== undefined : mask[k] === true;
    if (!selected) continue;
    if (update[k] === undefined) throw new TypeError(`updateEntry: the mask selects ${k} but no value is given`);
    next[k] = update[k];
  }
  return normalizeEntryFields(next as unknown as EntryFields);
}

async function writeEntry(q: SqlQuery, pk: number, f: EntryFields): Promise<void> {
  await q.run(
    `UPDATE registered_entries SET ${ENTRY_WRITE_COLUMNS.map((c) => `${c} = ?`).join(', ')}, revision_number = revision_number + 1 WHERE pk = ?`,
    [...entryValues(f), pk],
  );
  await q.run('DELETE FROM entry_selectors WHERE entry_pk = ?', [pk]);
  await q.run('DELETE FROM entry_federates_with WHERE entry_pk = ?', [pk]);
  await insertChildRows(q, pk, f);
}

export async function updateEntry(q: SqlQuery, ctx: WriteContext, update: EntryUpdate, mask?: EntryMask): Promise<RegistrationEntry> {
  const current = await getEntryRow(q, update.id);
  if (current === undefined) throw entryNotFound(update.id);
  const fields = applyUpdate(entryFieldsOf(current.entry), update, mask);
  await checkFederatedBundles(q, fields.federatesWith);
  if (similarityKey(fields) !== similarityKey(current.entry)) {
    const similar = await findSimilar(q, fields, current.pk);
    if (similar !== undefined) throw new EntryExistsError(similar.entry);
  }
  await writeEntry(q, current.pk, fields);
  await recordEntryEvent(q, ctx, current.entry.id);
  return { ...current.entry, ...fields, revisionNumber: current.entry.revisionNumber + 1 };
}

async function deleteRows(q: SqlQuery, ctx: WriteContext, rows: readonly EntryRow[]): Promise<void> {
  for (const part of chunks(rows)) {
    await q.run(`DELETE FROM registered_entries WHERE pk IN ${placeholders(part.length)}`, part.map((r) => r.pk));
    for (const r of part) await recordEntryEvent(q, ctx, r.entry.id);
  }
}

export async function deleteEntry(q: SqlQuery, ctx: WriteContext, id: string): Promise<RegistrationEntry> {
  const current = await getEntryRow(q, id);
  if (current === undefined) throw entryNotFound(id);
  await deleteRows(q, ctx, [current]);
  return current.entry;
}

export async function pruneEntries(q: SqlQuery, ctx: WriteContext, expiresBefore: number): Promise<number> {
  const rows = await selectEntries(q, 'WHERE e.expires_at <> 0 AND e.expires_at < ?', [expiresBefore]);
  await deleteRows(q, ctx, rows);
  return rows.length;
}

async function entriesFederatedWith(q: SqlQuery, td: TrustDomain): Promise<EntryRow[]> {
  return selectEntries(q, 'WHERE e.pk IN (SELECT entry_pk FROM entry_federates_with WHERE trust_domain = ?) ORDER BY e.pk', [td.name]);
}

/** DeleteBundle's handling of entries that federate with `td`; returns how many were touched. */
export async function releaseFederatedEntries(q: SqlQuery, ctx: WriteContext, td: TrustDomain, mode: 'restrict' | 'delete' | 'dissociate'): Promise<number> {
  const rows = await entriesFederatedWith(q, td);
  if (rows.length === 0) return 0;
  if (mode === 'restrict') {
    throw dataStoreError(DataStoreCode.BundleInUse, `cannot delete bundle; federated with ${rows.length} registration entries`);
  }
  if (mode === 'delete') {
    await deleteRows(q, ctx, rows);
    return rows.length;
  }
  for (const r of rows) {
    const fields = { ...entryFieldsOf(r.entry), federatesWith: r.entry.federatesWith.filter((x) => !x.equals(td)) };
    await writeEntry(q, r.pk, fields);
    await recordEntryEvent(q, ctx, r.entry.id);
  }
  return rows.length;
}
