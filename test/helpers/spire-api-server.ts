// A real gRPC server on a Unix socket, over TLS with an SVID as
// herald-server's agent API, that implements the SPIRE server API methods
// an agent calls (agent/v1 AttestAgent and RenewAgent, bundle/v1 GetBundle
// and GetFederatedBundle, entry/v1 GetAuthorizedEntries, svid/v1
// BatchNewX509SVID and NewJWTSVID), with state a test sets (entries,
// federated bundles, a tainted CA, failures) and every call reported as an
// event, so agent unit tests wait on calls instead of sleeping. With
// `entryWatch`, it also serves Herald's WatchEntries (nudges a test sends). The test's
// clock drives the agent's decisions; certificates are signed at real time
// (or the test's clock if it is behind), as TLS checks them at real time.
import * as grpc from '@grpc/grpc-js';
import { X509Certificate, type KeyObject } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { join } from 'node:path';
import type { Clock } from '../../src/common/clock.ts';
import { serviceDefinition, Services } from '../../src/common/grpc/protos.ts';
import { ENTRY_WATCH_SERVICE } from '../../src/server/api/entry-watch-service.ts';
import { createSvidServerCredentials, verifiedPeerChain } from '../../src/common/grpc/tls-credentials.ts';
import { certificatesToPem } from '../../src/spiffe/bundle/der.ts';
import { parseCsr } from '../../src/spiffe/csr.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { generateKeyPair } from '../../src/spiffe/keys.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { createCaCertificate, signX509Svid, signX509SvidDer } from '../../src/server/credtemplate/standalone.ts';

export const TD = TrustDomain.fromString('example.org');
const DAY = 86_400_000;

export interface FakeEntry {
  id: string;
  spiffeId: string;
  revision?: number;
  createdAt?: number;
  federatesWith?: string[];
  /** Sign this SPIFFE ID instead of the entry's (a misbehaving server). */
  signAs?: string;
}

export interface Ca {
  certificate: X509Certificate;
  privateKey: KeyObject;
  tainted: boolean;
}

export interface ApiCall {
  method: string;
  /** The agent SVID's serial the caller presented (undefined: none). */
  peerSerial: string | undefined;
  /** BatchNewX509SVID: the entry IDs asked for. */
  entryIds?: string[];
}

type Failure = { code: grpc.status; details: string; metadata?: grpc.Metadata };

export class SpireApiServer extends EventEmitter<{ call: [ApiCall] }> {
  readonly socketPath: string;
  readonly calls: ApiCall[] = [];
  cas: Ca[] = [];
  entries: FakeEntry[] = [];
  federated = new Map<string, Buffer[]>();
  agentId = SpiffeId.fromString('spiffe://example.org/spire/agent/test/node-1');
  agentTtlMs = 3_600_000;
  svidTtlMs = 3_600_000;
  /** The next call of these methods fails once with this status. */
  readonly failNext = new Map<string, Failure>();
  /** Open WatchEntries streams (entryWatch servers only). */
  readonly watches = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  #held: Promise<void> | undefined;
  #server: grpc.Server | undefined;
  #bundleSeq = 1;
  readonly #clock: Clock;

  private constructor(socketPath: string, clock: Clock) {
    super();
    this.socketPath = socketPath;
    this.#clock = clock;
  }

