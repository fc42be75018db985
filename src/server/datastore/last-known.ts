// Reads that survive a database outage. The agent-facing path reads a few
// small records on every sync (the caller's attested node, its selectors, the
// trust bundle); each successful read is remembered, and while the database
// is unavailable (ERR_DATASTORE_UNAVAILABLE) the last value read is returned
// instead, so agents keep authenticating and renewing workload SVIDs from the
// entry cache. A change made during the outage (a ban at another server)
// takes effect when the database is back. Writes still fail.
import type { DataStore } from './datastore.ts';
import { DataStoreCode } from './errors.ts';

/** The reads served from memory during an outage. */
const REMEMBERED = new Set<string>(['getAttestedNode', 'getNodeSelectors', 'getBundle']);

/** Enough for every agent of a large deployment; beyond it the least recently read are forgotten. */
const DEFAULT_CAPACITY = 500_000;

/** SpiffeId / TrustDomain by their string form, option bags as JSON. */
function keyOf(method: string, args: readonly unknown[]): string {
  return `${method}(${args.map((a) => (a !== null && typeof a === 'object' && Object.getPrototypeOf(a) !== Object.prototype ? String(a) : JSON.stringify(a))).join(',')})`;
}

export function withLastKnownReads(ds: DataStore, capacity = DEFAULT_CAPACITY): DataStore {
  const values = new Map<string, unknown>();
  const remember = (key: string, value: unknown) => {
    values.delete(key);
    values.set(key, value);
    if (values.size > capacity) values.delete(values.keys().next().value!);
  };
  return new Proxy(ds, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      if (typeof prop !== 'string' || !REMEMBERED.has(prop)) return v.bind(target);
      return async (...args: unknown[]) => {
        const key = keyOf(prop, args);
        try {
          const value = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          remember(key, value);
          return value;
        } catch (err) {
          if ((err as { code?: unknown }).code === DataStoreCode.Unavailable && values.has(key)) return values.get(key);
          throw err;
        }
      };
    },
  });
}
