// SPIRE's per-IP token buckets (server.ratelimit) on a manual clock: burst,
// refill, the bounded wait, the burst-size error, per-IP isolation, the
// admin socket never limited, idle IPs forgotten.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.ts';
import { MAX_WAIT_MS, PerIpLimiter, RateLimits, peerIp } from '../../../src/server/api/rate-limit.ts';

const NEVER = Infinity;

describe('PerIpLimiter', () => {
  it('grants a full bucket at once, then one token per 1/rate seconds', () => {
    const clock = new ManualClock();
    const l = new PerIpLimiter(2, clock);
    expect(l.reserve('10.0.0.1', 1, NEVER)).toBe(0);
    expect(l.reserve('10.0.0.1', 1, NEVER)).toBe(0);
    expect(l.reserve('10.0.0.1', 1, NEVER)).toBe(500);
    clock.advance(1000);
    // Half a second of the refill went to the reservation above.
    expect(l.reserve('10.0.0.1', 1, NEVER)).toBe(0);
    expect(l.reserve('10.0.0.1', 1, NEVER)).toBe(500);
  });

  it('refuses (RESOURCE_EXHAUSTED) a wait beyond MAX_WAIT_MS or the deadline, without taking tokens', () => {
    const clock = new ManualClock();
    const l = new PerIpLimiter(1, clock);
    for (let i = 0; i * 1000 <= MAX_WAIT_MS; i++) l.reserve('10.0.0.1', 1, NEVER);
    expect(() => l.reserve('10.0.0.1', 1, NEVER)).toThrow(expect.objectContaining({ code: 'ERR_RESOURCE_EXHAUSTED_RATE_LIMIT' }));
    clock.advance(60_000);
    expect(l.reserve('10.0.0.1', 1, NEVER)).toBe(0);
    expect(() => l.reserve('10.0.0.1', 1, clock.now() + 100)).toThrow(/rate limit exceeded for 10\.0\.0\.1/);
  });

  it('refuses a request larger than the burst, as SPIRE words it', () => {
    const l = new PerIpLimiter(500, new ManualClock());
    expect(() => l.reserve('10.0.0.1', 501, NEVER)).toThrow('rate (501) exceeds burst size (500)');
  });

  it('keeps one bucket per IP', () => {
    const l = new PerIpLimiter(1, new ManualClock());
    expect(l.reserve('10.0.0.1', 1, NEVER)).toBe(0);
    expect(l.reserve('10.0.0.1', 1, NEVER)).toBe(1000);
    expect(l.reserve('10.0.0.2', 1, NEVER)).toBe(0);
  });

  it('forgets an IP idle for two GC intervals (a fresh, full bucket)', () => {
    const clock = new ManualClock();
    const l = new PerIpLimiter(1, clock);
    l.reserve('10.0.0.1', 1, NEVER);
    l.reserve('10.0.0.1', 1, NEVER);
    clock.advance(61_000);
    l.reserve('10.0.0.9', 1, NEVER); // first GC: 10.0.0.1 moves to the previous generation
    clock.advance(61_000);
    l.reserve('10.0.0.8', 1, NEVER); // second GC: it is dropped
    expect(l.reserve('10.0.0.1', 1, NEVER)).toBe(0);
  });
});

describe('peerIp', () => {
  it.each([
    ['127.0.0.1:5000', '127.0.0.1'],
    ['ipv4:10.1.2.3:443', '10.1.2.3'],
    ['[::1]:5000', '::1'],
    ['ipv6:[fe80::1]:80', 'fe80::1'],
    ['herald-uds:pid=1;uid=0;gid=0', undefined],
    ['unix:/tmp/x.sock', undefined],
  ])('%s → %s', (peer, ip) => expect(peerIp(peer)).toBe(ip));
});

describe('RateLimits', () => {
  it('waits for a token on the clock, never limits the admin socket, and does nothing for a kind switched off', async () => {
    const clock = new ManualClock();
    const limits = new RateLimits({ attestation: true, signing: false, clock });
    const tcp = { getPeer: () => '127.0.0.1:4000', getDeadline: () => Infinity };
    await limits.wait('attestation', tcp);
    let done = false;
    const second = limits.wait('attestation', tcp).then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advance(1000);
    await second;
    expect(done).toBe(true);
    const uds = { getPeer: () => 'herald-uds:pid=1;uid=0;gid=0', getDeadline: () => Infinity };
    for (let i = 0; i < 5; i++) await limits.wait('attestation', uds);
    for (let i = 0; i < 1000; i++) await limits.wait('x509', tcp);
  });
});
