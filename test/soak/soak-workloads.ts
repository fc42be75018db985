// The soak's workloads: every round, each agent's X509-SVIDs (one
// FetchX509SVID per agent, carrying all its workloads' identities), one
// JWT-SVID per workload, and calls through the Envoys (A → mTLS + JWT → B →
// app). Every SVID served is checked: not expired, an X509-SVID's chain
// verifies against the bundle served with it, not signed by an authority
// revoked more than REVOKE_GRACE_MS ago, and a JWT-SVID not signed by a
// key tainted or revoked more than REVOKE_GRACE_MS ago. Per identity, the
// time without a valid X509-SVID is tracked.
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { serviceClient, Services } from '../../src/common/grpc/protos.ts';
import { SpiffeBundle } from '../../src/spiffe/bundle/spiffe-bundle.ts';
import { BundleSet } from '../../src/spiffe/bundle/set.ts';
import { parseCertificatesDer } from '../../src/spiffe/bundle/der.ts';
import { px509 } from '../../src/spiffe/peculiar.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { verify } from '../../src/spiffe/x509-verify.ts';
import { TD, type Topology } from './soak-topology.ts';

export type CallKind = 'x509-svid' | 'jwt-svid' | 'mtls-via-envoy';
export const CALL_KINDS: readonly CallKind[] = ['x509-svid', 'jwt-svid', 'mtls-via-envoy'];
/** After a revocation, agents and Envoys have this long to stop serving the revoked authority's SVIDs (sync + rotation). */
export const REVOKE_GRACE_MS = 15_000;
const CALL_TIMEOUT_MS = 5_000;

export interface CallFailure {
  kind: CallKind;
  at: number;
  detail: string;
}

interface WireX509Response {
  svids: { spiffe_id: string; x509_svid: Buffer; bundle: Buffer }[];
}

type WorkloadClient = grpc.Client & {
  FetchX509SVID(req: object, md: grpc.Metadata, opts: grpc.CallOptions): grpc.ClientReadableStream<WireX509Response>;
  FetchJWTSVID(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: { svids: { svid: string }[] }) => void): void;
};

export class WorkloadDriver {
  readonly calls = new Map<CallKind, { attempted: number; succeeded: number; failed: number }>(CALL_KINDS.map((k) => [k, { attempted: 0, succeeded: 0, failed: 0 }]));
  readonly failures: CallFailure[] = [];
  readonly violations = { expired: 0, revoked: 0, unverified: 0, details: [] as string[] };
  longestGapMs = 0;
  longestGapId = '';
  /** Revoked X.509 authorities (subject key ID, lowercase hex) and JWT keys (key ID, lowercase), and when. */
  readonly revoked: { authorityId: string; at: number }[] = [];
  /** Tainted JWT keys (key ID, lowercase) and when: agents drop JWT-SVIDs they signed. */
  readonly taintedJwt: { authorityId: string; at: number }[] = [];
  readonly #topo: Topology;
  #started: number;
  readonly #validUntil = new Map<string, number>();
  readonly #md = new grpc.Metadata();
  #clients: WorkloadClient[] = [];

