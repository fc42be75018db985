// The entry change feed: one event row per changed entry, ids increasing in
// commit order because writers are serialised (BEGIN IMMEDIATE / advisory
// lock). Pruning records the highest pruned id so a reader that fell behind
// knows it must reload instead of silently missing changes.
import type { EntrySnapshot, ListEntryEventsResult } from '../datastore.ts';
import { num, type SqlQuery } from './connection.ts';
import { decodeEntryRows, entryColumns } from './entry-codec.ts';

const PRUNED_THROUGH_KEY = 'entry_events_pruned_through';

export async function recordEntryEvent(q: SqlQuery, ctx: { nowSeconds(): number }, entryId: string): Promise<void> {
  await q.run('INSERT INTO entry_events (entry_id, created_at) VALUES (?, ?)', [entryId, ctx.nowSeconds()]);
}

export async function prunedThrough(q: SqlQuery): Promise<number> {
  const row = await q.get('SELECT value FROM herald_meta WHERE key = ?', [PRUNED_THROUGH_KEY]);
  return row === undefined ? 0 : Number(row.value);
}

export async function listEntryEvents(q: SqlQuery, afterId: number, limit: number): Promise<ListEntryEventsResult> {
  if (!Number.isSafeInteger(afterId) || afterId < 0) throw new TypeError(`listEntryEvents: afterId must be a non-negative integer, got ${afterId}`);
  if (!Number.isSafeInteger(limit) || limit <= 0) throw new TypeError(`listEntryEvents: limit must be a positive integer, got ${limit}`);
  const rows = await q.all(`SELECT id, entry_id FROM entry_events WHERE id > ? ORDER BY id LIMIT ${limit}`, [afterId]);
  return {
    events: rows.map((r) => ({ id: num(r.id), entryId: r.entry_id as string })),
    prunedThrough: await prunedThrough(q),
  };
}

/** Run inside a snapshot read. */
export async function entrySnapshot(q: SqlQuery): Promise<EntrySnapshot> {
  const row = await q.get('SELECT COALESCE(MAX(id), 0) AS id FROM entry_events');
  const lastEventId = Math.max(num(row!.id), await prunedThrough(q));
  const rows = decodeEntryRows(await q.rows(`SELECT ${entryColumns()} FROM registered_entries ORDER BY pk`));
  return { entries: rows.map((r) => r.entry), lastEventId };
}

export async function pruneEntryEvents(q: SqlQuery, createdBefore: number): Promise<number> {
  const row = await q.get('SELECT MAX(id) AS id FROM entry_events WHERE created_at < ?', [createdBefore]);
  if (row === undefined || row.id === null || row.id === undefined) return 0;
  const through = num(row.id);
  const deleted = await q.run('DELETE FROM entry_events WHERE id <= ?', [through]);
  const prev = await prunedThrough(q);
  await q.run(
    'INSERT INTO herald_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    [PRUNED_THROUGH_KEY, String(Math.max(prev, through))],
  );
  return deleted;
}
