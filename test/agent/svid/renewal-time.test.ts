import { describe, expect, it } from 'vitest';
import { renewalTime } from '../../../src/agent/svid/rotator.ts';
import { LEAF_KU, makeCert } from '../../helpers/test-ca.ts';

describe('renewalTime', () => {
  const now = Math.floor(Date.now() / 1000) * 1000;
  const cert = (backdateS: number, ttlS: number) => makeCert({ keyUsage: LEAF_KU, subject: 'CN=x', notBefore: new Date(now - backdateS * 1000), notAfter: new Date(now + ttlS * 1000) });

  it.each([
    // [backdate s, TTL s, received at, earliest, latest]: half-life, minus up to a tenth of the life (jitter).
    ['an hour-long SVID, backdated 10 s, received now', 10, 3600, now, now + 1_800_000 - 360_000, now + 1_800_000],
    ['an 8 s SVID backdated 10 s: counted from receipt, not already due', 10, 8, now, now + 3200, now + 4000],
    ['a stored SVID (receipt unknown): from notBefore', 10, 8, undefined, now - 1000 - 1800, now - 1000],
  ])('%s', async (_n, back, ttl, receivedAt, lo, hi) => {
    const { cert: c } = await cert(back, ttl);
    for (let i = 0; i < 20; i++) {
      const t = renewalTime(c, receivedAt);
      expect(t).toBeGreaterThanOrEqual(lo);
      expect(t).toBeLessThanOrEqual(hi);
    }
  });
});
