// JwtSvidCache under a local clock jump (chaos soak finding): a token that
// arrived while the clock was ahead was served after its expiry once the
// clock was right again (its half-life was counted from the wrong "now").
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/common/clock.ts';
import { JwtSvidCache } from '../../src/spiffe/jwt-svid-cache.ts';

const T = Date.UTC(2026, 11, 7, 5, 37, 56);

describe('JwtSvidCache', () => {
  function cache(clock: ManualClock) {
    let n = 0;
    // The server's clock is right: every token expires 40 s after the real time T.
    const c = new JwtSvidCache({ clock, mint: async () => ({ token: `token-${++n}`, expires_at: String((T + 40_000) / 1000) }) });
    return { c, minted: () => n };
  }

  it('serves a cached token until half its life, then mints anew', async () => {
    const clock = new ManualClock(T);
    const { c, minted } = cache(clock);
    expect((await c.fetch('e', ['a'])).token).toBe('token-1');
    clock.set(T + 19_000);
    expect((await c.fetch('e', ['a'])).token).toBe('token-1');
    clock.set(T + 21_000);
    expect((await c.fetch('e', ['a'])).token).toBe('token-2');
    expect(minted()).toBe(2);
  });

  it('a token minted while the clock was 118 s ahead is not served past its expiry once the clock is right', async () => {
    const clock = new ManualClock(T + 118_000);
    const { c } = cache(clock);
    expect((await c.fetch('e', ['a'])).token).toBe('token-1');
    clock.set(T + 41_000);
    const served = await c.fetch('e', ['a']);
    expect(served.token).toBe('token-2');
  });
});
