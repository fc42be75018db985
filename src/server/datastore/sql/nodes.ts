// Attested nodes and node selectors (kept in separate tables, as SPIRE does:
// selectors are set by attestation and resolvers, nodes by the agent API).
import { SpiffeId } from '../../../spiffe/id.ts';
import type { ListNodesRequest, NodeFilter, NodeMask, NodeUpdate, Page } from '../datastore.ts';
import { DataStoreCode, corrupt, dataStoreError } from '../errors.ts';
import type { AttestedNode, AttestedNodeInput, Selector } from '../types.ts';
import { chunks, num, placeholders, str, type Row, type SqlQuery, type SqlValue } from './connection.ts';
import { limitClause, parseNumericToken, toPage } from './pagination.ts';
import { setMatchCondition } from './set-match.ts';

const NODE_COLUMNS = 'n.pk, n.spiffe_id, n.data_type, n.serial_number, n.expires_at, n.new_serial_number, n.new_expires_at, n.can_reattest, n.created_at';

function decodeNode(row: Row, selectors?: Selector[]): AttestedNode {
  try {
    const certSerialNumber = str(row.serial_number);
    return {
      spiffeId: SpiffeId.fromString(str(row.spiffe_id)),
      attestationDataType: str(row.data_type),
      certSerialNumber,
      certNotAfter: num(row.expires_at),
      newCertSerialNumber: str(row.new_serial_number),
      newCertNotAfter: num(row.new_expires_at),
      canReattest: num(row.can_reattest) !== 0,
      banned: certSerialNumber === '',
      createdAt: num(row.created_at),
      ...(selectors === undefined ? {} : { selectors }),
    };
  } catch (err) {
    throw corrupt(`attested node ${JSON.stringify(row.spiffe_id)}`, err);
  }
}

function notFound(id: SpiffeId): Error {
  return dataStoreError(DataStoreCode.NodeNotFound, `attested node ${JSON.stringify(id.toString())} not found`);
}

async function selectorsFor(q: SqlQuery, ids: readonly string[]): Promise<Map<string, Selector[]>> {
  const out = new Map<string, Selector[]>(ids.map((id) => [id, []]));
  for (const part of chunks(ids)) {
    const rows = await q.all(`SELECT spiffe_id, type, value FROM node_selectors WHERE spiffe_id IN ${placeholders(part.length)} ORDER BY spiffe_id, pos`, part);
    for (const r of rows) out.get(r.spiffe_id as string)?.push({ type: str(r.type), value: str(r.value) });
  }
  return out;
}

export async function getNode(q: SqlQuery, id: SpiffeId, fetchSelectors = false): Promise<AttestedNode | undefined> {
  const row = await q.get(`SELECT ${NODE_COLUMNS} FROM attested_nodes n WHERE n.spiffe_id = ?`, [id.toString()]);
  if (row === undefined) return undefined;
  return decodeNode(row, fetchSelectors ? (await selectorsFor(q, [id.toString()])).get(id.toString()) : undefined);
}

function checkTime(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new TypeError(`datastore: ${name} must be a non-negative integer, got ${v}`);
  return v;
}

export async function createNode(q: SqlQuery, nowSeconds: number, input: AttestedNodeInput): Promise<AttestedNode> {
  if (!(input.spiffeId instanceof SpiffeId)) throw new TypeError('createAttestedNode: spiffeId must be a SpiffeId');
  if ((await getNode(q, input.spiffeId)) !== undefined) {
    throw dataStoreError(DataStoreCode.NodeExists, `attested node ${JSON.stringify(input.spiffeId.toString())} already exists`);
  }
  await q.run(
    'INSERT INTO attested_nodes (spiffe_id, data_type, serial_number, expires_at, new_serial_number, new_expires_at, can_reattest, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    [
      input.spiffeId.toString(),
      input.attestationDataType,
      input.certSerialNumber,
      checkTime('certNotAfter', input.certNotAfter),
      input.newCertSerialNumber ?? '',
      checkTime('newCertNotAfter', input.newCertNotAfter ?? 0),
      input.canReattest ? 1 : 0,
      nowSeconds,
    ],
  );
  return (await getNode(q, input.spiffeId))!;
}

function nodeWhere(f: NodeFilter): { parts: string[]; params: SqlValue[] } {
  const parts: string[] = [];
  const params: SqlValue[] = [];
  if (f.byAttestationType !== undefined) {
    parts.push('n.data_type = ?');
    params.push(f.byAttestationType);
  }
  if (f.byBanned !== undefined) parts.push(f.byBanned ? `n.serial_number = ''` : `n.serial_number <> ''`);
  if (f.byExpiresBefore !== undefined) {
    parts.push('n.expires_at < ?');
    params.push(f.byExpiresBefore);
  }
  if (f.byCanReattest !== undefined) {
    parts.push('n.can_reattest = ?');
    params.push(f.byCanReattest ? 1 : 0);
  }
  if (f.bySelectors !== undefined) {
    const c = setMatchCondition(
      { table: 'node_selectors', keyColumn: 'spiffe_id', columns: ['type', 'value'] },
      'n.spiffe_id',
      f.bySelectors.selectors.map((s) => [s.type, s.value]),
      f.bySelectors.match,
      'selector',
    );
    parts.push(c.sql);
    params.push(...c.params);
  }
  return { parts, params };
}

