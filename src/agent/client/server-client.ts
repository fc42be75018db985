// The agent's connection to herald-server (SPIRE pkg/agent/client): the
// agent/v1, svid/v1, entry/v1 and bundle/v1 calls over TLS, authenticated
// by the agent's X509-SVID once it has one. The channel is rebuilt when the
// agent SVID or the trust bundle changes.
import * as grpc from '@grpc/grpc-js';
import type { X509Certificate } from 'node:crypto';
import { HeraldError, errorMessage } from '../../common/errors.ts';
import { jsonMethod } from '../../common/grpc/json-method.ts';
import { serviceClient, Services } from '../../common/grpc/protos.ts';
import { createSvidChannelCredentials, type TlsIdentity } from '../../common/grpc/tls-credentials.ts';
import { callUnaryMethod } from '../../common/wire/call.ts';
import { wireStatus } from '../../common/wire/convert.ts';
import type { UnaryMethod, UnaryRequest, UnaryResponse, WireBundle, WireClient, WireEntry, WireJwtSvid, WireStatus, WireX509Svid } from '../../common/wire/types.ts';
import { certificatesToPem } from '../../spiffe/bundle/der.ts';
import type { SpiffeId } from '../../spiffe/id.ts';

/** The services the agent calls. */
type AgentApi = typeof Services.agent | typeof Services.svid | typeof Services.entry | typeof Services.bundle;

export interface ServerClientOptions {
  /** host:port of the server's agent API. */
  address: string;
  serverId: SpiffeId;
  /** Roots the server must chain to; undefined = insecure bootstrap (first attestation only). */
  trustedRoots: X509Certificate[] | undefined;
  identity?: TlsIdentity;
  deadlineMs?: number;
}

export class ServerClientError extends HeraldError {}

/** A batch result the server sent without a status: not a success. */
const NO_STATUS: WireStatus = wireStatus('ERR_UNKNOWN_BATCH_STATUS', 'the server sent no status for this SVID');

/** Herald's entry watch (server api/entry-watch-service.ts); a SPIRE server answers UNIMPLEMENTED. */
const WATCH_ENTRIES = jsonMethod('/herald.server.agent.v1.AgentUpdates/WatchEntries', { responseStream: true });

const noChallenge = (type: string) => async (): Promise<Buffer> => {
  throw new ServerClientError('ERR_ATTESTATION_FAILED_CHALLENGE', `server sent an attestation challenge; ${type} attestation has none`);
};

export class ServerClient {
  readonly #opts: ServerClientOptions;
  readonly #channel: grpc.Channel;
  readonly #clients: { readonly [S in AgentApi]: WireClient<S> };
  /** For Herald's own methods, which have no generated stub. */
  readonly #raw: grpc.Client;

