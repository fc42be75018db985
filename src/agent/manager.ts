// The agent's manager (SPIRE pkg/agent/manager): keeps the agent's own SVID,
// the trust bundle, the authorized entries and their SVIDs current, and
// feeds the workload cache. Syncs every sync_interval; a failed sync keeps
// everything cached and retries with backoff, so workloads keep their SVIDs
// while the server is away.
import { X509Certificate, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock, Timer } from '../common/clock.ts';
import { GrpcCode, HeraldError, errorMessage } from '../common/errors.ts';
import { PermissionDeniedReason, permissionDeniedReasonOf } from '../common/grpc/permission-denied.ts';
import type { Metrics } from '../common/metrics.ts';
import type { Selector } from '../common/selector.ts';
import { SpiffeBundle } from '../spiffe/bundle/spiffe-bundle.ts';
import { certificatesToPem } from '../spiffe/bundle/der.ts';
import { createCsr } from '../spiffe/csr.ts';
import { SpiffeId } from '../spiffe/id.ts';
import { generateKeyPair, type KeyType } from '../spiffe/keys.ts';
import type { TrustDomain } from '../spiffe/trust-domain.ts';
import type { X509Svid } from '../spiffe/x509svid.ts';
import type { WireBundle } from '../common/wire/convert.ts';
import type { CachedEntry, Subscription } from './cache/types.ts';
import { WorkloadCache } from './cache/workload-cache.ts';
import { ServerClient, describeServerError, grpcCodeOf } from './client/server-client.ts';
import { bundleFromWire, entryFromWire } from './convert.ts';
import type { AgentStorage } from './storage.ts';
import { JwtSvidCache } from './jwt-cache.ts';
import { checkIssuedSvid } from './svid-check.ts';
import type { NodeAttestorClient } from './node-attestor/types.ts';

export interface ManagerOptions {
  trustDomain: TrustDomain;
  serverAddress: string;
  storage: AgentStorage;
  /**
   * Roots to trust on first contact, or how to get them (read or downloaded
   * only when data_dir holds no bundle, again before each bootstrap retry, as
   * SPIRE's trust bundle sources are); undefined = insecure bootstrap.
   */
  bootstrapRoots: X509Certificate[] | undefined | (() => Promise<X509Certificate[] | undefined>);
  /** Where bootstrapRoots came from, for errors: "the trust bundle in /etc/x.pem (trust_bundle_path)". */
  bootstrapSource?: string;
  /** How to attest when there is no usable agent SVID; undefined: join_token configured, no token given. */
  nodeAttestor: NodeAttestorClient | undefined;
  syncIntervalMs: number;
  /**
   * SPIRE's retry_bootstrap (default false here; the agent passes its config,
   * default true): a first attestation that fails for any reason but
   * PERMISSION_DENIED is retried with `bootstrapBackoff`; when false, it and a
   * failed initial sync stop the agent at once.
   */
  retryBootstrap?: boolean;
  /** SPIRE's bootstrap backoff (default BOOTSTRAP_BACKOFF; REBOOTSTRAP_BACKOFF when rebootstrapMode is not "never"). */
  bootstrapBackoff?: BackoffPolicy;
  /**
   * SPIRE's rebootstrap_mode (default "never"). Otherwise, once the server's
   * certificate has failed to chain to the agent's roots for
   * `rebootstrapDelayMs` (a successful sync starts the count again), the
   * agent drops its stored SVID and bundle and stops (whenFatal), to
   * bootstrap again when restarted; a first attestation against a stored
   * bundle drops the bundle and retries from the bootstrap source. The
   * agent checks beforehand that it can attest again ("auto" falls back to
   * "never" otherwise).
   */
  rebootstrapMode?: 'never' | 'auto' | 'always';
  /** SPIRE's rebootstrap_delay (default 10 min). */
  rebootstrapDelayMs?: number;
  /** Waits between bootstrap retries (default: a real timer, which keeps the process alive). */
  sleep?: (ms: number) => Promise<void>;
  workloadKeyType: KeyType;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
}

/** Node's TLS errors for a server certificate that does not verify against the roots. */
const UNTRUSTED_SERVER = /self[- ]signed certificate in certificate chain|unable to get local issuer certificate|unable to get issuer certificate|unable to verify the first certificate|certificate signature failure|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT/i;

