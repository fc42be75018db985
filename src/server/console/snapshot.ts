// One view of the trust domain for the console page: CA and JWT slots,
// federation (relationships, stored bundles, recent refreshes), agents,
// entries and the SDS status of agents on this host. Plain JSON; lists are
// capped (the page shows "first N of M") so a large deployment stays cheap.
import type { Clock } from '../../common/clock.ts';
import { errorMessage } from '../../common/errors.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import { loadJournal } from '../ca/journal.ts';
import type { DataStore } from '../datastore/datastore.ts';
import type { RefreshHistory } from '../federation/refresher.ts';
import { readAgentSdsStatus, type AgentSdsStatus } from './agent-status.ts';
import { authoritiesView, type AuthoritiesView } from './authorities.ts';

export const LIST_LIMIT = 500;

export interface SnapshotSources {
  readonly trustDomain: TrustDomain;
  readonly ds: Pick<DataStore, 'getBundle' | 'listAttestedNodes' | 'countAttestedNodes' | 'listEntries' | 'countEntries' | 'listFederationRelationships'>;
  /** Read from disk: the CA manager writes it after every slot change. */
  readonly journalPath: string;
  readonly federation: { history(): RefreshHistory[] };
  readonly agentAdminSocketPaths: readonly string[];
  readonly clock: Clock;
}

interface Capped<T> {
  readonly total: number;
  readonly items: T[];
}

export interface Snapshot {
  readonly now: number;
  readonly trustDomain: string;
  readonly bundle: { readonly sequence: string; readonly refreshHint: number } | null;
  readonly authorities: AuthoritiesView | { readonly error: string };
  readonly federation: object[];
  readonly agents: Capped<object>;
  readonly entries: Capped<object>;
  readonly sds: AgentSdsStatus[];
}

const sec = (s: number): number | null => (s > 0 ? s * 1000 : null);

export async function takeSnapshot(src: SnapshotSources): Promise<Snapshot> {
  const now = src.clock.now();
  const { ds } = src;
  const page = { pagination: { pageSize: LIST_LIMIT } };
  const [bundle, journal, rels, nodes, nodeCount, entries, entryCount, sds] = await Promise.all([
    ds.getBundle(src.trustDomain),
    loadJournal(src.journalPath).catch((err: unknown) => new Error(errorMessage(err))),
    ds.listFederationRelationships(page),
    ds.listAttestedNodes(page),
    ds.countAttestedNodes(),
    ds.listEntries(page),
    ds.countEntries(),
    Promise.all(src.agentAdminSocketPaths.map(readAgentSdsStatus)),
  ]);
  const history = new Map(src.federation.history().map((h) => [h.trustDomain, h]));
  // An agent's last sync is known when its admin socket is configured here.
  const lastSync = new Map<string, string>();
  for (const a of sds) {
    const st = a.ok ? (a.status as { agent_id?: unknown; last_sync?: unknown }) : undefined;
    if (typeof st?.agent_id === 'string' && typeof st.last_sync === 'string') lastSync.set(st.agent_id, st.last_sync);
  }
  return {
    now,
    trustDomain: src.trustDomain.name,
    bundle: bundle ? { sequence: String(bundle.sequenceNumber), refreshHint: bundle.refreshHint } : null,
    authorities: journal instanceof Error ? { error: journal.message } : authoritiesView(journal, bundle, now),
    federation: rels.items.map((r) => {
      const h = history.get(r.trustDomain.name);
      const b = r.trustDomainBundle;
      return {
        trustDomain: r.trustDomain.name,
        bundleEndpointUrl: r.bundleEndpointUrl,
        profile: r.profile.type,
        endpointSpiffeId: r.profile.type === 'https_spiffe' ? r.profile.endpointSpiffeId.toString() : null,
        bundle: b ? { sequence: String(b.sequenceNumber), x509Authorities: b.x509Authorities.length, jwtAuthorities: b.jwtAuthorities.length, refreshHint: b.refreshHint } : null,
        attempts: h?.attempts ?? [],
        nextAt: h?.nextAt ?? null,
      };
    }),
    agents: {
      total: nodeCount,
      items: nodes.items.map((n) => ({
        spiffeId: n.spiffeId.toString(),
        attestor: n.attestationDataType,
        svidNotAfter: sec(n.certNotAfter),
        banned: n.banned,
        canReattest: n.canReattest,
        createdAt: sec(n.createdAt),
        lastSync: lastSync.get(n.spiffeId.toString()) ?? null,
      })),
    },
    entries: {
      total: entryCount,
      items: entries.items.map((e) => ({
        id: e.id,
        spiffeId: e.spiffeId.toString(),
        parentId: e.parentId.toString(),
        selectors: e.selectors.map((s) => `${s.type}:${s.value}`),
        x509SvidTtl: e.x509SvidTtlSeconds,
        jwtSvidTtl: e.jwtSvidTtlSeconds,
        federatesWith: e.federatesWith.map((t) => t.name),
        dnsNames: e.dnsNames,
        admin: e.admin,
        downstream: e.downstream,
        hint: e.hint,
        expiresAt: sec(e.expiresAt),
      })),
    },
    sds,
  };
}
