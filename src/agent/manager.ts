// The agent's manager (SPIRE pkg/agent/manager): the agent's life with the
// server. It bootstraps (stored SVID, or node attestation with SPIRE's
// backoff), then every sync_interval has the rotator (svid/rotator.ts) keep
// the agent's own SVID current and the synchronizer (sync/synchronizer.ts)
// keep the trust bundle, the authorized entries and their SVIDs current in
// the workload cache. A failed sync keeps everything cached and retries
// with backoff, so workloads keep their SVIDs while the server is away; a
// refusal (banned, must re-attest, must re-bootstrap) stops the agent.
// Between syncs, a Herald server's entry watch (entry-watch.ts) tells the
// agent when its entries changed, and it syncs at once.
import type { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock, Timer } from '../common/clock.ts';
import { GrpcCode, errorMessage, grpcStatusFor } from '../common/errors.ts';
import { PermissionDeniedReason, permissionDeniedReasonOf } from '../common/grpc/permission-denied.ts';
import { statusName } from '../common/telemetry/metrics.ts';
import type { AgentMetrics } from './telemetry.ts';
import type { Selector } from '../common/selector.ts';
import { SpiffeBundle } from '../spiffe/bundle/spiffe-bundle.ts';
import type { KeyType } from '../spiffe/keys.ts';
import type { SpiffeId } from '../spiffe/id.ts';
import type { TrustDomain } from '../spiffe/trust-domain.ts';
import type { Subscription } from './cache/types.ts';
import { WorkloadCache } from './cache/workload-cache.ts';
import { describeServerError, grpcCodeOf } from './client/server-client.ts';
import { EntryWatch } from './entry-watch.ts';
import { AgentManagerError } from './manager-error.ts';
import type { AgentStorage } from './storage.ts';
import { JwtSvidCache } from '../spiffe/jwt-svid-cache.ts';
import type { NodeAttestorClient } from './plugins/nodeattestor/types.ts';
import { AgentSvidRotator, isUntrustedServer } from './svid/rotator.ts';
import { Synchronizer } from './sync/synchronizer.ts';

export { AgentManagerError } from './manager-error.ts';
export { isUntrustedServer } from './svid/rotator.ts';

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
  /** CSRs per BatchNewX509SVID call (default: SPIRE's 500). */
  csrBatchSize?: number;
  clock: Clock;
  log: Logger;
  metrics: AgentMetrics;
}

/**
 * Longest wait between sync attempts while the server is unreachable: the sync
 * interval, but at least RETRY_CAP_FLOOR_MS (SPIRE retries within its sync
 * interval). A returning server is seen within this bound plus one connect.
 */
export const RETRY_CAP_FLOOR_MS = 5_000;
export const retryCapMs = (syncIntervalMs: number): number => Math.max(syncIntervalMs, RETRY_CAP_FLOOR_MS);

/** Mean wait before the first retry after a server could not be reached (failover). */
export const FAILOVER_RETRY_MS = 500;

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

/**
 * The syncs the server's entry watch asks for are rate limited (a token
 * bucket): NUDGE_BURST at once — one admin command's writes reach the cache
 * as a few batches, each its own nudge — then one per NUDGE_MIN_GAP_MS (or
 * per sync_interval, if shorter). Under a steady stream of writes that
 * concern it an agent syncs about once a second, not back to back.
 */
export const NUDGE_MIN_GAP_MS = 1_000;
export const NUDGE_BURST = 4;

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

