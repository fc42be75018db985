// What the agent's cache hands to its readers (Workload API, SDS, ext_authz):
// a complete snapshot of one workload's identities and the bundles it may
// see. Every update is a full snapshot, never a delta.
import type { Selector } from '../../common/selector.ts';
import type { SpiffeId } from '../../spiffe/id.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import type { SpiffeBundle } from '../../spiffe/bundle/spiffe-bundle.ts';
import type { CachedSvid } from './cached-svid.ts';

/** A registration entry as the agent sees it (from SyncAuthorizedEntries). */
export interface CachedEntry {
  readonly id: string;
  readonly spiffeId: SpiffeId;
  readonly parentId: SpiffeId;
  readonly selectors: readonly Selector[];
  readonly federatesWith: readonly TrustDomain[];
  readonly dnsNames: readonly string[];
  readonly x509SvidTtlSeconds: number;
  readonly jwtSvidTtlSeconds: number;
  readonly hint: string;
  readonly createdAt: number;
  readonly revisionNumber: number;
  readonly admin: boolean;
  readonly downstream: boolean;
}

export interface Identity {
  readonly entry: CachedEntry;
  /** The SVID with its private key (the key never leaves the agent except to the workload). */
  readonly svid: CachedSvid;
}

export interface WorkloadUpdate {
  /** Ordered: the default identity first (see cache/default-order.ts). */
  readonly identities: readonly Identity[];
  /** The agent's own trust domain bundle. */
  readonly bundle: SpiffeBundle;
  /** Bundles of the trust domains the matching entries federate with, by trust domain name. */
  readonly federatedBundles: ReadonlyMap<string, SpiffeBundle>;
  /** performance.now() when the cache built this snapshot: readers time their fan-out from it. */
  readonly builtAt: number;
}

/** A live view of one workload's update: the current snapshot and a callback on every change. */
export interface Subscription {
  /** The latest snapshot (available immediately after subscribe). */
  current(): WorkloadUpdate;
  /** Registers a change callback; returns an unsubscribe function. */
  onChange(fn: (u: WorkloadUpdate) => void): () => void;
  close(): void;
}
