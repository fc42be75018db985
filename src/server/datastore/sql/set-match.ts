// SQL for "this record's set R versus the given set G" (SPIRE MatchBehavior)
// over a child table of (key, col1[, col2]) rows, one row per set element.
// Each condition starts from the elements' index, never a full scan.
import { MatchBehavior } from '../datastore.ts';
import { DataStoreCode, dataStoreError } from '../errors.ts';
import type { SqlValue } from './connection.ts';

export interface SetTable {
  /** Child table, e.g. entry_selectors. */
  readonly table: string;
  /** Its column pointing at the record, e.g. entry_pk. */
  readonly keyColumn: string;
  /** Element columns, e.g. ['type', 'value']. */
  readonly columns: readonly string[];
}

export interface Condition {
  readonly sql: string;
  readonly params: SqlValue[];
}

/**
 * A condition on `outerKey` (e.g. `e.pk`). `elements` are tuples matching
 * `columns`; duplicates are ignored. An empty set is refused.
 */
export function setMatchCondition(t: SetTable, outerKey: string, elements: readonly (readonly string[])[], match: MatchBehavior, what: string): Condition {
  const unique = new Map<string, readonly string[]>();
  for (const el of elements) {
    if (el.length !== t.columns.length) throw new TypeError(`setMatchCondition: element has ${el.length} parts, expected ${t.columns.length}`);
    unique.set(JSON.stringify(el), el);
  }
  if (unique.size === 0) throw dataStoreError(DataStoreCode.InvalidFilter, `cannot filter by an empty ${what} set`);
  const params: SqlValue[] = [];
  const one = '(' + t.columns.map((c) => `s.${c} = ?`).join(' AND ') + ')';
  const anyOf = [...unique.values()]
    .map((el) => {
      params.push(...el);
      return one;
    })
    .join(' OR ');
  const n = unique.size;
  const total = `(SELECT COUNT(*) FROM ${t.table} y WHERE y.${t.keyColumn} = s.${t.keyColumn})`;
  const inMatching = (having: string) => `${outerKey} IN (SELECT s.${t.keyColumn} FROM ${t.table} s WHERE ${anyOf} GROUP BY s.${t.keyColumn}${having})`;
  switch (match) {
    case MatchBehavior.MatchAny:
      return { sql: inMatching(''), params };
    case MatchBehavior.Superset:
      return { sql: inMatching(` HAVING COUNT(*) = ${n}`), params };
    case MatchBehavior.Exact:
      return { sql: inMatching(` HAVING COUNT(*) = ${n} AND ${total} = ${n}`), params };
    case MatchBehavior.Subset:
      return { sql: inMatching(` HAVING COUNT(*) = ${total}`), params };
    default:
      throw new TypeError(`setMatchCondition: unknown match behavior ${JSON.stringify(match)}`);
  }
}
