// The agent's own X509-SVID (SPIRE pkg/agent/svid: the rotator) and the
// connection to the server that presents it. The SVID comes from node
// attestation (or data_dir) and is renewed half-way through its life, or
// at once when a tainted authority signed it: an agent that can attest
// again (x509pop) renews by attesting, others call RenewAgent. Every new
// SVID, and every new set of roots the server must chain to, rebuilds the
// client the sync uses.
import { X509Certificate, type KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Clock } from '../../common/clock.ts';
import { GrpcCode, errorMessage } from '../../common/errors.ts';
import { certificatesToPem } from '../../spiffe/bundle/der.ts';
import { createCsr } from '../../spiffe/csr.ts';
import { SpiffeId } from '../../spiffe/id.ts';
import { generateKeyPair } from '../../spiffe/keys.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import { ServerClient, describeServerError, grpcCodeOf } from '../client/server-client.ts';
import { AgentManagerError } from '../manager-error.ts';
import type { NodeAttestorClient } from '../plugins/nodeattestor/types.ts';
import type { AgentStorage } from '../storage.ts';

export interface AgentSvid {
  chain: X509Certificate[];
  key: KeyObject;
  id: SpiffeId;
  renewAt: number;
}

export interface AgentSvidRotatorOptions {
  trustDomain: TrustDomain;
  /** host:port of the server's agent API (or unix:/path). */
  serverAddress: string;
  storage: AgentStorage;
  /** How the agent attests; undefined: join_token configured, no token given. */
  nodeAttestor: NodeAttestorClient | undefined;
  clock: Clock;
  log: Logger;
}

export interface AgentSvidRotatorEvents {
  /** A new agent SVID is in use (and stored): from attestation, or renewed by RenewAgent. */
  rotated: [{ svid: AgentSvid; how: 'attested' | 'renewed' }];
}

/** Node's TLS errors for a server certificate that does not verify against the roots. */
const UNTRUSTED_SERVER = /self[- ]signed certificate in certificate chain|unable to get local issuer certificate|unable to get issuer certificate|unable to verify the first certificate|certificate signature failure|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT/i;

/** Whether an error is the server's certificate not chaining to the agent's roots (SPIRE's x509util.IsUnknownAuthorityError). */
export function isUntrustedServer(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (UNTRUSTED_SERVER.test(errorMessage(e)) || UNTRUSTED_SERVER.test(describeServerError(e))) return true;
  }
  return false;
}

/** Node's connect errors → Go's net error text, for SPIRE's "Error while dialing" message. */
const DIAL_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connect: connection refused',
  EHOSTUNREACH: 'connect: no route to host',
  ENETUNREACH: 'connect: network is unreachable',
  ETIMEDOUT: 'i/o timeout',
};

export class AgentSvidRotator extends EventEmitter<AgentSvidRotatorEvents> {
  readonly #o: AgentSvidRotatorOptions;
  readonly serverId: SpiffeId;
  #svid: AgentSvid | undefined;
  #roots: X509Certificate[] | undefined;
  /** Where #roots came from (bootstrap file or URL, or the stored bundle), for TLS failures. */
  #rootsSource: string | undefined;
  #client: ServerClient | undefined;
  /** The SVID in use could not be written to data_dir (read-only, full): written again at each rotation check. */
  #unsaved: { chain: X509Certificate[]; privateKey: KeyObject } | undefined;

  constructor(o: AgentSvidRotatorOptions) {
    super();
    this.#o = o;
    this.serverId = SpiffeId.fromSegments(o.trustDomain, 'spire', 'server');
  }

  get svid(): AgentSvid | undefined {
    return this.#svid;
  }

  /** The roots the server must chain to; undefined: insecure bootstrap. */
  get roots(): X509Certificate[] | undefined {
    return this.#roots;
  }

  /** Sets the roots (and where they came from) without rebuilding the client. */
  setRoots(roots: X509Certificate[] | undefined, source: string | undefined): void {
    this.#roots = roots;
    this.#rootsSource = source;
  }

