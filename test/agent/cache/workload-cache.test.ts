// A workload that calls again after its last call closed finds its
// snapshot (the same object, on which the endpoints memoize their encoded
// responses) as long as nothing changed; a change reaches it; idle groups
// are bounded.
import { describe, expect, it } from 'vitest';
import { WorkloadCache } from '../../../src/agent/cache/workload-cache.ts';
import type { CachedEntry } from '../../../src/agent/cache/types.ts';
import { SpiffeBundle } from '../../../src/spiffe/bundle/spiffe-bundle.ts';
import { SpiffeId } from '../../../src/spiffe/id.ts';
import { TrustDomain } from '../../../src/spiffe/trust-domain.ts';
import type { CachedSvid } from '../../../src/agent/cache/cached-svid.ts';

const td = TrustDomain.fromString('cache.example');
const entry = (id: string, uid: string): CachedEntry => ({
  id,
  spiffeId: SpiffeId.fromString(`spiffe://cache.example/${id}`),
  parentId: SpiffeId.fromString('spiffe://cache.example/agent'),
  selectors: [{ type: 'unix', value: `uid:${uid}` }],
  federatesWith: [],
  dnsNames: [],
  x509SvidTtlSeconds: 0,
  jwtSvidTtlSeconds: 0,
  hint: '',
  createdAt: 1,
  revisionNumber: 0,
  admin: false,
  downstream: false,
});
// The cache never looks into an SVID's bytes.
const svid = (id: string): CachedSvid => ({ id: SpiffeId.fromString(`spiffe://cache.example/${id}`), certificates: Buffer.alloc(0), privateKey: Buffer.alloc(0), notAfter: Infinity });
const uid = (v: string) => [{ type: 'unix', value: `uid:${v}` }];

function cacheWith(n: number): WorkloadCache {
  const c = new WorkloadCache({ bundle: new SpiffeBundle(td) });
  c.setEntries(Array.from({ length: n }, (_, i) => entry(`e${i}`, String(i))));
  for (let i = 0; i < n; i++) c.setSvid(`e${i}`, svid(`e${i}`));
  c.publish();
  return c;
}
const once = (c: WorkloadCache, sel: { type: string; value: string }[]) => {
  const sub = c.subscribe(sel);
  const u = sub.current();
  sub.close();
  return u;
};

describe('WorkloadCache idle groups', () => {
  it('hands a returning workload the same snapshot until something changes, then the new one', () => {
    const c = cacheWith(2);
    const first = once(c, uid('0'));
    expect(c.groupCount).toBe(0);
    expect(once(c, uid('0'))).toBe(first);
    // A publish without a change keeps it.
    c.publish();
    expect(once(c, uid('0'))).toBe(first);

    const renewed = svid('e0');
    c.setSvid('e0', renewed);
    c.publish();
    const next = once(c, uid('0'));
    expect(next).not.toBe(first);
    expect(next.identities.map((i) => i.svid)).toEqual([renewed]);

    // An entry removed while the group is idle is gone from its snapshot.
    c.setEntries([entry('e1', '1')]);
    c.publish();
    expect(once(c, uid('0')).identities).toEqual([]);
  });

  it('keeps at most 64 idle groups, dropping the least recently used', () => {
    const c = cacheWith(70);
    const first = Array.from({ length: 70 }, (_, i) => once(c, uid(String(i))));
    // Groups 6..69 are kept; 0..5 were dropped and are built again.
    expect(once(c, uid('69'))).toBe(first[69]);
    expect(once(c, uid('6'))).toBe(first[6]);
    expect(once(c, uid('0'))).not.toBe(first[0]);
  });
});
