// The records every agent sync reads besides entries: the caller's attested
// node, its selectors and the trust bundle. Each server keeps what it read
// and serves it without SQL while the datastore follows other servers'
// changes (PostgreSQL LISTEN/NOTIFY): a write of an agent's record or
// selectors — at this server or any other — names the agent in its notice and
// drops that agent's values; a bundle notice drops the bundles; a reconnected
// notice channel (notices may have been lost) makes everything read before
// it untrusted. While changes are not followed (the channel is down; SQLite)
// every read goes to the database.
//
// The values also survive a database outage: while the database is
// unavailable (ERR_DATASTORE_UNAVAILABLE) the last value read is returned,
// trusted or not, so agents keep authenticating and renewing workload SVIDs
// from the entry cache; writes still fail. A change made during the outage
// (a ban at another server) takes effect when the database is back.
//
// A cached value can only be stale in the direction of *accepting*: a caller
// that a cached record would refuse (not attested, banned, an unknown
// serial) is checked again with a fresh read (`fresh`, see caller.ts), which
// is never answered from memory, not even during an outage.
import type { SpiffeId } from '../../spiffe/id.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import type { ChangeNotice, DataStore } from './datastore.ts';
import { DataStoreCode } from './errors.ts';
import type { AttestedNode, Selector, StoredBundle } from './types.ts';

/** Enough for every agent of a large deployment; beyond it the least recently read are forgotten. */
const DEFAULT_CAPACITY = 500_000;

type Group = 'node' | 'selectors' | 'bundle';

interface Held {
  readonly value: unknown;
  /** The trust epoch the value was read in; older values serve only during an outage. */
  readonly epoch: number;
}

export interface SyncReadStats {
  /** Answered from memory. */
  readonly hits: number;
  /** Read from the database. */
  readonly misses: number;
  /** Answered from memory because the database was unavailable. */
  readonly outageHits: number;
  readonly size: number;
}

export interface SyncReadCache {
  readonly ds: DataStore;
  stats(): SyncReadStats;
  /** Stops following notices (the datastore itself is closed by its owner). */
  close(): void;
}

const isUnavailable = (err: unknown) => (err as { code?: unknown }).code === DataStoreCode.Unavailable;

export function withSyncReadCache(ds: DataStore, capacity = DEFAULT_CAPACITY): SyncReadCache {
  const held = new Map<string, Held>();
  let epoch = 0;
  // Invalidations a read in flight must not overwrite: a read that started
  // before the change may return the old value after the notice arrived.
  let seq = 0;
  const droppedAt = new Map<string, number>();
  const groupDroppedAt: Record<Group, number> = { node: 0, selectors: 0, bundle: 0 };
  let inFlight = 0;
  let hits = 0;
  let misses = 0;
  let outageHits = 0;

  const key = (group: Group, id: string) => `${group} ${id}`;
  const drop = (group: Group, id: string) => {
    const k = key(group, id);
    held.delete(k);
    if (inFlight > 0) droppedAt.set(k, ++seq);
  };
  const dropGroup = (group: Group) => {
    for (const k of held.keys()) if (k.startsWith(`${group} `)) held.delete(k);
    groupDroppedAt[group] = ++seq;
  };

  const unsubscribe = ds.onChange((n: ChangeNotice) => {
    if (n.resync) {
      // Notices may have been lost: nothing read so far is trusted, but it still serves during an outage.
      epoch++;
      seq++;
      return;
    }
    if (n.kind === 'bundles') dropGroup('bundle');
    else if (n.kind === 'nodes' || n.kind === 'node_selectors') {
      const g: Group = n.kind === 'nodes' ? 'node' : 'selectors';
      if (n.subject === undefined) dropGroup(g);
      else drop(g, n.subject);
    }
  });

  const following = () => ds.followsChanges?.() === true;

  async function read<T>(group: Group, id: string, fresh: boolean, load: () => Promise<T>): Promise<T> {
    const k = key(group, id);
    const have = held.get(k);
    if (!fresh && have !== undefined && have.epoch === epoch && following()) {
      hits++;
      // Most recently used last: the capacity bound forgets the least recent.
      held.delete(k);
      held.set(k, have);
      return have.value as T;
    }
    misses++;
    const startSeq = seq;
    const startEpoch = epoch;
    inFlight++;
    try {
      const value = await load();
      const invalidated = (droppedAt.get(k) ?? 0) > startSeq || groupDroppedAt[group] > startSeq;
      // A value read before a resync notice is kept untrusted (for an outage) under the old epoch.
      if (!invalidated && value !== undefined) {
        held.delete(k);
        held.set(k, { value, epoch: startEpoch });
        if (held.size > capacity) held.delete(held.keys().next().value!);
      } else if (value === undefined) held.delete(k);
      return value;
    } catch (err) {
      // Only a plain read falls back to the held value. A fresh read decides
      // a refusal, and a record older than the agent's renewal would refuse
      // its new SVID: the agent must get Unavailable and retry, not a
      // PermissionDenied that makes a join_token agent give up for good.
      if (!fresh && isUnavailable(err) && have !== undefined) {
        outageHits++;
        return have.value as T;
      }
      throw err;
    } finally {
      if (--inFlight === 0) droppedAt.clear();
    }
  }

  const cached = new Proxy(ds, {
    get(target, prop, receiver) {
      if (prop === 'getAttestedNode') {
        return (id: SpiffeId, opts: { fetchSelectors?: boolean; fresh?: boolean } = {}): Promise<AttestedNode | undefined> =>
          // With selectors it is an admin read: not a sync's.
          opts.fetchSelectors === true ? target.getAttestedNode(id, opts) : read('node', id.toString(), opts.fresh === true, () => target.getAttestedNode(id));
      }
      if (prop === 'getNodeSelectors') return (id: SpiffeId): Promise<Selector[]> => read('selectors', id.toString(), false, () => target.getNodeSelectors(id));
      if (prop === 'getBundle') return (td: TrustDomain): Promise<StoredBundle | undefined> => read('bundle', td.name, false, () => target.getBundle(td));
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });

  return {
    ds: cached,
    stats: () => ({ hits, misses, outageHits, size: held.size }),
    close: unsubscribe,
  };
}