  constructor(opts: ServerClientOptions) {
    this.#opts = opts;
    const creds = createSvidChannelCredentials({
      trustedRootsPem: opts.trustedRoots ? certificatesToPem(opts.trustedRoots) : undefined,
      expectedServerId: opts.serverId.toString(),
      ...(opts.identity ? { identity: opts.identity } : {}),
    });
    // The server is authenticated by its SPIFFE ID, not a host name; a fixed
    // SNI keeps TLS from being handed an IP address as server name.
    // grpc-js backs off reconnects up to 120 s by default and fails calls fast
    // meanwhile: a returning server would go unseen for minutes. Cap it at the
    // agent's own retry floor (manager.ts RETRY_CAP_FLOOR_MS).
    this.#channel = new grpc.Channel(opts.address, creds, {
      'grpc.ssl_target_name_override': 'herald-server',
      'grpc.keepalive_time_ms': 30_000,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.initial_reconnect_backoff_ms': 500,
      'grpc.max_reconnect_backoff_ms': 5_000,
    });
    const client = <S extends AgentApi>(service: S): WireClient<S> =>
      new (serviceClient(service))(opts.address, grpc.credentials.createInsecure(), { channelOverride: this.#channel });
    this.#clients = {
      [Services.agent]: client(Services.agent),
      [Services.svid]: client(Services.svid),
      [Services.entry]: client(Services.entry),
      [Services.bundle]: client(Services.bundle),
    };
    this.#raw = new grpc.Client(opts.address, grpc.credentials.createInsecure(), { channelOverride: this.#channel });
  }

  #client<S extends AgentApi>(service: S): WireClient<S> {
    return this.#clients[service];
  }

  #unary<S extends AgentApi, M extends UnaryMethod<WireClient<S>>>(service: S, method: M, req: UnaryRequest<WireClient<S>, M>): Promise<UnaryResponse<WireClient<S>, M>> {
    return callUnaryMethod(this.#client(service), method, req, new grpc.Metadata(), { deadline: Date.now() + (this.#opts.deadlineMs ?? 30_000) });
  }

  /**
   * AttestAgent: `type`/`payload` and the CSR first, then `answer` for each
   * challenge the server's attestor sends, until the result. Without
   * `answer` (join_token), a challenge fails the attestation.
   */
  attest(type: string, payload: Buffer, csr: Buffer, answer: (challenge: Buffer) => Promise<Buffer> = noChallenge(type)): Promise<WireX509Svid> {
    const client = this.#client(Services.agent);
    return new Promise((resolve, reject) => {
      const call = client.AttestAgent(new grpc.Metadata(), { deadline: Date.now() + (this.#opts.deadlineMs ?? 30_000) });
      let result: WireX509Svid | undefined;
      let failed = false;
      const fail = (err: unknown) => {
        if (failed) return;
        failed = true;
        call.cancel();
        reject(err);
      };
      call.on('data', (m) => {
        if (m.result?.svid) {
          result = m.result.svid;
          call.end();
        } else if (m.challenge) {
          answer(m.challenge).then((response) => call.write({ challenge_response: response }), fail);
        } else {
          fail(new ServerClientError('ERR_ATTESTATION_FAILED', 'server sent an attestation message with neither a challenge nor a result'));
        }
      });
      call.on('error', (err) => (failed ? undefined : reject(err)));
      call.on('end', () => (result ? resolve(result) : failed ? undefined : reject(new ServerClientError('ERR_ATTESTATION_FAILED', 'server closed the attestation stream without a result'))));
      call.write({ params: { data: { type, payload }, params: { csr } } });
    });
  }

  async renewAgent(csr: Buffer): Promise<WireX509Svid> {
    return (await this.#unary(Services.agent, 'RenewAgent', { params: { csr } })).svid!;
  }

  async authorizedEntries(): Promise<WireEntry[]> {
    return (await this.#unary(Services.entry, 'GetAuthorizedEntries', {})).entries;
  }

  async batchNewX509Svid(params: { entryId: string; csr: Buffer }[]): Promise<{ status: WireStatus; svid: WireX509Svid | null }[]> {
    const res = await this.#unary(Services.svid, 'BatchNewX509SVID', {
      params: params.map((p) => ({ entry_id: p.entryId, csr: p.csr })),
    });
    return res.results.map((r) => ({ status: r.status ?? NO_STATUS, svid: r.svid }));
  }

  async newJwtSvid(entryId: string, audience: readonly string[]): Promise<WireJwtSvid> {
    return (await this.#unary(Services.svid, 'NewJWTSVID', { entry_id: entryId, audience: [...audience] })).svid!;
  }

  getBundle(): Promise<WireBundle> {
    return this.#unary(Services.bundle, 'GetBundle', {});
  }

  getFederatedBundle(trustDomain: string): Promise<WireBundle> {
    return this.#unary(Services.bundle, 'GetFederatedBundle', { trust_domain: trustDomain });
  }

  /**
   * Opens the server's entry watch: `onNudge` for each message (an entry
   * this agent receives changed), `onEnd` once when the stream ends (`err`
   * undefined when the server ended it cleanly; UNIMPLEMENTED from a SPIRE
   * server). Returns the function that cancels it (onEnd is not called then).
   */
  watchEntries(onNudge: () => void, onEnd: (err: grpc.ServiceError | undefined) => void): () => void {
    const call = this.#raw.makeServerStreamRequest(WATCH_ENTRIES.path, WATCH_ENTRIES.requestSerialize, WATCH_ENTRIES.responseDeserialize, {}, new grpc.Metadata(), {});
    let ended = false;
    const end = (err: grpc.ServiceError | undefined): void => {
      if (ended) return;
      ended = true;
      onEnd(err);
    };
    call.on('data', () => {
      if (!ended) onNudge();
    });
    call.on('error', (err: grpc.ServiceError) => end(err));
    call.on('status', (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) end(undefined);
    });
    return () => {
      ended = true;
      call.cancel();
    };
  }

  close(): void {
    this.#raw.close();
    for (const c of Object.values(this.#clients)) c.close();
    this.#channel.close();
  }
}

/** A gRPC status code from a client error, or undefined. */
export function grpcCodeOf(err: unknown): number | undefined {
  const c = (err as { code?: unknown })?.code;
  return typeof c === 'number' ? c : undefined;
}

export function describeServerError(err: unknown): string {
  const e = err as { details?: string };
  return typeof e?.details === 'string' && e.details ? e.details : errorMessage(err);
}