/** SVIDs per BatchNewX509SVID call (SPIRE: 500). */
const CSR_BATCH = 500;
/**
 * Longest wait between sync attempts while the server is unreachable: the sync
 * interval, but at least RETRY_CAP_FLOOR_MS (SPIRE retries within its sync
 * interval). A returning server is seen within this bound plus one connect.
 */
export const RETRY_CAP_FLOOR_MS = 5_000;
export const retryCapMs = (syncIntervalMs: number): number => Math.max(syncIntervalMs, RETRY_CAP_FLOOR_MS);

/** An exponential backoff as SPIRE's pkg/common/backoff (cenkalti/backoff v4's ExponentialBackOff). */
export interface BackoffPolicy {
  readonly initialMs: number;
  readonly multiplier: number;
  /** ± this fraction of the current interval. */
  readonly jitter: number;
  readonly maxIntervalMs: number;
  /** No retry whose wait would end later than this after the first attempt. */
  readonly maxElapsedMs: number;
}

/** SPIRE 1.13 agent.go: bootstrapBackoffInterval 5 s, bootstrapBackoffMaxElapsedTime 1 min; ×1.5, ±10 %, intervals up to 24× the first. */
export const BOOTSTRAP_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 5_000, multiplier: 1.5, jitter: 0.1, maxIntervalMs: 24 * 5_000, maxElapsedMs: 60_000 });

/** The waits of one backoff run: `next()` is the next wait in ms, or undefined once the run must stop. */
export function backoffRun(policy: BackoffPolicy, now: () => number, random: () => number = Math.random): { next(): number | undefined } {
  const start = now();
  let current = policy.initialMs;
  return {
    next() {
      const elapsed = now() - start;
      const delta = policy.jitter * current;
      const wait = current - delta + random() * (2 * delta);
      current = Math.min(current * policy.multiplier, policy.maxIntervalMs);
      return elapsed + wait > policy.maxElapsedMs ? undefined : wait;
    },
  };
}

/** SPIRE 1.13 agent.go: rebootstrapBackoffMaxElapsedTime, 24 h, replaces the minute when rebootstrap_mode is not "never". */
export const REBOOTSTRAP_BACKOFF: BackoffPolicy = Object.freeze({ ...BOOTSTRAP_BACKOFF, maxElapsedMs: 24 * 3_600_000 });

/** Whether an error is the server's certificate not chaining to the agent's roots (SPIRE's x509util.IsUnknownAuthorityError). */
export function isUntrustedServer(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (UNTRUSTED_SERVER.test(errorMessage(e)) || UNTRUSTED_SERVER.test(describeServerError(e))) return true;
  }
  return false;
}

/** Go's time.Duration.String() ("9m58.5s", "1.25s", "500ms"), as SPIRE logs "time left". */
export function goDuration(ms: number): string {
  if (ms <= 0) return '0s';
  if (ms < 1000) return `${Number(ms.toFixed(3))}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const sec = Number(((ms % 60_000) / 1000).toFixed(6));
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${sec}s`;
}

const realSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Go's time.Duration.String() for a wait, as SPIRE logs retry_interval ("5.473s"). */
function goSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}

/** Node's connect errors → Go's net error text, for SPIRE's "Error while dialing" message. */
const DIAL_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connect: connection refused',
  EHOSTUNREACH: 'connect: no route to host',
  ENETUNREACH: 'connect: network is unreachable',
  ETIMEDOUT: 'i/o timeout',
};

interface AgentSvid {
  chain: X509Certificate[];
  key: KeyObject;
  id: SpiffeId;
  renewAt: number;
}

export class AgentManagerError extends HeraldError {}

export class AgentManager {
  readonly #o: ManagerOptions;
  readonly #serverId: SpiffeId;
  readonly cache: WorkloadCache;
  readonly jwt: JwtSvidCache;
  #svid: AgentSvid | undefined;
  #mustReattest = false;
  /** Tainted authorities of the last bundle: what they signed is replaced at once. */
  #tainted: Tainted = { x509: [], jwtKeyIds: new Set() };
  #roots: X509Certificate[] | undefined;
  /** Where #roots came from (bootstrap file or URL, or the stored bundle), for TLS failures. */
  #rootsSource: string | undefined;
  #client: ServerClient | undefined;
  #renewAt = new Map<string, number>();
  #timer: Timer | undefined;
  #stopped = false;
  #failures = 0;
  #ready: Promise<void>;
  #markReady!: () => void;
  #syncing: Promise<void> | undefined;
  #lastSync = 0;
  /** SPIRE's bootstrap start time: when the server's certificate first failed to chain to our roots (reset by a successful sync). */
  #untrustedSince: number | undefined;
  /** Whether a sync has succeeded (SPIRE: past manager Initialize). */
  #synced = false;
  /** Set once the agent must stop (banned; refused and cannot attest again). */
  #fatal: AgentManagerError | undefined;
  readonly #fatalPromise: Promise<AgentManagerError>;
  #markFatal!: (err: AgentManagerError) => void;

