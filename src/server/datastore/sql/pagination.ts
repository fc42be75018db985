// Keyset pagination: the token is the last returned key (a row number or a
// trust domain name), so pages stay stable while rows are added or removed.
import type { Page, Pagination } from '../datastore.ts';
import { DataStoreCode, dataStoreError } from '../errors.ts';

export function checkPageSize(p: Pagination | undefined): void {
  if (p !== undefined && (!Number.isInteger(p.pageSize) || p.pageSize <= 0)) {
    throw new TypeError(`pagination: pageSize must be a positive integer, got ${p.pageSize}`);
  }
}

/** The row number after which the page starts (0 for the first page). */
export function parseNumericToken(p: Pagination | undefined): number {
  checkPageSize(p);
  const token = p?.token ?? '';
  if (token === '') return 0;
  if (!/^[1-9][0-9]{0,15}$/.test(token)) {
    throw dataStoreError(DataStoreCode.InvalidPageToken, `could not parse page token ${JSON.stringify(token)}`);
  }
  return Number(token);
}

/** `LIMIT n` fetching one extra row to learn whether another page follows. */
export function limitClause(p: Pagination | undefined): string {
  return p === undefined ? '' : ` LIMIT ${p.pageSize + 1}`;
}

/** Trims the extra row and sets the next token from the last item's key. */
export function toPage<T>(rows: T[], p: Pagination | undefined, keyOf: (item: T) => string): Page<T> {
  if (p === undefined || rows.length <= p.pageSize) return { items: rows };
  const items = rows.slice(0, p.pageSize);
  return { items, nextPageToken: keyOf(items[items.length - 1]!) };
}