  static async start(dir: string, clock: Clock, opts: { entryWatch?: boolean } = {}): Promise<SpireApiServer> {
    const s = new SpireApiServer(join(dir, 'server.sock'), clock);
    s.cas.push(await s.#newCa());
    const { privateKey, publicKey } = generateKeyPair('ec-p256');
    const cert = await signX509Svid({ ca: s.cas[0]!, publicKey, id: SpiffeId.fromSegments(TD, 'spire', 'server'), now: Date.now(), ttlMs: DAY });
    const creds = createSvidServerCredentials(
      { certChainPem: certificatesToPem([cert]), privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() },
      certificatesToPem([s.cas[0]!.certificate]),
    );
    const server = new grpc.Server();
    server.addService(serviceDefinition(Services.agent), s.#agentService());
    server.addService(serviceDefinition(Services.bundle), s.#bundleService());
    server.addService(serviceDefinition(Services.entry), s.#entryService());
    server.addService(serviceDefinition(Services.svid), s.#svidService());
    if (opts.entryWatch) server.addService(ENTRY_WATCH_SERVICE, s.#watchService());
    await new Promise<void>((resolve, reject) => server.bindAsync(`unix:${s.socketPath}`, creds, (err) => (err ? reject(err) : resolve())));
    s.#server = server;
    return s;
  }

  get address(): string {
    return `unix:${this.socketPath}`;
  }

  get roots(): X509Certificate[] {
    return this.cas.map((c) => c.certificate);
  }

  /** A new CA signs from now on; the old one stays in the bundle, marked tainted. */
  async rotateAndTaint(): Promise<void> {
    for (const ca of this.cas) ca.tainted = true;
    this.cas.unshift(await this.#newCa());
    this.#bundleSeq++;
  }

  /** Sends a nudge on every open WatchEntries stream. */
  nudge(): void {
    for (const w of this.watches) w.write({ reason: 'entries_changed' });
  }

  /** GetBundle calls (the first of each sync) wait, once recorded, until the returned function is called: a sync held in progress. */
  holdGetBundle(): () => void {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    this.#held = held;
    return () => {
      if (this.#held === held) this.#held = undefined;
      release();
    };
  }

  callsOf(method: string): ApiCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Resolves with the next call of `method`. */
  async nextCall(method: string): Promise<ApiCall> {
    for (;;) {
      const [call] = await once(this, 'call');
      if ((call as ApiCall).method === method) return call as ApiCall;
    }
  }

  async stop(): Promise<void> {
    this.#server?.forceShutdown();
  }

  async #newCa(): Promise<Ca> {
    const { privateKey, publicKey } = generateKeyPair('ec-p256');
    const now = Math.min(Date.now(), this.#clock.now());
    const certificate = await createCaCertificate({ trustDomain: TD, publicKey, signer: { privateKey }, notBefore: now, notAfter: Math.max(Date.now(), this.#clock.now()) + 30 * DAY });
    return { certificate, privateKey, tainted: false };
  }

  #record(method: string, call: { getAuthContext(): { sslPeerCertificate?: unknown } }, extra: Partial<ApiCall> = {}): Failure | undefined {
    const chain = verifiedPeerChain(call);
    const c: ApiCall = { method, peerSerial: chain?.[0]?.serialNumber, ...extra };
    this.calls.push(c);
    const failure = this.failNext.get(method);
    if (failure) this.failNext.delete(method);
    // After the handler has answered: a waiting test sees the call's effect first.
    setImmediate(() => this.emit('call', c));
    return failure;
  }

  async #sign(id: SpiffeId, spki: Buffer, ttlMs: number): Promise<Buffer[]> {
    const ca = this.cas[0]!;
    // Never dated after real time: the agent presents its SVID in TLS, which checks validity at real time.
    return [(await signX509SvidDer({ ca, spki, id, now: Math.min(this.#clock.now(), Date.now()), ttlMs })).der];
  }

  #wireSvid(id: SpiffeId, chain: Buffer[]): object {
    return { id: { trust_domain: id.trustDomain.name, path: id.path }, cert_chain: chain, expires_at: String(Math.floor(new X509Certificate(chain[0]!).validToDate.getTime() / 1000)) };
  }

  #agentService(): grpc.UntypedServiceImplementation {
    return {
      AttestAgent: (call: grpc.ServerDuplexStream<{ params?: { params: { csr: Buffer } } }, object>) => {
        call.once('data', async (m) => {
          const failure = this.#record('AttestAgent', call);
          if (failure) {
            call.destroy(Object.assign(new Error(failure.details), failure));
            return;
          }
          const csr = parseCsr(m.params!.params.csr);
          call.write({ result: { svid: this.#wireSvid(this.agentId, await this.#sign(this.agentId, csr.spki, this.agentTtlMs)), reattestable: true } });
          call.end();
        });
      },
      RenewAgent: (call: grpc.ServerUnaryCall<{ params: { csr: Buffer } }, object>, cb: grpc.sendUnaryData<object>) => {
        const failure = this.#record('RenewAgent', call);
        if (failure) return cb(failure);
        const csr = parseCsr(call.request.params.csr);
        this.#sign(this.agentId, csr.spki, this.agentTtlMs).then((chain) => cb(null, { svid: this.#wireSvid(this.agentId, chain) }), (err: Error) => cb(err));
      },
    };
  }

  #bundleOf(td: string, roots: { asn1: Buffer; tainted: boolean }[]): object {
    return { trust_domain: td, x509_authorities: roots, jwt_authorities: [], refresh_hint: '0', sequence_number: String(this.#bundleSeq) };
  }

  #bundleService(): grpc.UntypedServiceImplementation {
    return {
      GetBundle: async (call: grpc.ServerUnaryCall<object, object>, cb: grpc.sendUnaryData<object>) => {
        const failure = this.#record('GetBundle', call);
        if (failure) return cb(failure);
        await this.#held;
        cb(null, this.#bundleOf(TD.name, this.cas.map((c) => ({ asn1: c.certificate.raw, tainted: c.tainted }))));
      },
      GetFederatedBundle: (call: grpc.ServerUnaryCall<{ trust_domain: string }, object>, cb: grpc.sendUnaryData<object>) => {
        const failure = this.#record('GetFederatedBundle', call);
        if (failure) return cb(failure);
        const roots = this.federated.get(call.request.trust_domain);
        if (!roots) return cb({ code: grpc.status.NOT_FOUND, details: 'bundle not found' });
        cb(null, this.#bundleOf(call.request.trust_domain, roots.map((asn1) => ({ asn1, tainted: false }))));
      },
    };
  }

  #watchService(): grpc.UntypedServiceImplementation {
    return {
      WatchEntries: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        this.#record('WatchEntries', call);
        this.watches.add(call);
        const gone = () => this.watches.delete(call);
        call.on('cancelled', gone);
        call.on('close', gone);
      },
    };
  }

  #entryService(): grpc.UntypedServiceImplementation {
    return {
      GetAuthorizedEntries: (call: grpc.ServerUnaryCall<object, object>, cb: grpc.sendUnaryData<object>) => {
        const failure = this.#record('GetAuthorizedEntries', call);
        if (failure) return cb(failure);
        cb(null, {
          entries: this.entries.map((e) => {
            const id = SpiffeId.fromString(e.spiffeId);
            return {
              id: e.id,
              spiffe_id: { trust_domain: id.trustDomain.name, path: id.path },
              parent_id: { trust_domain: TD.name, path: this.agentId.path },
              selectors: [{ type: 'unix', value: `uid:${1000 + this.entries.indexOf(e)}` }],
              federates_with: e.federatesWith ?? [],
              revision_number: String(e.revision ?? 0),
              created_at: String(e.createdAt ?? 1),
            };
          }),
        });
      },
    };
  }

  #svidService(): grpc.UntypedServiceImplementation {
    return {
      BatchNewX509SVID: (call: grpc.ServerUnaryCall<{ params: { entry_id: string; csr: Buffer }[] }, object>, cb: grpc.sendUnaryData<object>) => {
        const failure = this.#record('BatchNewX509SVID', call, { entryIds: call.request.params.map((p) => p.entry_id) });
        if (failure) return cb(failure);
        Promise.all(
          call.request.params.map(async (p) => {
            const e = this.entries.find((x) => x.id === p.entry_id);
            if (!e) return { status: { code: grpc.status.NOT_FOUND, message: 'entry not found' }, svid: null };
            const id = SpiffeId.fromString(e.signAs ?? e.spiffeId);
            return { status: { code: 0, message: 'OK' }, svid: this.#wireSvid(id, await this.#sign(id, parseCsr(p.csr).spki, this.svidTtlMs)) };
          }),
        ).then((results) => cb(null, { results }), (err: Error) => cb(err));
      },
      NewJWTSVID: (call: grpc.ServerUnaryCall<object, object>, cb: grpc.sendUnaryData<object>) => {
        this.#record('NewJWTSVID', call);
        cb({ code: grpc.status.UNIMPLEMENTED, details: 'not in this fake' });
      },
    };
  }
}

/** A root that is not this server's (for federated bundles). */
export async function otherRoot(td: string): Promise<Buffer> {
  const { privateKey, publicKey } = generateKeyPair('ec-p256');
  const cert = await createCaCertificate({ trustDomain: TrustDomain.fromString(td), publicKey, signer: { privateKey }, notBefore: Date.now(), notAfter: Date.now() + DAY });
  return cert.raw;
}
