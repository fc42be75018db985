// Wire → agent-side values for what the server sends (entries, bundles, SVIDs).
import type { WireEntry } from '../common/wire/convert.ts';
import { SpiffeId } from '../spiffe/id.ts';
import { TrustDomain } from '../spiffe/trust-domain.ts';
import type { CachedEntry } from './cache/types.ts';

export function entryFromWire(w: WireEntry): CachedEntry {
  return {
    id: w.id,
    spiffeId: SpiffeId.fromString(`spiffe://${w.spiffe_id!.trust_domain}${w.spiffe_id!.path}`),
    parentId: SpiffeId.fromString(`spiffe://${w.parent_id!.trust_domain}${w.parent_id!.path}`),
    selectors: w.selectors.map((s) => ({ type: s.type, value: s.value })),
    federatesWith: w.federates_with.map((t) => TrustDomain.fromString(t)),
    dnsNames: [...w.dns_names],
    x509SvidTtlSeconds: w.x509_svid_ttl,
    jwtSvidTtlSeconds: w.jwt_svid_ttl,
    hint: w.hint,
    createdAt: Number(w.created_at),
    revisionNumber: Number(w.revision_number),
    admin: w.admin,
    downstream: w.downstream,
  };
}

export { spiffeBundleFromWire as bundleFromWire } from '../common/wire/convert.ts';
