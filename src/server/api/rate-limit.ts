// Per-source-IP rate limits on the TCP listener (SPIRE's server `ratelimit`
// block, pkg/server/api/middleware/ratelimit.go): AttestAgent 1 per second
// per IP; X509 signing (RenewAgent, BatchNewX509SVID — one per CSR —,
// NewDownstreamX509CA) and JWT signing (NewJWTSVID) 500 per second per IP.
// A token bucket per IP whose burst is its rate. As in SPIRE, a caller over
// the rate waits for its tokens, and a request larger than the burst fails
// with RESOURCE_EXHAUSTED; unlike Go's unbounded wait, a wait longer than
// MAX_WAIT_MS (or the call's deadline) fails at once with RESOURCE_EXHAUSTED,
// so a flood cannot park an unbounded number of calls in the server.
// Callers on the admin socket (not an IP) are never limited. Idle IPs are
// forgotten after one to two minutes (SPIRE's two-generation GC).
import { HeraldError } from '../../common/errors.ts';
import type { Clock } from '../../common/clock.ts';

/** SPIRE's limits (pkg/server/api/limits). */
export const ATTEST_LIMIT_PER_IP = 1;
export const SIGN_LIMIT_PER_IP = 500;
/** The longest a call waits for its tokens. */
export const MAX_WAIT_MS = 10_000;
const GC_INTERVAL_MS = 60_000;

interface Bucket {
  tokens: number;
  at: number;
}

export class PerIpLimiter {
  readonly #rate: number;
  readonly #clock: Clock;
  #current = new Map<string, Bucket>();
  #previous = new Map<string, Bucket>();
  #lastGc: number;

  constructor(ratePerSecond: number, clock: Clock) {
    this.#rate = ratePerSecond;
    this.#clock = clock;
    this.#lastGc = clock.now();
  }

  /** Milliseconds to wait before `count` tokens are the caller's (reserved now), or a RESOURCE_EXHAUSTED error. */
  reserve(ip: string, count: number, deadline: number): number {
    if (count > this.#rate) throw new HeraldError('ERR_RESOURCE_EXHAUSTED_RATE_LIMIT', `rate (${count}) exceeds burst size (${this.#rate})`);
    const now = this.#clock.now();
    const b = this.#bucket(ip, now);
    b.tokens = Math.min(this.#rate, b.tokens + ((now - b.at) / 1000) * this.#rate);
    b.at = now;
    const waitMs = b.tokens >= count ? 0 : ((count - b.tokens) / this.#rate) * 1000;
    if (waitMs > MAX_WAIT_MS || now + waitMs > deadline) {
      throw new HeraldError('ERR_RESOURCE_EXHAUSTED_RATE_LIMIT', `rate limit exceeded for ${ip}: try again in ${Math.ceil(waitMs / 1000)}s`);
    }
    b.tokens -= count;
    return waitMs;
  }

  #bucket(ip: string, now: number): Bucket {
    let b = this.#current.get(ip);
    if (b) return b;
    b = this.#previous.get(ip);
    if (b) {
      this.#previous.delete(ip);
    } else {
      if (now - this.#lastGc >= GC_INTERVAL_MS) {
        this.#previous = this.#current;
        this.#current = new Map();
        this.#lastGc = now;
      }
      b = { tokens: this.#rate, at: now };
    }
    this.#current.set(ip, b);
    return b;
  }
}

/** The IP of a TCP caller from grpc-js's getPeer() ("127.0.0.1:5000", "[::1]:5000", "ipv4:…"); undefined for anything else (Unix sockets). */
export function peerIp(peer: string): string | undefined {
  const m = /^(?:ipv[46]:)?(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):\d+$/.exec(peer);
  return m?.[1] ?? m?.[2];
}

export type LimitKind = 'attestation' | 'x509' | 'jwt';

/** The server's limiters, by kind; a kind switched off in the config (ratelimit.attestation / .signing = false) is absent. */
export class RateLimits {
  readonly #limiters: Partial<Record<LimitKind, PerIpLimiter>>;
  readonly #clock: Clock;

  constructor(opts: { attestation: boolean; signing: boolean; clock: Clock }) {
    this.#clock = opts.clock;
    this.#limiters = {
      ...(opts.attestation ? { attestation: new PerIpLimiter(ATTEST_LIMIT_PER_IP, opts.clock) } : {}),
      ...(opts.signing ? { x509: new PerIpLimiter(SIGN_LIMIT_PER_IP, opts.clock), jwt: new PerIpLimiter(SIGN_LIMIT_PER_IP, opts.clock) } : {}),
    };
  }

  /** Waits until `call`'s source may make `count` more requests of `kind`; throws RESOURCE_EXHAUSTED when it may not soon. */
  async wait(kind: LimitKind, call: { getPeer(): string; getDeadline(): Date | number }, count = 1): Promise<void> {
    const limiter = this.#limiters[kind];
    const ip = limiter && peerIp(call.getPeer());
    if (!limiter || ip === undefined) return;
    const d = call.getDeadline();
    const deadline = d instanceof Date ? d.getTime() : Number.isFinite(d) ? d : Infinity;
    const waitMs = limiter.reserve(ip, count, deadline);
    if (waitMs > 0) await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, waitMs));
  }
}