export async function listNodes(q: SqlQuery, req: ListNodesRequest = {}): Promise<Page<AttestedNode>> {
  const after = parseNumericToken(req.pagination);
  const { parts, params } = nodeWhere(req);
  if (after > 0) {
    parts.push('n.pk > ?');
    params.push(after);
  }
  const rows = await q.all(
    `SELECT ${NODE_COLUMNS} FROM attested_nodes n${parts.length > 0 ? ' WHERE ' + parts.join(' AND ') : ''} ORDER BY n.pk${limitClause(req.pagination)}`,
    params,
  );
  const page = toPage(rows, req.pagination, (r) => String(num(r.pk)));
  const selectors = req.fetchSelectors ? await selectorsFor(q, page.items.map((r) => r.spiffe_id as string)) : undefined;
  return {
    items: page.items.map((r) => decodeNode(r, selectors?.get(r.spiffe_id as string))),
    ...(page.nextPageToken === undefined ? {} : { nextPageToken: page.nextPageToken }),
  };
}

export async function countNodes(q: SqlQuery, filter: NodeFilter = {}): Promise<number> {
  const { parts, params } = nodeWhere(filter);
  const row = await q.get(`SELECT COUNT(*) AS n FROM attested_nodes n${parts.length > 0 ? ' WHERE ' + parts.join(' AND ') : ''}`, params);
  return num(row!.n);
}

const NODE_FIELDS = [
  ['certSerialNumber', 'serial_number'],
  ['certNotAfter', 'expires_at'],
  ['newCertSerialNumber', 'new_serial_number'],
  ['newCertNotAfter', 'new_expires_at'],
  ['canReattest', 'can_reattest'],
] as const;

export async function updateNode(q: SqlQuery, update: NodeUpdate, mask?: NodeMask): Promise<AttestedNode> {
  const sets: string[] = [];
  const params: SqlValue[] = [];
  for (const [field, column] of NODE_FIELDS) {
    const selected = mask === undefined ? update[field] !== undefined : mask[field] === true;
    if (!selected) continue;
    const v = update[field];
    if (v === undefined) throw new TypeError(`updateAttestedNode: the mask selects ${field} but no value is given`);
    sets.push(`${column} = ?`);
    params.push(typeof v === 'boolean' ? (v ? 1 : 0) : typeof v === 'number' ? checkTime(field, v) : v);
  }
  if (sets.length > 0) {
    const changed = await q.run(`UPDATE attested_nodes SET ${sets.join(', ')} WHERE spiffe_id = ?`, [...params, update.spiffeId.toString()]);
    if (changed === 0) throw notFound(update.spiffeId);
  }
  const node = await getNode(q, update.spiffeId);
  if (node === undefined) throw notFound(update.spiffeId);
  return node;
}

export async function deleteNode(q: SqlQuery, id: SpiffeId): Promise<AttestedNode> {
  const node = await getNode(q, id);
  if (node === undefined) throw notFound(id);
  await q.run('DELETE FROM attested_nodes WHERE spiffe_id = ?', [id.toString()]);
  await q.run('DELETE FROM node_selectors WHERE spiffe_id = ?', [id.toString()]);
  return node;
}

export async function setNodeSelectors(q: SqlQuery, id: SpiffeId, selectors: readonly Selector[]): Promise<void> {
  const key = id.toString();
  await q.run('DELETE FROM node_selectors WHERE spiffe_id = ?', [key]);
  const seen = new Set<string>();
  const unique = selectors.filter((s) => {
    const k = JSON.stringify([s.type, s.value]);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  let pos = 0;
  for (const part of chunks(unique, 250)) {
    const params: SqlValue[] = [];
    for (const s of part) params.push(key, pos++, s.type, s.value);
    await q.run(`INSERT INTO node_selectors (spiffe_id, pos, type, value) VALUES ${part.map(() => '(?, ?, ?, ?)').join(', ')}`, params);
  }
}

export async function getNodeSelectors(q: SqlQuery, id: SpiffeId): Promise<Selector[]> {
  return (await selectorsFor(q, [id.toString()])).get(id.toString()) ?? [];
}

export async function listNodeSelectors(q: SqlQuery): Promise<Map<string, Selector[]>> {
  const rows = await q.all('SELECT spiffe_id, type, value FROM node_selectors ORDER BY spiffe_id, pos');
  const out = new Map<string, Selector[]>();
  for (const r of rows) {
    const id = r.spiffe_id as string;
    let list = out.get(id);
    if (list === undefined) out.set(id, (list = []));
    list.push({ type: str(r.type), value: str(r.value) });
  }
  return out;
}
