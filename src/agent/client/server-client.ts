// The agent's connection to herald-server (SPIRE pkg/agent/client): the
// agent/v1, svid/v1, entry/v1 and bundle/v1 calls over TLS, authenticated
// by the agent's X509-SVID once it has one. The channel is rebuilt when the
// agent SVID or the trust bundle changes.
import * as grpc from '@grpc/grpc-js';
import type { X509Certificate } from 'node:crypto';
import { HeraldError, errorMessage } from '../../common/errors.ts';
import { serviceClient, Services, type ServiceName } from '../../common/grpc/protos.ts';
import { createSvidChannelCredentials, type TlsIdentity } from '../../common/grpc/tls-credentials.ts';
import type { WireBundle, WireEntry, WireX509Svid } from '../../common/wire/convert.ts';
import { certificatesToPem } from '../../spiffe/bundle/der.ts';
import type { SpiffeId } from '../../spiffe/id.ts';

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

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

const noChallenge = (type: string) => async (): Promise<Buffer> => {
  throw new ServerClientError('ERR_ATTESTATION_FAILED_CHALLENGE', `server sent an attestation challenge; ${type} attestation has none`);
};

export class ServerClient {
  readonly #opts: ServerClientOptions;
  readonly #channel: grpc.Channel;
  readonly #clients = new Map<ServiceName, Client>();

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
  }

  #client(service: ServiceName): Client {
    let c = this.#clients.get(service);
    if (!c) {
      const Ctor = serviceClient(service);
      c = new Ctor(this.#opts.address, grpc.credentials.createInsecure(), { channelOverride: this.#channel }) as unknown as Client;
      this.#clients.set(service, c);
    }
    return c;
  }

  #unary<Res>(service: ServiceName, method: string, req: object): Promise<Res> {
    const client = this.#client(service);
    return new Promise((resolve, reject) => {
      client[method]!.call(client, req, new grpc.Metadata(), { deadline: Date.now() + (this.#opts.deadlineMs ?? 30_000) }, (err: grpc.ServiceError | null, res: Res) =>
        err ? reject(err) : resolve(res),
      );
    });
  }

  /**
   * AttestAgent: `type`/`payload` and the CSR first, then `answer` for each
   * challenge the server's attestor sends, until the result. Without
   * `answer` (join_token), a challenge fails the attestation.
   */
  attest(type: string, payload: Buffer, csr: Buffer, answer: (challenge: Buffer) => Promise<Buffer> = noChallenge(type)): Promise<WireX509Svid> {
    const client = this.#client(Services.agent);
    return new Promise((resolve, reject) => {
      const call = (client.AttestAgent as (m: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientDuplexStream<object, { result?: { svid: WireX509Svid }; challenge?: Buffer }>)(
        new grpc.Metadata(),
        { deadline: Date.now() + (this.#opts.deadlineMs ?? 30_000) },
      );
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
    return (await this.#unary<{ svid: WireX509Svid }>(Services.agent, 'RenewAgent', { params: { csr } })).svid;
  }

  async authorizedEntries(): Promise<WireEntry[]> {
    return (await this.#unary<{ entries: WireEntry[] }>(Services.entry, 'GetAuthorizedEntries', {})).entries;
  }

  async batchNewX509Svid(params: { entryId: string; csr: Buffer }[]): Promise<{ status: { code: number; message: string }; svid: WireX509Svid | null }[]> {
    const res = await this.#unary<{ results: { status: { code: number; message: string }; svid: WireX509Svid | null }[] }>(Services.svid, 'BatchNewX509SVID', {
      params: params.map((p) => ({ entry_id: p.entryId, csr: p.csr })),
    });
    return res.results;
  }

  async newJwtSvid(entryId: string, audience: readonly string[]): Promise<{ token: string; expires_at: string }> {
    return (await this.#unary<{ svid: { token: string; expires_at: string } }>(Services.svid, 'NewJWTSVID', { entry_id: entryId, audience })).svid;
  }

  getBundle(): Promise<WireBundle> {
    return this.#unary<WireBundle>(Services.bundle, 'GetBundle', {});
  }

  getFederatedBundle(trustDomain: string): Promise<WireBundle> {
    return this.#unary<WireBundle>(Services.bundle, 'GetFederatedBundle', { trust_domain: trustDomain });
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
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
