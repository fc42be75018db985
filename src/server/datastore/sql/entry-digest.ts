// Per-bucket digests of the entry table, for the entry cache's consistency
// check: a bucket is the first ENTRY_BUCKET_CHARS characters of the entry id,
// and its digest is the entry count plus the sum of a 64-bit hash of each
// (id, revision). A sum does not depend on row order or collation, so
// PostgreSQL computes it in SQL (one small row per bucket on the wire) and
// SQLite and the cache compute the same value in JavaScript.
import { createHash } from 'node:crypto';
import { num, str, type SqlQuery } from './connection.ts';

export const ENTRY_BUCKET_CHARS = 2;

/** The bucket of an entry id (characters, as SQL substr counts them). */
export function entryBucket(id: string): string {
  return Array.from(id).slice(0, ENTRY_BUCKET_CHARS).join('');
}

/** The signed 64-bit hash of one entry: the first 8 bytes of md5("id:revision"). */
export function entryDigestTerm(id: string, revision: number): bigint {
  return createHash('md5').update(`${id}:${revision}`).digest().readBigInt64BE(0);
}

export function formatDigest(count: number, sum: bigint): string {
  return `${count}:${sum}`;
}

/** Accumulates bucket digests from (id, revision) pairs. */
export class DigestBuilder {
  readonly #buckets = new Map<string, { count: number; sum: bigint }>();

  add(id: string, revision: number): void {
    const b = entryBucket(id);
    const cur = this.#buckets.get(b);
    const term = entryDigestTerm(id, revision);
    if (cur === undefined) this.#buckets.set(b, { count: 1, sum: term });
    else {
      cur.count++;
      cur.sum += term;
    }
  }

  result(): Map<string, string> {
    return new Map([...this.#buckets].map(([b, v]) => [b, formatDigest(v.count, v.sum)]));
  }
}

export async function entryDigests(q: SqlQuery, dialect: 'sqlite' | 'postgres'): Promise<Map<string, string>> {
  if (dialect === 'postgres') {
    const rows = await q.all(
      `SELECT substr(entry_id, 1, ${ENTRY_BUCKET_CHARS}) AS bucket, COUNT(*) AS n,
              SUM(('x' || substr(md5(entry_id || ':' || revision_number), 1, 16))::bit(64)::bigint)::text AS total
       FROM registered_entries GROUP BY 1`,
    );
    return new Map(rows.map((r) => [str(r.bucket), formatDigest(num(r.n), BigInt(str(r.total)))]));
  }
  const b = new DigestBuilder();
  for (const [id, rev] of await q.rows('SELECT entry_id, revision_number FROM registered_entries')) b.add(str(id), num(rev));
  return b.result();
}
