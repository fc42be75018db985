// Small shared pieces of the schema walker (validate.ts, plugins.ts).
import { quoteExcerpt } from './limits.ts';
import type { RawNode } from './raw-node.ts';

/** Returned in place of a value whose problems were already reported. */
export const INVALID: unique symbol = Symbol('config.invalid');
/** A walked value, `undefined` (absent, no default) or INVALID. */
export type Walked = unknown;

export function isNull(node: RawNode): boolean {
  return node.t === 'scalar' && node.value === null;
}

export function describe(node: RawNode): string {
  switch (node.t) {
    case 'scalar':
      if (node.value === null) return 'null';
      return typeof node.value === 'string' ? quoteExcerpt(node.value) : JSON.stringify(node.value);
    case 'seq':
      return 'a list';
    case 'map':
      return 'a mapping';
    case 'override':
      return typeof node.value;
  }
}

/** "unknown key", with a suggestion when a known key is a near miss (case, underscores, a typo). */
export function unknownKeyMessage(key: string, known: readonly string[]): string {
  // Linear in the keys of a file: the known keys' normal forms are computed once, and keys too
  // long to be a near miss (a hostile file's) are not compared at all.
  const n = norm(key);
  const hit =
    key.length > 100
      ? undefined
      : (known.find((k) => normKnown(k) === n) ??
        known.find((k) => Math.abs(k.length - key.length) <= 2 && editDistance(k, key) <= Math.min(2, Math.floor(k.length / 3))));
  return hit === undefined ? 'unknown key' : `unknown key (did you mean ${JSON.stringify(hit)}?)`;
}

const norm = (k: string): string => k.toLowerCase().replaceAll('_', '').replaceAll('-', '');
const normCache = new Map<string, string>();
function normKnown(k: string): string {
  let v = normCache.get(k);
  if (v === undefined) {
    v = norm(k);
    if (normCache.size < 10_000) normCache.set(k, v);
  }
  return v;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

