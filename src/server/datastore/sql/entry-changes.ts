// One consistent read of the entry feed for a cache: the events after its
// cursor, the gaps it is still watching, the current entries they name and,
// for the consistency check, bucket digests — all in one snapshot, so what the
// cache applies is exactly one database state.
import type { EntryChanges, EntryChangesRequest, EntryEvent, SnapshotHorizon } from '../datastore.ts';
import { chunks, num, str, type SqlDialect, type SqlQuery } from './connection.ts';
import { getEntries, getEntriesInBuckets } from './entries.ts';
import { entryDigests } from './entry-digest.ts';
import { prunedThrough } from './entry-events.ts';

const toEvents = (rows: Record<string, unknown>[]): EntryEvent[] => rows.map((r) => ({ id: num(r.id), entryId: str(r.entry_id) }));

/** Run inside a snapshot read (the horizon must describe the same snapshot as the rows). */
export async function readEntryChanges(q: SqlQuery, dialect: SqlDialect['name'], req: EntryChangesRequest): Promise<EntryChanges> {
  const limit = req.limit ?? 10_000;
  if (!Number.isSafeInteger(req.afterId) || req.afterId < 0) throw new TypeError(`readEntryChanges: afterId must be a non-negative integer, got ${req.afterId}`);
  if (!Number.isSafeInteger(limit) || limit <= 0) throw new TypeError(`readEntryChanges: limit must be a positive integer, got ${limit}`);
  let horizon: SnapshotHorizon | undefined;
  if (dialect === 'postgres') {
    // First statement of the transaction: it fixes the snapshot every later statement sees.
    const h = await q.get('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin, pg_snapshot_xmax(pg_current_snapshot())::text AS xmax');
    horizon = { xmin: BigInt(str(h!.xmin)), xmax: BigInt(str(h!.xmax)) };
  }
  const events = toEvents(await q.all(`SELECT id, entry_id FROM entry_events WHERE id > ? ORDER BY id LIMIT ${limit}`, [req.afterId]));
  for (const part of chunks(req.recheck ?? [], 200)) {
    const where = part.map(() => '(id BETWEEN ? AND ?)').join(' OR ');
    events.push(...toEvents(await q.all(`SELECT id, entry_id FROM entry_events WHERE ${where} ORDER BY id`, part.flat())));
  }
  const entries = events.length === 0 ? [] : await getEntries(q, events.map((e) => e.entryId));
  return {
    events,
    entries,
    prunedThrough: await prunedThrough(q),
    ...(horizon ? { horizon } : {}),
    ...(req.digest ? { digests: await entryDigests(q, dialect) } : {}),
    ...(req.reloadBuckets && req.reloadBuckets.length > 0 ? { bucketEntries: await getEntriesInBuckets(q, req.reloadBuckets) } : {}),
  };
}