  /** Sets the roots; rebuilds the client when they changed (SPIRE: the client's trust bundle source). */
  updateRoots(roots: readonly X509Certificate[], source: string): void {
    const changed = !sameCerts(this.#roots, roots);
    this.#roots = [...roots];
    this.#rootsSource = source;
    if (changed) this.rebuildClient();
  }

  /** The client presenting the current agent SVID (after useStored or attest, then rebuildClient). */
  get client(): ServerClient {
    if (!this.#client) throw new AgentManagerError('ERR_AGENT_SVID_INVALID', 'agent: no agent SVID yet: attest first');
    return this.#client;
  }

  /** Uses an agent SVID loaded from data_dir. */
  useStored(chain: X509Certificate[], key: KeyObject): AgentSvid {
    this.#svid = agentSvidOf(chain, key);
    return this.#svid;
  }

  /** The attestor, if it can attest again by itself (x509pop; not a used-up join token). */
  reattestor(): NodeAttestorClient | undefined {
    const a = this.#o.nodeAttestor;
    return a?.canReattest ? a : undefined;
  }

  /** Node attestation with a new key: the SVID is stored and used; call rebuildClient to use it on the sync's client too. */
  async attest(attestor: NodeAttestorClient): Promise<void> {
    const { log } = this.#o;
    const { privateKey } = generateKeyPair('ec-p256');
    const client = new ServerClient({ address: this.#o.serverAddress, serverId: this.serverId, trustedRoots: this.#roots });
    try {
      const wire = await client.attest(attestor.type, await attestor.attestationData(), createCsr(privateKey), (c) => attestor.answer(c));
      const chain = wire.cert_chain.map((d) => new X509Certificate(d));
      this.#svid = agentSvidOf(chain, privateKey, this.#o.clock.now());
      await this.#store(chain, privateKey);
      log.info({ spiffe_id: this.#svid.id.toString(), node_attestor_type: attestor.type }, 'Node attestation was successful');
    } catch (err) {
      throw new AgentManagerError('ERR_ATTESTATION_FAILED', `agent: failed to attest with ${attestor.type}: ${this.describeAttestation(err)}`, { cause: err });
    } finally {
      client.close();
    }
    this.emit('rotated', { svid: this.#svid, how: 'attested' });
  }

  /**
   * Renews the agent SVID when half its life is over or `signedByTainted`
   * says a tainted authority signed it (SPIRE's rotator): by attesting
   * again when the attestor can (fresh proof of the node), else with
   * RenewAgent. Returns whether it did.
   */
  async rotateIfDue(signedByTainted: (chain: readonly X509Certificate[]) => boolean = () => false): Promise<boolean> {
    if (this.#unsaved) await this.#store(this.#unsaved.chain, this.#unsaved.privateKey);
    const svid = this.#svid!;
    const tainted = signedByTainted(svid.chain);
    if (this.#o.clock.now() < svid.renewAt && !tainted) return false;
    if (tainted) this.#o.log.info({}, 'The agent SVID was signed by a tainted authority; renewing it now');
    const reattestor = this.reattestor();
    if (reattestor) {
      await this.attest(reattestor);
      this.rebuildClient();
      return true;
    }
    const { privateKey } = generateKeyPair('ec-p256');
    const wire = await this.client.renewAgent(createCsr(privateKey));
    const chain = wire.cert_chain.map((d) => new X509Certificate(d));
    this.#svid = agentSvidOf(chain, privateKey, this.#o.clock.now());
    await this.#store(chain, privateKey);
    this.rebuildClient();
    this.#o.log.info({ spiffe_id: this.#svid.id.toString(), expires_at: chain[0]!.validTo }, 'Renewed the agent SVID');
    this.emit('rotated', { svid: this.#svid, how: 'renewed' });
    return true;
  }

  /**
   * Writes the agent SVID in use to data_dir. A data_dir that cannot be
   * written (read-only, full) does not stop the agent from using the SVID
   * the server just issued: without it, the agent would keep its old SVID
   * until it expired and then be locked out (a join token cannot attest
   * again). The write is retried at every rotation check; a restart before
   * it succeeds finds the previous SVID on disk.
   */
  async #store(chain: X509Certificate[], privateKey: KeyObject): Promise<void> {
    try {
      await this.#o.storage.storeSvid({ chain, privateKey });
      if (this.#unsaved) this.#o.log.info({}, 'Stored the agent SVID in data_dir');
      this.#unsaved = undefined;
    } catch (err) {
      if (!this.#unsaved) this.#o.log.error({ err: errorMessage(err) }, 'Could not store the agent SVID in data_dir; using it from memory and retrying');
      this.#unsaved = { chain, privateKey };
    }
  }

  /** A new client with the current agent SVID and roots (the old one is closed). */
  rebuildClient(): void {
    this.#client?.close();
    const svid = this.#svid!;
    this.#client = new ServerClient({
      address: this.#o.serverAddress,
      serverId: this.serverId,
      trustedRoots: this.#roots,
      identity: { certChainPem: certificatesToPem(svid.chain), privateKeyPem: svid.key.export({ format: 'pem', type: 'pkcs8' }).toString() },
    });
  }

  close(): void {
    this.#client?.close();
  }

  /**
   * An attestation failure: a server that cannot be reached in SPIRE's words
   * ("could not open attestation stream to SPIRE server: rpc error: code =
   * Unavailable desc = connection error: …"), with Herald's name; anything
   * else as describe.
   */
  describeAttestation(err: unknown): string {
    const text = this.describe(err);
    if (grpcCodeOf(err) !== GrpcCode.UNAVAILABLE || text !== describeServerError(err)) return text;
    const errno = /\b(ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT)\b/.exec(text)?.[1];
    const dial = errno ? `dial tcp ${this.#o.serverAddress}: ${DIAL_ERRORS[errno]}` : text;
    return `could not open attestation stream to Herald server: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: ${dial}"`;
  }

  /**
   * A server error for people. TLS's own words for a server certificate
   * that does not verify ("self-signed certificate in certificate chain")
   * suggest a problem with the server; the usual cause is a trust bundle
   * that is not this server's, so that is what is said, naming the bundle.
   */
  describe(err: unknown): string {
    const text = err instanceof AgentManagerError ? err.message : describeServerError(err);
    if (!UNTRUSTED_SERVER.test(text) || this.#roots === undefined) return text;
    const source = this.#rootsSource ?? 'the configured trust bundle';
    this.#o.log.debug({ err: text }, 'TLS verification of the server failed');
    return `the server's certificate does not chain to ${source}: is it this server's trust bundle (trust domain ${this.#o.trustDomain.name})?`;
  }
}

/** `receivedAt`: when it was issued to us; unknown for a stored SVID. */
function agentSvidOf(chain: X509Certificate[], key: KeyObject, receivedAt?: number): AgentSvid {
  const leaf = chain[0]!;
  const uri = /URI:(spiffe:\/\/[^,\s]+)/.exec(leaf.subjectAltName ?? '')?.[1];
  if (!uri) throw new AgentManagerError('ERR_AGENT_SVID_INVALID', 'agent: the agent SVID has no SPIFFE ID');
  return { chain, key, id: SpiffeId.fromString(uri), renewAt: renewalTime(leaf, receivedAt) };
}

/**
 * Half-way through the certificate's life, minus up to 10% jitter (spreads
 * renewals). The life is counted from when we received it if that is later
 * than notBefore: servers backdate notBefore (Herald and SPIRE by 10 s), and
 * with short TTLs half of the backdated span is already over on arrival.
 * A receipt time outside the certificate's validity is a local clock that
 * was off (a jump): it is ignored, and the renewal never comes later than
 * three quarters of the life — counted from a clock that was ahead, it came
 * after expiry, and an agent whose SVID expired could never sync again
 * (found by the chaos soak's clock jumps).
 */
export function renewalTime(cert: X509Certificate, receivedAt?: number): number {
  const notBefore = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  const from = receivedAt !== undefined && receivedAt > notBefore && receivedAt < to ? receivedAt : notBefore;
  const half = Math.max(0, to - from) / 2;
  return Math.min(from + half - Math.random() * half * 0.2, to - (to - notBefore) / 4);
}

function sameCerts(a: readonly X509Certificate[] | undefined, b: readonly X509Certificate[]): boolean {
  if (!a || a.length !== b.length) return false;
  return a.every((c, i) => c.raw.equals(b[i]!.raw));
}