  constructor(topo: Topology) {
    this.#topo = topo;
    this.#started = Date.now();
    this.#md.set('workload.spiffe.io', 'true');
    // Short reconnect backoff: a restarted agent is reached again within a second, not grpc's up to two minutes.
    const Ctor = serviceClient(Services.workload);
    this.#clients = topo.agents.map(
      (a) => new Ctor(`unix:${a.socketPath}`, grpc.credentials.createInsecure(), { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 1000 }) as unknown as WorkloadClient,
    );
  }

  close(): void {
    for (const c of this.#clients) c.close();
  }

  /** One round of calls, all at once. */
  async round(): Promise<void> {
    const work: Promise<void>[] = [];
    this.#topo.agents.forEach((_a, i) => work.push(this.#call('x509-svid', () => this.#fetchX509(i))));
    this.#topo.workloads.forEach((ids, i) => ids.forEach((id) => work.push(this.#call('jwt-svid', () => this.#fetchJwt(i, id)))));
    for (let n = 0; n < 5; n++) work.push(this.#call('mtls-via-envoy', () => this.#callEnvoy()));
    await Promise.all(work);
  }

  /** Starts the measured run: counts, failures and gaps from the warm-up are forgotten. */
  startMeasuring(): void {
    this.#started = Date.now();
    this.failures.length = 0;
    for (const c of this.calls.values()) Object.assign(c, { attempted: 0, succeeded: 0, failed: 0 });
    this.longestGapMs = 0;
    this.longestGapId = '';
    for (const id of this.#validUntil.keys()) this.#validUntil.set(id, Math.max(this.#validUntil.get(id)!, this.#started));
  }

  /** The gaps still open at the end (identities whose last SVID has expired, or that never got one). */
  finish(): void {
    const now = Date.now();
    for (const id of this.#topo.workloads.flat()) this.#noteGap(id, now, this.#validUntil.get(id) ?? this.#started);
  }

  async #call(kind: CallKind, fn: () => Promise<void>): Promise<void> {
    const c = this.calls.get(kind)!;
    c.attempted++;
    try {
      await fn();
      c.succeeded++;
    } catch (err) {
      c.failed++;
      this.failures.push({ kind, at: Date.now(), detail: (err as Error).message });
    }
  }

  #fetchX509(agent: number): Promise<void> {
    const askedAt = Date.now();
    return new Promise((resolve, reject) => {
      const call = this.#clients[agent]!.FetchX509SVID({}, this.#md, { deadline: Date.now() + CALL_TIMEOUT_MS });
      let done = false;
      call.on('data', (res: WireX509Response) => {
        if (done) return;
        done = true;
        call.cancel();
        try {
          this.#checkX509(agent, res, askedAt);
          resolve();
        } catch (err) {
          reject(err);
        }
      });
      call.on('error', (err: grpc.ServiceError) => {
        if (!done) reject(new Error(`agent-${agent} FetchX509SVID: ${err.message}`));
      });
    });
  }

  /** `askedAt`: an SVID still valid when the call was made was not served expired. */
  #checkX509(agent: number, res: WireX509Response, askedAt: number): void {
    const now = Date.now();
    const td = TrustDomain.fromString(TD);
    const expected = new Set(this.#topo.workloads[agent]);
    for (const s of res.svids) {
      if (!expected.has(s.spiffe_id)) continue;
      const chain = parseCertificatesDer(s.x509_svid);
      const leaf = chain[0]!;
      const notAfter = Date.parse(leaf.validTo);
      let ok = true;
      if (notAfter <= askedAt) {
        this.#violation('expired', `${s.spiffe_id} served by agent-${agent} expired at ${leaf.validTo}`);
        ok = false;
      }
      try {
        verify(chain, new BundleSet([new SpiffeBundle(td, { x509Authorities: parseCertificatesDer(s.bundle) })]), { at: Math.min(now, notAfter - 1) });
      } catch (err) {
        this.#violation('unverified', `${s.spiffe_id} served by agent-${agent} does not verify against its bundle: ${(err as Error).message}`);
        ok = false;
      }
      const issuer = authorityKeyId(leaf);
      const revoked = this.revoked.find((r) => r.authorityId === issuer && now > r.at + REVOKE_GRACE_MS);
      if (revoked) {
        this.#violation('revoked', `${s.spiffe_id} served by agent-${agent} is signed by authority ${issuer}, revoked ${Math.round((now - revoked.at) / 1000)} s ago`);
        ok = false;
      }
      if (ok) {
        const until = this.#validUntil.get(s.spiffe_id) ?? this.#started;
        this.#noteGap(s.spiffe_id, now, until);
        this.#validUntil.set(s.spiffe_id, Math.max(until, notAfter));
      }
    }
  }

  #noteGap(id: string, now: number, validUntil: number): void {
    if (now - validUntil > this.longestGapMs) {
      this.longestGapMs = now - validUntil;
      this.longestGapId = id;
    }
  }

  #violation(kind: 'expired' | 'revoked' | 'unverified', detail: string): void {
    this.violations[kind]++;
    if (this.violations.details.length < 20) this.violations.details.push(detail);
  }

  #fetchJwt(agent: number, id: string): Promise<void> {
    const askedAt = Date.now();
    return new Promise((resolve, reject) => {
      this.#clients[agent]!.FetchJWTSVID({ audience: ['soak'], spiffe_id: id }, this.#md, { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, res) => {
        if (err) return reject(new Error(`agent-${agent} FetchJWTSVID ${id}: ${err.message}`));
        const token = res.svids[0]?.svid;
        if (!token) return reject(new Error(`agent-${agent} FetchJWTSVID ${id}: no SVID`));
        let header: Record<string, unknown>;
        let payload: Record<string, unknown>;
        try {
          [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>) as [Record<string, unknown>, Record<string, unknown>];
        } catch (e) {
          return reject(new Error(`agent-${agent} FetchJWTSVID ${id}: not a JWT: ${(e as Error).message}`));
        }
        const exp = payload.exp as number;
        if (exp * 1000 <= askedAt) this.#violation('expired', `JWT-SVID for ${id} from agent-${agent} expired at ${new Date(exp * 1000).toISOString()}`);
        const kid = String(header.kid).toLowerCase();
        const now = Date.now();
        for (const [list, what] of [[this.revoked, 'revoked'], [this.taintedJwt, 'tainted']] as const) {
          const hit = list.find((r) => r.authorityId === kid && now > r.at + REVOKE_GRACE_MS);
          if (hit) this.#violation('revoked', `JWT-SVID for ${id} from agent-${agent} is signed by key ${kid}, ${what} ${Math.round((now - hit.at) / 1000)} s ago`);
        }
        resolve();
      });
    });
  }

  async #callEnvoy(): Promise<void> {
    const res = await fetch(this.#topo.callUrl, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`A → B: HTTP ${res.status} ${body.slice(0, 80)}`);
  }
}

/** The authority key identifier of a certificate (its issuer's subject key ID), lowercase hex. */
function authorityKeyId(cert: X509Certificate): string | undefined {
  return new px509.X509Certificate(cert.raw).getExtension(px509.AuthorityKeyIdentifierExtension)?.keyId?.toLowerCase();
}
