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

// Local clock jumps (chaos soak finding): an agent whose clock was ahead
// when its SVID arrived scheduled the renewal after the SVID's expiry, and
// once the clock was right again it could never sync (a join_token agent
// cannot attest again).
describe('renewalTime with a local clock that jumped', () => {
  const T = Math.floor(Date.now() / 1000) * 1000;
  // As the server issues it: notBefore backdated 10 s, a 40 s TTL.
  const svid = async () => (await makeCert({ keyUsage: LEAF_KU, subject: 'CN=x', notBefore: new Date(T - 10_000), notAfter: new Date(T + 40_000) })).cert;

  it('a receipt time after expiry (clock 118 s ahead) is ignored: renewal before expiry, not 118 s later', async () => {
    const at = renewalTime(await svid(), T + 118_000);
    expect(at).toBeGreaterThan(T);
    expect(at).toBeLessThanOrEqual(T + 15_000);
  });

  it('a receipt time just before expiry (clock 35 s ahead) still leaves a quarter of the life', async () => {
    expect(renewalTime(await svid(), T + 35_000)).toBeLessThanOrEqual(T + 40_000 - 12_500);
  });
});
