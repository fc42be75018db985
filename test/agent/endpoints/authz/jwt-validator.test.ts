// The ext_authz verified-token cache: a repeated token is not verified
// again, but never outlives its exp, a bundle change, or its audience; a
// token whose key left the bundle is refused at once; the cache is bounded.
import type { KeyObject } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { JwtSvidValidator } from '../../../../src/agent/endpoints/authz/jwt-validator.ts';
import { BundleSet } from '../../../../src/spiffe/bundle/set.ts';
import { SpiffeBundle } from '../../../../src/spiffe/bundle/spiffe-bundle.ts';
import { SpiffeId } from '../../../../src/spiffe/id.ts';
import { sign } from '../../../../src/spiffe/jwtsvid.ts';
import { generateKeyPair } from '../../../../src/spiffe/keys.ts';
import { TrustDomain } from '../../../../src/spiffe/trust-domain.ts';

const td = TrustDomain.fromString('echo.example');
const T0 = Date.now();
let now = T0;
let keys: Map<string, KeyObject>;
let generation = 0;
let bundles: { source: BundleSet; generation: number };
const a = generateKeyPair('ec-p256');
const b = generateKeyPair('ec-p256');

/** The agent's bundle now holds `authorities`; as the agent's cache, a new generation. */
function setBundle(authorities: [string, KeyObject][]): void {
  keys = new Map(authorities);
  bundles = { source: new BundleSet([new SpiffeBundle(td, { jwtAuthorities: keys })]), generation: ++generation };
}

const token = (kid: string, key: KeyObject, opts: { ttlMs?: number; aud?: string[]; path?: string } = {}): Promise<string> =>
  sign({ id: SpiffeId.fromString(`spiffe://echo.example${opts.path ?? '/web'}`), audience: opts.aud ?? ['echo'], expiresAt: now + (opts.ttlMs ?? 300_000), key, kid, now });

let v: JwtSvidValidator;
beforeEach(() => {
  now = T0;
  setBundle([['a', a.publicKey]]);
  v = new JwtSvidValidator({ bundles: () => bundles, now: () => now, maxEntries: 3 });
});

describe('ext_authz JWT-SVID validator cache', () => {
  it('verifies a token once; later checks of it are cache hits, answered synchronously', async () => {
    const t = await token('a', a.privateKey);
    expect(v.cached(t, ['echo'])).toBeUndefined();
    expect((await v.validate(t, ['echo'])).id.toString()).toBe('spiffe://echo.example/web');
    expect(v.cached(t, ['echo'])?.id.toString()).toBe('spiffe://echo.example/web');
    await v.validate(t, ['echo']);
    expect({ hits: v.hits, misses: v.misses }).toEqual({ hits: 2, misses: 1 });
  });

  it('refuses a cached token once it has expired', async () => {
    const t = await token('a', a.privateKey, { ttlMs: 60_000 });
    await v.validate(t, ['echo']);
    now = T0 + 61_000; // past exp: no cache hit, even inside the verifier's clock-skew allowance
    expect(v.cached(t, ['echo'])).toBeUndefined();
    now = T0 + 3_600_000; // past any allowance: refused
    await expect(v.validate(t, ['echo'])).rejects.toThrow(/expired/);
  });

  it('refuses a cached token at once when its key is removed from the bundle', async () => {
    const t = await token('a', a.privateKey);
    await v.validate(t, ['echo']);
    setBundle([['b', b.publicKey]]);
    expect(v.cached(t, ['echo'])).toBeUndefined();
    await expect(v.validate(t, ['echo'])).rejects.toThrow('no JWT authority "a"');
    // And it stays refused: the refusal is not cached as a success.
    await expect(v.validate(t, ['echo'])).rejects.toThrow();
  });

  it('verifies again after any bundle change (a key added): still valid, but not from the old verdict', async () => {
    const t = await token('a', a.privateKey);
    await v.validate(t, ['echo']);
    setBundle([['a', a.publicKey], ['b', b.publicKey]]);
    const misses = v.misses;
    await v.validate(t, ['echo']);
    expect(v.misses).toBe(misses + 1);
  });

  it('a key ID whose key was replaced (same kid, new key): the cached token is verified again and refused', async () => {
    const t = await token('a', a.privateKey);
    await v.validate(t, ['echo']);
    setBundle([['a', b.publicKey]]);
    await expect(v.validate(t, ['echo'])).rejects.toThrow(/signature/i);
  });

  it('checks the audience on every hit', async () => {
    const t = await token('a', a.privateKey, { aud: ['echo'] });
    await v.validate(t, ['echo']);
    expect(v.cached(t, ['billing'])).toBeUndefined();
    await expect(v.validate(t, ['billing'])).rejects.toThrow(/audience/i);
    expect(v.cached(t, ['billing', 'echo'])).toBeDefined();
  });

  it('holds at most maxEntries tokens, dropping the oldest', async () => {
    const ts = await Promise.all([1, 2, 3, 4].map((i) => token('a', a.privateKey, { path: `/w${i}` })));
    for (const t of ts) await v.validate(t, ['echo']);
    expect(v.size).toBe(3);
    expect(v.cached(ts[0]!, ['echo'])).toBeUndefined();
    expect(v.cached(ts[3]!, ['echo'])).toBeDefined();
  });
});