export class AgentManager {
  readonly #o: ManagerOptions;
  readonly cache: WorkloadCache;
  readonly jwt: JwtSvidCache;
  /** The agent's own SVID and the client presenting it (SPIRE pkg/agent/svid). */
  readonly rotator: AgentSvidRotator;
  /** Bundle, entries, federated bundles and workload SVIDs (SPIRE pkg/agent/manager sync.go). */
  readonly synchronizer: Synchronizer;
  #mustReattest = false;
  #timer: Timer | undefined;
  #expiryTimer: Timer | undefined;
  #stopped = false;
  #failures = 0;
  /** The last failed sync could not reach a server (gRPC UNAVAILABLE). */
  #unreachable = false;
  #ready: Promise<void>;
  #markReady!: () => void;
  #syncing: Promise<void> | undefined;
  /** A nudge came while a sync ran: that sync may have read the entries before the change, so one more follows it. */
  #nudgedDuringSync = false;
  /** Nudged syncs allowed now (a token bucket, see NUDGE_BURST), as of #nudgeTokensAt; the timer holding back the next one. */
  #nudgeTokens = NUDGE_BURST;
  #nudgeTokensAt = 0;
  #nudgeTimer: Timer | undefined;
  readonly #watch: EntryWatch;
  #lastSync = 0;
  /** Successful syncs so far (logged at debug, so a reader of the log can count sync cycles). */
  #syncs = 0;
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
    this.cache = new WorkloadCache({ bundle: new SpiffeBundle(o.trustDomain), onListenerError: (err) => o.log.error({ err }, 'Cache subscriber failed') });
    this.rotator = new AgentSvidRotator({ trustDomain: o.trustDomain, serverAddress: o.serverAddress, storage: o.storage, nodeAttestor: o.nodeAttestor, clock: o.clock, log: o.log });
    this.jwt = new JwtSvidCache({ clock: o.clock, mint: (entryId, audience) => this.rotator.client.newJwtSvid(entryId, audience) });
    this.synchronizer = new Synchronizer({
      connection: this.rotator,
      storage: o.storage,
      cache: this.cache,
      jwt: this.jwt,
      workloadKeyType: o.workloadKeyType,
      ...(o.csrBatchSize !== undefined ? { csrBatchSize: o.csrBatchSize } : {}),
      clock: o.clock,
      log: o.log,
      metrics: o.metrics,
    });
    this.#watch = new EntryWatch({ log: o.log, onNudge: () => this.#onNudge(), now: () => o.clock.now(), minReopenMs: o.syncIntervalMs });
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
    return this.rotator.svid?.id;
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
    const rootsSource = storedRoots ? `the stored bundle in ${storage.bundlePath}` : this.#o.bootstrapSource;
    this.rotator.setRoots(storedRoots, rootsSource);
    if (storedRoots) this.cache.setBundle(new SpiffeBundle(this.#o.trustDomain, { x509Authorities: storedRoots }));
    if (stored?.privateKey && Date.parse(stored.chain[0]!.validTo) > this.#o.clock.now()) {
      if (!storedRoots) this.rotator.setRoots(await this.#bootstrapRoots(), rootsSource);
      const svid = this.rotator.useStored(stored.chain, stored.privateKey);
      log.info({ spiffe_id: svid.id.toString(), expires_at: stored.chain[0]!.validTo }, 'Using the stored agent SVID');
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
    this.rotator.rebuildClient();
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
        if (!haveStoredRoots) this.rotator.setRoots(await this.#bootstrapRoots(), this.#o.bootstrapSource);
        await this.rotator.attest(attestor);
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
    this.#expiryTimer?.cancel();
    this.#closeWatch();
    this.rotator.close();
  }

  #closeWatch(): void {
    this.#watch.close();
    this.#nudgeTimer?.cancel();
    this.#nudgeTimer = undefined;
  }

  /** Whether the server's entry watch is open (a Herald server, after a successful sync). */
  get watchingEntries(): boolean {
    return this.#watch.isOpen;
  }

  #onNudge(): void {
    if (this.#stopped) return;
    this.#o.metrics.entryNudges.inc();
    this.#nudgedSync();
  }

  /** Syncs now, or after the sync in flight, or once the rate limit (NUDGE_BURST) allows. */
  #nudgedSync(): void {
    if (this.#syncing !== undefined) {
      this.#nudgedDuringSync = true;
      return;
    }
    if (this.#nudgeTimer !== undefined) return;
    const { clock, syncIntervalMs } = this.#o;
    const gap = Math.min(NUDGE_MIN_GAP_MS, syncIntervalMs);
    const now = clock.now();
    // A wall clock stepped back refills nothing (rather than owing tokens for the step).
    this.#nudgeTokens = Math.min(NUDGE_BURST, this.#nudgeTokens + Math.max(0, now - this.#nudgeTokensAt) / gap);
    this.#nudgeTokensAt = now;
    if (this.#nudgeTokens < 1) {
      this.#nudgeTimer = clock.setTimeout(() => {
        this.#nudgeTimer = undefined;
        if (!this.#stopped) this.#nudgedSync();
      }, (1 - this.#nudgeTokens) * gap);
      return;
    }
    this.#nudgeTokens -= 1;
    this.#o.log.debug({}, 'The server reported changed entries; syncing now');
    this.syncNow().catch((err: unknown) => {
      if (this.#fatal) return;
      this.#o.log.warn({ err: this.#describe(err), failures: this.#failures }, 'Sync with the server failed; serving cached SVIDs');
      // The periodic timer was armed for a healthy server: retry on the failure schedule instead (failover, backoff).
      this.#schedule();
    });
  }

  /** A server error for people (see AgentSvidRotator.describe). */
  #describe(err: unknown): string {
    return this.rotator.describe(err);
  }

  /**
   * At the first cached X509-SVID's expiry: drop what has expired and
   * publish, so no workload is handed an expired SVID (when the server has
   * been out of reach for longer than SVIDs live). Rescheduled after each
   * sync attempt.
   */
  #scheduleExpiry(): void {
    this.#expiryTimer?.cancel();
    this.#expiryTimer = undefined;
    if (this.#stopped) return;
    const first = this.cache.earliestExpiry();
    if (first === undefined) return;
    this.#expiryTimer = this.#o.clock.setTimeout(() => {
      const dropped = this.cache.dropExpired(this.#o.clock.now());
      if (dropped > 0) {
        this.#o.log.warn({ count: dropped }, 'X509-SVIDs expired before they could be renewed; no longer serving them');
        this.cache.publish();
      }
      this.#scheduleExpiry();
    }, first - this.#o.clock.now());
  }

  #schedule(): void {
    this.#scheduleExpiry();
    this.#timer?.cancel();
    if (this.#stopped) return;
    const base = this.#o.syncIntervalMs;
    // Exponential from the interval, capped; ±10 % jitter so a fleet does not retry in step.
    const backoff = Math.min(retryCapMs(base), base * 2 ** Math.min(this.#failures, 6));
    // The first retry after an unreachable server comes soon (jittered): behind a load
    // balancer or several A records another server is most likely up. Then back off.
    const delay =
      this.#failures === 0 ? base : this.#failures === 1 && this.#unreachable ? Math.min(base, FAILOVER_RETRY_MS * (0.5 + Math.random())) : backoff * (0.9 + 0.2 * Math.random());
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
    const started = performance.now();
    if (this.#syncing === undefined && this.#nudgeTimer !== undefined) {
      // A sync that starts after a held-back nudge reads what it announced.
      this.#nudgeTimer.cancel();
      this.#nudgeTimer = undefined;
    }
    this.#syncing ??= this.#sync().then(
      () => {
        this.#o.metrics.sync.done('OK', started);
        if (this.#failures > 0) this.#o.log.info({ failed_attempts: this.#failures }, 'Reconnected to the server; sync succeeded');
        this.#failures = 0;
        // SPIRE's SetSuccessIfRunning: a server that verifies again resets the rebootstrap delay.
        this.#untrustedSince = undefined;
        this.#synced = true;
        this.#syncing = undefined;
        if (!this.#stopped) this.#watch.ensureOpen(this.rotator.client);
        if (this.#nudgedDuringSync) {
          this.#nudgedDuringSync = false;
          if (!this.#stopped) this.#nudgedSync();
        }
      },
      async (err: unknown) => {
        this.#o.metrics.sync.done(statusName(grpcCodeOf(err) ?? grpcStatusFor(err)), started);
        this.#failures++;
        this.#unreachable = grpcCodeOf(err) === GrpcCode.UNAVAILABLE;
        this.#syncing = undefined;
        // The retry schedule takes over (a failed nudged sync re-arms it); its sync reads everything anew.
        this.#nudgedDuringSync = false;
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
        if ((refusal === 'reattest' || code === GrpcCode.PERMISSION_DENIED || code === GrpcCode.UNAUTHENTICATED) && this.rotator.reattestor()) {
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
    log.error({ err: detail, spiffe_id: this.rotator.svid?.id.toString() }, message);
    this.cache.setEntries([]);
    this.cache.publish();
    this.jwt.retain(new Set());
    try {
      await storage.deleteSvid();
    } catch (e) {
      log.error({ err: errorMessage(e) }, 'Failed to remove SVID');
    }
    this.#closeWatch();
    this.rotator.close();
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
    this.#closeWatch();
    this.rotator.close();
    this.#markFatal(fatal);
    throw fatal;
  }

  async #sync(): Promise<void> {
    const { clock, log } = this.#o;
    const reattestor = this.rotator.reattestor();
    if (this.#mustReattest && reattestor) {
      // Refused outright ("agent is banned"), the agent stops (syncNow); a server that is away is retried.
      await this.rotator.attest(reattestor);
      this.rotator.rebuildClient();
      this.#mustReattest = false;
    }
    // The tainted authorities of the last bundle: an agent SVID they signed is renewed now.
    const signedByTainted = (chain: readonly X509Certificate[]) => this.synchronizer.signedByTainted(chain);
    await this.rotator.rotateIfDue(signedByTainted);
    const result = await this.synchronizer.sync();
    // A bundle that newly taints the agent SVID's authority: the SVID is renewed
    // now, with the workload SVIDs this sync replaced, not one sync later. An
    // operator who revokes the authority once workloads moved off it would
    // otherwise leave this agent presenting an SVID nobody trusts.
    if (result.bundleUpdated) {
      await this.rotator.rotateIfDue(signedByTainted).catch((err: unknown) => {
        log.warn({ err: this.#describe(err) }, 'Renewing the agent SVID signed by a tainted authority failed; retrying at the next sync');
      });
    }
    this.#lastSync = clock.now();
    log.debug({ sync: ++this.#syncs, entries: result.entries, svids_fetched: result.fetched, bundle_updated: result.bundleUpdated }, 'Synced with the server');
    this.#markReady();
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