  constructor(o: ManagerOptions) {
    this.#o = o;
    this.#serverId = SpiffeId.fromSegments(o.trustDomain, 'spire', 'server');
    this.cache = new WorkloadCache({ bundle: new SpiffeBundle(o.trustDomain), onListenerError: (err) => o.log.error({ err }, 'Cache subscriber failed') });
    this.jwt = new JwtSvidCache({ clock: o.clock, mint: (entryId, audience) => this.#client!.newJwtSvid(entryId, audience) });
    this.#ready = new Promise((r) => (this.#markReady = r));
    this.#fatalPromise = new Promise((r) => (this.#markFatal = r));
  }

  /**
   * Resolves when the agent must shut down: the server banned it, or refused
   * its SVID and it cannot attest again (join_token). By then the workload
   * cache is empty and the stored agent SVID is removed.
   */
  whenFatal(): Promise<AgentManagerError> {
    return this.#fatalPromise;
  }

  /** The error that stopped the agent, if one did. */
  get fatalError(): AgentManagerError | undefined {
    return this.#fatal;
  }

  get agentId(): SpiffeId | undefined {
    return this.#svid?.id;
  }

  get lastSyncAt(): number {
    return this.#lastSync;
  }

  /** Resolves after the first successful sync. */
  whenReady(): Promise<void> {
    return this.#ready;
  }

  subscribe(selectors: readonly Selector[]): Subscription {
    return this.cache.subscribe(selectors);
  }

  /**
   * Loads the stored SVID or attests, then syncs once. Without a stored
   * SVID or a way to attest (no join token) it fails.
   */
  async start(): Promise<void> {
    const { storage, log } = this.#o;
    const storedRoots = await storage.loadBundle();
    const stored = await storage.loadSvid();
    this.#rootsSource = storedRoots ? `the stored bundle in ${storage.bundlePath}` : this.#o.bootstrapSource;
    if (storedRoots) {
      this.#roots = storedRoots;
      this.cache.setBundle(new SpiffeBundle(this.#o.trustDomain, { x509Authorities: storedRoots }));
    }
    if (stored?.privateKey && Date.parse(stored.chain[0]!.validTo) > this.#o.clock.now()) {
      if (!storedRoots) this.#roots = await this.#bootstrapRoots();
      this.#svid = agentSvidOf(stored.chain, stored.privateKey);
      log.info({ spiffe_id: this.#svid.id.toString(), expires_at: stored.chain[0]!.validTo }, 'Using the stored agent SVID');
    } else {
      // SPIRE's node attestor (loadSVID): with KeyManager memory the stored SVID's key is gone after a restart.
      if (stored && !stored.privateKey) log.warn({}, 'SVID recovered, but no keys found. Generating new keypair');
      else if (stored) log.warn({}, 'The stored agent SVID has expired; attesting again');
      if (!this.#o.nodeAttestor) {
        if (stored && !stored.privateKey) {
          throw new AgentManagerError(
            'ERR_FAILED_PRECONDITION_NO_JOIN_TOKEN',
            'agent: the agent SVID\'s key was kept in memory (KeyManager memory) and is gone after the restart, and there is no join token to attest again: start with -joinToken TOKEN (from `herald-server token generate`)',
          );
        }
        throw new AgentManagerError('ERR_FAILED_PRECONDITION_NO_JOIN_TOKEN', 'agent: no stored agent SVID and no join token: start with -joinToken TOKEN (from `herald-server token generate`)');
      }
      await this.#bootstrap(this.#o.nodeAttestor, storedRoots !== undefined);
    }
    this.#rebuildClient();
    try {
      await this.syncNow();
    } catch (err) {
      // Banned, or refused without a way to attest again: the agent does not start (SPIRE's Initialize).
      if (this.#fatal) throw this.#fatal;
      // retry_bootstrap false: SPIRE's agent exits when its first sync (manager Initialize) fails.
      if (!this.#o.retryBootstrap) {
        throw new AgentManagerError('ERR_INITIAL_SYNC_FAILED', `agent: initial sync with the server failed (retry_bootstrap is false): ${this.#describe(err)}`, { cause: err });
      }
      // A first sync failure with a stored SVID is not fatal: keep retrying.
      log.warn({ err: this.#describe(err) }, 'Initial sync with the server failed; retrying in the background');
    }
    this.#schedule();
  }

  /** The bootstrap roots, read or downloaded now if configured that way. */
  async #bootstrapRoots(): Promise<X509Certificate[] | undefined> {
    const r = this.#o.bootstrapRoots;
    return typeof r === 'function' ? await r() : r;
  }

  /**
   * The first attestation (SPIRE agent.go Run): with retry_bootstrap, any
   * failure but PERMISSION_DENIED (a server that is away, a bundle URL that
   * does not answer, a refused token) is retried with SPIRE's backoff, the
   * bootstrap bundle fetched again each time, until BOOTSTRAP_BACKOFF's
   * minute is up; then, or at once without retry_bootstrap, the last error
   * stops the agent.
   */
  async #bootstrap(attestor: NodeAttestorClient, haveStoredRoots: boolean): Promise<void> {
    const { log, clock } = this.#o;
    const rebootstrap = (this.#o.rebootstrapMode ?? 'never') !== 'never';
    const backoff = backoffRun(this.#o.bootstrapBackoff ?? (rebootstrap ? REBOOTSTRAP_BACKOFF : BOOTSTRAP_BACKOFF), () => clock.now());
    for (;;) {
      try {
        if (!haveStoredRoots) {
          this.#roots = await this.#bootstrapRoots();
          this.#rootsSource = this.#o.bootstrapSource;
        }
        await this.#attest(attestor);
        this.#untrustedSince = undefined;
        return;
      } catch (err) {
        if (!this.#o.retryBootstrap) throw err;
        // SPIRE agent.go: the server does not chain to the roots we attest with.
        if (isUntrustedServer(err)) {
          if (!haveStoredRoots) {
            log.info({}, 'Trust Bandle and Server dont agree.... bootstrapping again');
          } else if (rebootstrap && this.#o.bootstrapSource !== undefined) {
            const elapsed = clock.now() - (this.#untrustedSince ??= clock.now());
            if (elapsed < this.#rebootstrapDelayMs()) {
              log.info({ 'time left': goDuration(this.#rebootstrapDelayMs() - elapsed) }, 'Trust Bandle and Server dont agree.... Ignoring for now.');
            } else {
              log.warn({}, 'Trust Bandle and Server dont agree.... rebootstrapping');
              await this.#o.storage.deleteBundle();
              haveStoredRoots = false;
            }
          }
        }
        const cause = err instanceof AgentManagerError ? err.cause : err;
        if (grpcCodeOf(cause) === GrpcCode.PERMISSION_DENIED) throw err;
        const wait = backoff.next();
        if (wait === undefined) throw err;
        log.warn({ err: errorMessage(err), retry_interval: goSeconds(wait) }, 'Failed to retrieve attestation result');
        await (this.#o.sleep ?? realSleep)(wait);
      }
    }
  }

  #rebootstrapDelayMs(): number {
    return this.#o.rebootstrapDelayMs ?? 10 * 60_000;
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#client?.close();
  }

  async #attest(attestor: NodeAttestorClient): Promise<void> {
    const { log, storage } = this.#o;
    const { privateKey } = generateKeyPair('ec-p256');
    const client = new ServerClient({ address: this.#o.serverAddress, serverId: this.#serverId, trustedRoots: this.#roots });
    try {
      const wire = await client.attest(attestor.type, await attestor.attestationData(), createCsr(privateKey), (c) => attestor.answer(c));
      const chain = wire.cert_chain.map((d) => new X509Certificate(d));
      this.#svid = agentSvidOf(chain, privateKey, this.#o.clock.now());
      await storage.storeSvid({ chain, privateKey });
      log.info({ spiffe_id: this.#svid.id.toString(), node_attestor_type: attestor.type }, 'Node attestation was successful');
    } catch (err) {
      throw new AgentManagerError('ERR_ATTESTATION_FAILED', `agent: failed to attest with ${attestor.type}: ${this.#describeAttestation(err)}`, { cause: err });
    } finally {
      client.close();
    }
  }

  /**
   * An attestation failure: a server that cannot be reached in SPIRE's words
   * ("could not open attestation stream to SPIRE server: rpc error: code =
   * Unavailable desc = connection error: …"), with Herald's name; anything
   * else as #describe.
   */
  #describeAttestation(err: unknown): string {
    const text = this.#describe(err);
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
  #describe(err: unknown): string {
    const text = err instanceof AgentManagerError ? err.message : describeServerError(err);
    if (!UNTRUSTED_SERVER.test(text) || this.#roots === undefined) return text;
    const source = this.#rootsSource ?? 'the configured trust bundle';
    this.#o.log.debug({ err: text }, 'TLS verification of the server failed');
    return `the server's certificate does not chain to ${source}: is it this server's trust bundle (trust domain ${this.#o.trustDomain.name})?`;
  }

  /** Whether `chain` was signed by a tainted X.509 authority (SPIRE's agents rotate such SVIDs at once). */
  #signedByTainted(chain: readonly X509Certificate[]): boolean {
    if (this.#tainted.x509.length === 0) return false;
    return chain.some((c) => this.#tainted.x509.some((t) => c.checkIssued(t) && c.verify(t.publicKey)));
  }

  /** The attestor, if it can attest again by itself (x509pop; not a used-up join token). */
  #reattestor(): NodeAttestorClient | undefined {
    const a = this.#o.nodeAttestor;
    return a?.canReattest ? a : undefined;
  }

  #rebuildClient(): void {
    this.#client?.close();
    const svid = this.#svid!;
    this.#client = new ServerClient({
      address: this.#o.serverAddress,
      serverId: this.#serverId,
      trustedRoots: this.#roots,
      identity: { certChainPem: certificatesToPem(svid.chain), privateKeyPem: svid.key.export({ format: 'pem', type: 'pkcs8' }).toString() },
    });
  }

  #schedule(): void {
    if (this.#stopped) return;
    const base = this.#o.syncIntervalMs;
    // Exponential from the interval, capped; ±10 % jitter so a fleet does not retry in step.
    const backoff = Math.min(retryCapMs(base), base * 2 ** Math.min(this.#failures, 6));
    const delay = this.#failures === 0 ? base : backoff * (0.9 + 0.2 * Math.random());
    this.#timer = this.#o.clock.setTimeout(() => {
      this.syncNow()
        .catch((err) => {
          if (!this.#fatal) this.#o.log.warn({ err: this.#describe(err), failures: this.#failures }, 'Sync with the server failed; serving cached SVIDs');
        })
        .finally(() => this.#schedule());
    }, delay);
  }

  /** One sync; concurrent callers share it. */
  syncNow(): Promise<void> {
    this.#syncing ??= this.#sync().then(
      () => {
        if (this.#failures > 0) this.#o.log.info({ failed_attempts: this.#failures }, 'Reconnected to the server; sync succeeded');
        this.#failures = 0;
        // SPIRE's SetSuccessIfRunning: a server that verifies again resets the rebootstrap delay.
        this.#untrustedSince = undefined;
        this.#synced = true;
        this.#syncing = undefined;
      },
      async (err: unknown) => {
        this.#failures++;
        this.#syncing = undefined;
        if (this.#fatal) throw this.#fatal;
        if ((this.#o.rebootstrapMode ?? 'never') !== 'never' && isUntrustedServer(err)) await this.#maybeRebootstrap(err);
        // Attesting again (after an eviction, or to renew) and refused outright: judged by the server's status.
        const attestRefusal = err instanceof AgentManagerError && err.code === 'ERR_ATTESTATION_FAILED' && grpcCodeOf(err.cause) === GrpcCode.PERMISSION_DENIED ? err.cause : undefined;
        const refusal = refusalOf(attestRefusal ?? err);
        // Banned: SPIRE's agent removes its SVID and shuts down.
        if (refusal === 'banned') throw await this.#shutDown('Agent is banned: removing SVID and shutting down', attestRefusal ?? err);
        if (attestRefusal !== undefined) throw await this.#shutDown('Agent failed re-attestation; removing SVID and shutting down', attestRefusal);
        // Evicted, or the SVID is no longer accepted: a reattestable agent attests again, as SPIRE's does.
        const code = grpcCodeOf(err);
        if ((refusal === 'reattest' || code === GrpcCode.PERMISSION_DENIED || code === GrpcCode.UNAUTHENTICATED) && this.#reattestor()) {
          if (!this.#mustReattest) this.#o.log.warn({ err: describeServerError(err) }, 'The server refused the agent SVID; attesting again on the next sync');
          this.#mustReattest = true;
        } else if (refusal === 'reattest') {
          // A join_token agent cannot attest again (its token is used up): it stops, as SPIRE's does.
          throw await this.#shutDown('Agent failed re-attestation; removing SVID and shutting down', err, 'attestation method is not re-attestable');
        }
        throw err;
      },
    );
    return this.#syncing;
  }

  /**
   * Stops serving at once (workloads lose their SVIDs now, not when they
   * expire), removes the stored agent SVID and reports the agent as failed.
   * Returns the error to throw.
   */
  async #shutDown(message: string, err: unknown, why?: string): Promise<AgentManagerError> {
    if (this.#fatal) return this.#fatal;
    const { log, storage } = this.#o;
    const detail = why ? `${why}: ${describeServerError(err)}` : describeServerError(err);
    const fatal = new AgentManagerError(refusalOf(err) === 'banned' ? 'ERR_AGENT_BANNED' : 'ERR_AGENT_MUST_REATTEST', `agent: ${message}: ${detail}`, { cause: err });
    this.#fatal = fatal;
    this.#stopped = true;
    this.#timer?.cancel();
    log.error({ err: detail, spiffe_id: this.#svid?.id.toString() }, message);
    this.cache.setEntries([]);
    this.cache.publish();
    this.jwt.retain(new Set());
    try {
      await storage.deleteSvid();
    } catch (e) {
      log.error({ err: errorMessage(e) }, 'Failed to remove SVID');
    }
    this.#client?.close();
    this.#markFatal(fatal);
    return fatal;
  }

  /**
   * SPIRE's manager (Initialize in agent.go, runSynchronizer): the server's
   * certificate does not chain to our roots. Within rebootstrap_delay of the
   * first such failure, keep retrying; after it, remove the stored SVID and
   * bundle (SetForceRebootstrap) and stop, so that the restarted agent
   * bootstraps from trust_bundle_path/trust_bundle_url and attests again.
   */
  async #maybeRebootstrap(err: unknown): Promise<void> {
    const { clock, log, storage } = this.#o;
    const elapsed = clock.now() - (this.#untrustedSince ??= clock.now());
    const delay = this.#rebootstrapDelayMs();
    if (elapsed < delay) {
      log.info({ 'time left': goDuration(delay - elapsed), err: describeServerError(err) }, 'Trust Bandle and Server dont agree.... Ignoring for now.');
      return;
    }
    log.info({}, 'Trust Bandle and Server dont agree.... rebootstrapping');
    // SPIRE's words: agent.go when the first sync fails this way, manager.go's synchronizer after that.
    const message = this.#synced ? 'shutting down for rebootstrapping' : 'Agent needs to rebootstrap. shutting down';
    const fatal = new AgentManagerError('ERR_AGENT_MUST_REBOOTSTRAP', `agent: ${message}`, { cause: err });
    this.#fatal = fatal;
    this.#stopped = true;
    this.#timer?.cancel();
    try {
      await storage.deleteSvid();
      await storage.deleteBundle();
    } catch (e) {
      log.error({ err: errorMessage(e) }, 'Failed to remove the stored SVID and bundle');
    }
    this.#client?.close();
    this.#markFatal(fatal);
    throw fatal;
  }

  async #sync(): Promise<void> {
    const { clock, log, metrics } = this.#o;
    const started = performance.now();
    const reattestor = this.#reattestor();
    if (this.#mustReattest && reattestor) {
      // Refused outright ("agent is banned"), the agent stops (syncNow); a server that is away is retried.
      await this.#attest(reattestor);
      this.#rebuildClient();
      this.#mustReattest = false;
    }
    await this.#renewAgentSvidIfDue();

    const wireBundle = await this.#client!.getBundle();
    const bundle = bundleFromWire(wireBundle);
    this.#tainted = taintedOf(wireBundle);
    if (bundle.x509Authorities.length === 0) throw new AgentManagerError('ERR_UNAVAILABLE_EMPTY_BUNDLE', 'agent: the server sent an empty bundle; keeping the current one');
    if (!this.cache.bundle().equal(bundle) || this.cache.bundle().sequenceNumber !== bundle.sequenceNumber) {
      this.cache.setBundle(bundle);
      const rootsChanged = !sameCerts(this.#roots, bundle.x509Authorities);
      this.#roots = [...bundle.x509Authorities];
      await this.#o.storage.storeBundle(this.#roots);
      this.#rootsSource = `the stored bundle in ${this.#o.storage.bundlePath}`;
      if (rootsChanged) this.#rebuildClient();
      log.debug({ sequence: String(bundle.sequenceNumber) }, 'Bundle updated');
    }

    const previous = new Map(this.cache.entries().map((e) => [e.id, e]));
    const entries = (await this.#client!.authorizedEntries()).map((w) => {
      const prev = previous.get(w.id);
      // Same revision → same object, so the cache sees "no change".
      return prev && prev.revisionNumber === Number(w.revision_number) && prev.createdAt === Number(w.created_at) ? prev : entryFromWire(w);
    });
    this.cache.setEntries(entries);

    await this.#syncFederatedBundles(entries);
    await this.#renewSvids(entries, previous);
    // High-resolution wall time, so benchmarks can time the fan-out from here.
    const publishedAt = performance.timeOrigin + performance.now();
    const changed = this.cache.publish();
    if (changed > 0) log.debug({ groups: changed, published_at_ms: publishedAt }, 'Published a cache update to subscribers');
    this.jwt.retain(new Set(entries.map((e) => e.id)));
    const dropped = this.jwt.dropSignedBy(this.#tainted.jwtKeyIds);
    if (dropped > 0) log.info({ count: dropped }, 'Dropped cached JWT-SVIDs signed by a tainted key');
    this.#lastSync = clock.now();
    metrics.observe('agent_sync_ms', performance.now() - started);
    this.#markReady();
  }

  async #syncFederatedBundles(entries: readonly CachedEntry[]): Promise<void> {
    const wanted = new Set<string>();
    for (const e of entries) for (const td of e.federatesWith) wanted.add(td.name);
    for (const td of this.cache.federatedBundles().keys()) if (!wanted.has(td)) this.cache.setFederatedBundle(td, undefined);
    for (const td of wanted) {
      try {
        const b = bundleFromWire(await this.#client!.getFederatedBundle(td));
        const current = this.cache.federatedBundles().get(td);
        if (!current || !current.equal(b) || current.sequenceNumber !== b.sequenceNumber) this.cache.setFederatedBundle(td, b);
      } catch (err) {
        // Keep the last good bundle: a transient failure must not drop a trust domain.
        if (grpcCodeOf(err) === GrpcCode.NOT_FOUND && !this.cache.federatedBundles().has(td)) continue;
        this.#o.log.warn({ trust_domain: td, err: describeServerError(err) }, 'Failed to fetch a federated bundle; keeping the last one');
      }
    }
  }

  async #renewSvids(entries: readonly CachedEntry[], previous: ReadonlyMap<string, CachedEntry>): Promise<void> {
    const now = this.#o.clock.now();
    const due: { entry: CachedEntry; key: KeyObject; csr: Buffer }[] = [];
    let taintedCount = 0;
    for (const e of entries) {
      const has = this.cache.svid(e.id);
      const changed = previous.get(e.id) !== e;
      const tainted = has !== undefined && this.#signedByTainted(has.certificates);
      if (has && !changed && (this.#renewAt.get(e.id) ?? 0) > now && !tainted) continue;
      if (tainted) taintedCount++;
      const { privateKey } = generateKeyPair(this.#o.workloadKeyType);
      due.push({ entry: e, key: privateKey, csr: createCsr(privateKey) });
    }
    if (taintedCount > 0) this.#o.log.info({ count: taintedCount }, 'Rotating X509-SVIDs signed by a tainted authority');
    for (const id of this.#renewAt.keys()) if (!entries.some((e) => e.id === id)) this.#renewAt.delete(id);
    for (let i = 0; i < due.length; i += CSR_BATCH) {
      const batch = due.slice(i, i + CSR_BATCH);
      const results = await this.#client!.batchNewX509Svid(batch.map((d) => ({ entryId: d.entry.id, csr: d.csr })));
      results.forEach((r, j) => {
        const d = batch[j]!;
        if (r.status.code !== 0 || !r.svid) {
          this.#o.log.warn({ entry_id: d.entry.id, spiffe_id: d.entry.spiffeId.toString(), err: r.status.message }, 'Failed to get an X509-SVID for an entry');
          return;
        }
        let certificates: X509Certificate[];
        try {
          certificates = r.svid.cert_chain.map((c) => new X509Certificate(c));
          checkIssuedSvid(certificates, { id: d.entry.spiffeId, privateKey: d.key, bundles: this.cache.bundle(), now: this.#o.clock.now() });
        } catch (err) {
          // Keep serving the SVID we have; the next sync asks again.
          this.#o.log.error({ entry_id: d.entry.id, spiffe_id: d.entry.spiffeId.toString(), err: errorMessage(err) }, 'Rejected an X509-SVID from the server');
          this.#o.metrics.inc('agent_svids_rejected');
          return;
        }
        const svid: X509Svid = { id: d.entry.spiffeId, certificates, privateKey: d.key, ...(d.entry.hint ? { hint: d.entry.hint } : {}) };
        this.cache.setSvid(d.entry.id, svid);
        this.#renewAt.set(d.entry.id, renewalTime(certificates[0]!, now));
      });
      this.#o.metrics.inc('agent_svids_fetched', results.filter((r) => r.status.code === 0).length);
    }
  }

  async #renewAgentSvidIfDue(): Promise<void> {
    const svid = this.#svid!;
    const tainted = this.#signedByTainted(svid.chain);
    if (this.#o.clock.now() < svid.renewAt && !tainted) return;
    if (tainted) this.#o.log.info({}, 'The agent SVID was signed by a tainted authority; renewing it now');
    // Like SPIRE: an agent that can attest again renews that way (fresh proof of the node), others call RenewAgent.
    const reattestor = this.#reattestor();
    if (reattestor) {
      await this.#attest(reattestor);
      this.#rebuildClient();
      return;
    }
    const { privateKey } = generateKeyPair('ec-p256');
    const wire = await this.#client!.renewAgent(createCsr(privateKey));
    const chain = wire.cert_chain.map((d) => new X509Certificate(d));
    await this.#o.storage.storeSvid({ chain, privateKey });
    this.#svid = agentSvidOf(chain, privateKey, this.#o.clock.now());
    this.#rebuildClient();
    this.#o.log.info({ spiffe_id: this.#svid.id.toString(), expires_at: chain[0]!.validTo }, 'Renewed the agent SVID');
  }
}

/**
 * What a refusal of the agent SVID asks for, from SPIRE's
 * PermissionDeniedDetails (nodeutil.ShouldAgentShutdown / ShouldAgentReattest).
 * A server that sends no details is believed when it says "is banned".
 */
export function refusalOf(err: unknown): 'banned' | 'reattest' | undefined {
  if (grpcCodeOf(err) !== GrpcCode.PERMISSION_DENIED) return undefined;
  const reason = permissionDeniedReasonOf(err);
  switch (reason) {
    case PermissionDeniedReason.AGENT_BANNED:
      return 'banned';
    case PermissionDeniedReason.AGENT_EXPIRED:
    case PermissionDeniedReason.AGENT_NOT_ACTIVE:
    case PermissionDeniedReason.AGENT_NOT_ATTESTED:
    case PermissionDeniedReason.AGENT_MUST_REATTEST:
      return 'reattest';
    case undefined:
      return /\bis banned\b/.test(describeServerError(err)) ? 'banned' : undefined;
    default:
      return undefined;
  }
}

interface Tainted {
  readonly x509: readonly X509Certificate[];
  readonly jwtKeyIds: ReadonlySet<string>;
}

function taintedOf(w: WireBundle): Tainted {
  return {
    x509: w.x509_authorities.filter((a) => a.tainted).map((a) => new X509Certificate(a.asn1)),
    jwtKeyIds: new Set(w.jwt_authorities.filter((a) => a.tainted).map((a) => a.key_id)),
  };
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
 */
export function renewalTime(cert: X509Certificate, receivedAt?: number): number {
  const from = Math.max(Date.parse(cert.validFrom), receivedAt ?? -Infinity);
  const to = Date.parse(cert.validTo);
  const half = Math.max(0, to - from) / 2;
  return from + half - Math.random() * half * 0.2;
}

function sameCerts(a: readonly X509Certificate[] | undefined, b: readonly X509Certificate[]): boolean {
  if (!a || a.length !== b.length) return false;
  return a.every((c, i) => c.raw.equals(b[i]!.raw));
}

