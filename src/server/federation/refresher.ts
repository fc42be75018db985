// Keeps federated bundles current (SPIRE pkg/server/bundle/client +
// manager): polls each relationship's bundle endpoint at the bundle's
// refresh hint, verifies what comes back and stores it when it changed.
// Whatever goes wrong — unreachable, slow, oversized, not chaining, wrong
// domain, empty — the previous bundle stays and the reason is logged.
import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock, Timer } from '../../common/clock.ts';
import type { ErrorCodeSuffix } from '../../common/error-registry.ts';
import { HeraldError, errorMessage } from '../../common/errors.ts';
import { uriSans } from '../../common/grpc/tls-credentials.ts';
import { certificatesToPem } from '../../spiffe/bundle/der.ts';
import { SpiffeBundle } from '../../spiffe/bundle/spiffe-bundle.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import { spiffeBundleToStored, storedToSpiffeBundle } from '../bundle-convert.ts';
import type { DataStore, FederationRelationship } from '../datastore/index.ts';
import type { ServerMetrics } from '../telemetry.ts';

export const REFRESH_FLOOR_MS = 1_000;
export const REFRESH_CEILING_MS = 3_600_000;
export const DEFAULT_REFRESH_MS = 300_000;
export const MAX_BUNDLE_BYTES = 1 << 20;
export const FETCH_TIMEOUT_MS = 10_000;

export class FederationError extends HeraldError {}

function fail(code: ErrorCodeSuffix<'ERR_FEDERATION_'>, message: string, cause?: unknown): never {
  throw new FederationError(`ERR_FEDERATION_${code}`, message, { cause });
}

export type RefreshOutcome = { status: 'updated'; sequence: bigint } | { status: 'unchanged' };

/** One scheduled refresh, as the status console shows it. */
export interface RefreshAttempt { readonly at: number; readonly status: RefreshOutcome['status'] | 'failed'; readonly error?: string }

/** Recent scheduled refreshes of one relationship (oldest first) and when the next one runs. */
export interface RefreshHistory { readonly trustDomain: string; readonly attempts: readonly RefreshAttempt[]; readonly nextAt: number | undefined }

const HISTORY_LENGTH = 20;

export interface RefresherOptions {
  ds: DataStore;
  log: Logger;
  clock: Clock;
  /** Extra CA roots for https_web endpoints (tests, private PKI); the system store otherwise. */
  webRootsPem?: string;
  fetchTimeoutMs?: number;
  metrics?: ServerMetrics;
}

export class BundleRefresher {
  readonly #o: RefresherOptions;
  readonly #timers = new Map<string, Timer>();
  readonly #history = new Map<string, { attempts: RefreshAttempt[]; nextAt: number | undefined }>();
  #unsubscribe: (() => void) | undefined;
  #stopped = false;

  constructor(o: RefresherOptions) {
    this.#o = o;
  }

  async start(): Promise<void> {
    await this.#reconcile();
    this.#unsubscribe = this.#o.ds.onChange((n) => {
      if (n.kind === 'federation_relationships') void this.#reconcile().catch((err) => this.#o.log.warn({ err: errorMessage(err) }, 'Failed to reload federation relationships'));
    });
  }

  stop(): void {
    this.#stopped = true;
    this.#unsubscribe?.();
    for (const t of this.#timers.values()) t.cancel();
    this.#timers.clear();
  }

  /** Schedules every relationship that is not scheduled yet; drops removed ones. */
  async #reconcile(): Promise<void> {
    const rels = (await this.#o.ds.listFederationRelationships()).items;
    const names = new Set(rels.map((r) => r.trustDomain.name));
    for (const [td, t] of this.#timers) {
      if (!names.has(td)) {
        t.cancel();
        this.#timers.delete(td);
        this.#history.delete(td);
      }
    }
    for (const r of rels) if (!this.#timers.has(r.trustDomain.name)) this.#schedule(r.trustDomain, 0);
  }

  #schedule(td: TrustDomain, delayMs: number): void {
    if (this.#stopped) return;
    this.#timers.get(td.name)?.cancel();
    this.#historyOf(td).nextAt = this.#o.clock.now() + delayMs;
    this.#timers.set(
      td.name,
      this.#o.clock.setTimeout(() => {
        const started = performance.now();
        this.refresh(td)
          .then(async (r) => {
            this.#o.metrics?.federatedFetch(td.name, started, { updated: r.status === 'updated' });
            this.#record(td, { at: this.#o.clock.now(), status: r.status });
            this.#schedule(td, await this.#nextDelay(td, false));
          })
          .catch(async (err) => {
            this.#o.metrics?.federatedFetch(td.name, started, { err });
            this.#record(td, { at: this.#o.clock.now(), status: 'failed', error: errorMessage(err) });
            this.#o.log.warn({ trust_domain: td.name, err: errorMessage(err) }, 'Federated bundle refresh failed; keeping the current bundle');
            this.#schedule(td, await this.#nextDelay(td, true));
          });
      }, delayMs),
    );
  }

  /** The recent refreshes of every relationship, for the status console. */
  history(): RefreshHistory[] {
    return [...this.#history].map(([trustDomain, h]) => ({ trustDomain, attempts: [...h.attempts], nextAt: h.nextAt }));
  }

  #historyOf(td: TrustDomain): { attempts: RefreshAttempt[]; nextAt: number | undefined } {
    let h = this.#history.get(td.name);
    if (!h) this.#history.set(td.name, (h = { attempts: [], nextAt: undefined }));
    return h;
  }

  #record(td: TrustDomain, attempt: RefreshAttempt): void {
    const h = this.#historyOf(td);
    h.attempts.push(attempt);
    if (h.attempts.length > HISTORY_LENGTH) h.attempts.shift();
    h.nextAt = undefined;
  }

  /** The bundle's refresh hint, within [floor, ceiling], ±10 % jitter; shorter after a failure. */
  async #nextDelay(td: TrustDomain, failed: boolean): Promise<number> {
    const b = await this.#o.ds.getBundle(td).catch(() => undefined);
    const hint = b && b.refreshHint > 0 ? b.refreshHint * 1000 : DEFAULT_REFRESH_MS;
    const base = Math.min(REFRESH_CEILING_MS, Math.max(REFRESH_FLOOR_MS, failed ? Math.min(hint, 30_000) : hint));
    return base * (0.9 + Math.random() * 0.2);
  }

  /** Fetches, verifies and stores one trust domain's bundle now. */
  async refresh(td: TrustDomain): Promise<RefreshOutcome> {
    const rel = await this.#o.ds.getFederationRelationship(td);
    if (!rel) fail('NOT_FOUND', `no federation relationship with "${td.name}"`);
    const current = await this.#o.ds.getBundle(td);
    const fetched = await this.fetch(rel, current ? storedToSpiffeBundle(current) : undefined);
    const next = spiffeBundleToStored(fetched);
    // A peer's bundle without spiffe_sequence is stored under the datastore's own number: then only the contents count.
    if (current && storedToSpiffeBundle(current).equal(fetched, { sequenceNumber: fetched.sequenceNumber !== undefined })) return { status: 'unchanged' };
    const stored = await this.#o.ds.setBundle(next);
    this.#o.log.info({ trust_domain: td.name, sequence: String(stored.sequenceNumber), x509_authorities: next.x509Authorities.length, jwt_authorities: next.jwtAuthorities.length }, 'Federated bundle updated');
    return { status: 'updated', sequence: stored.sequenceNumber };
  }

  /** GET the endpoint and verify the answer; throws FederationError naming the problem. */
  async fetch(rel: FederationRelationship, current: SpiffeBundle | undefined): Promise<SpiffeBundle> {
    const td = rel.trustDomain;
    const timeout = this.#o.fetchTimeoutMs ?? FETCH_TIMEOUT_MS;
    // TLS options for undici's connector (tls.connect options).
    let connect: Record<string, unknown>;
    if (rel.profile.type === 'https_spiffe') {
      // The endpoint's SVID must chain to what we trust for that domain *now*.
      if (!current || current.x509Authorities.length === 0) {
        fail('NO_TRUST', `no bundle for "${td.name}" to authenticate its https_spiffe endpoint: set one first (herald-server bundle set -id spiffe://${td.name} -path FILE)`);
      }
      const want = rel.profile.endpointSpiffeId.toString();
      connect = {
        ca: certificatesToPem(current.x509Authorities),
        rejectUnauthorized: true,
        checkServerIdentity: (_host: string, cert: { subjectaltname?: string }) => {
          const uris = uriSans(cert.subjectaltname);
          return uris.length === 1 && uris[0] === want ? undefined : new Error(`endpoint presented ${uris.join(',') || 'no URI SAN'}, expected ${want}`);
        },
      };
    } else {
      connect = this.#o.webRootsPem ? { ca: this.#o.webRootsPem } : {};
    }
    // undici (~30 ms of module loading) only once a bundle is fetched, not at every server start.
    const { Agent, request } = await import('undici');
    const agent = new Agent({ connect, connectTimeout: timeout, headersTimeout: timeout, bodyTimeout: timeout, maxResponseSize: MAX_BUNDLE_BYTES });
    let text: string;
    try {
      const res = await request(rel.bundleEndpointUrl, { dispatcher: agent, method: 'GET', signal: AbortSignal.timeout(timeout) });
      if (res.statusCode !== 200) {
        await res.body.dump();
        fail('HTTP', `bundle endpoint ${rel.bundleEndpointUrl} answered HTTP ${res.statusCode}`);
      }
      text = await res.body.text();
    } catch (err) {
      if (err instanceof FederationError) throw err;
      fail('FETCH', `cannot fetch the bundle of "${td.name}" from ${rel.bundleEndpointUrl}: ${errorMessage(err)}${(err as { cause?: unknown }).cause ? ` (${errorMessage((err as { cause: unknown }).cause)})` : ''}`, err);
    } finally {
      void agent.close();
    }
    let bundle: SpiffeBundle;
    try {
      bundle = SpiffeBundle.parse(td, text);
    } catch (err) {
      fail('INVALID_BUNDLE', `bundle from ${rel.bundleEndpointUrl} is not a valid SPIFFE bundle: ${errorMessage(err)}`, err);
    }
    for (const w of bundle.parseWarnings) this.#o.log.warn({ trust_domain: td.name, warning: w }, 'Ignored a key in a federated bundle');
    if (bundle.x509Authorities.length === 0) fail('EMPTY_BUNDLE', `bundle from ${rel.bundleEndpointUrl} has no X.509 authorities; keeping the current one`);
    // A CA names its trust domain in its URI SAN: catch a bundle of another domain.
    for (const ca of bundle.x509Authorities) {
      const uris = uriSans(new X509Certificate(ca.raw).subjectAltName);
      const other = uris.find((u) => u !== td.idString());
      if (other) fail('WRONG_DOMAIN', `bundle from ${rel.bundleEndpointUrl} is for another trust domain: a CA certificate names ${other}, expected ${td.idString()}`);
    }
    return bundle;
  }
}
