// herald-server, assembled: the plugin catalog (datastore, key manager, node
// attestors, upstream authority), CA manager, entry cache, the agent API over
// TLS and the admin API on a Unix socket (SPIRE pkg/server).
import * as grpc from '@grpc/grpc-js';
import { mkdir, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { systemClock, type Clock, type Timer } from '../common/clock.ts';
import { lockDataDir } from '../common/data-dir-lock.ts';
import { HeraldError, errorMessage } from '../common/errors.ts';
import { serviceDefinition, Services } from '../common/grpc/protos.ts';
import { startUdsServer, type UdsServer } from '../common/grpc/uds-server.ts';
import { subsystemLogger } from '../common/log.ts';
import { startHealthListener } from '../common/health-listener.ts';
import { startPrometheusListener } from '../common/telemetry/prometheus-listener.ts';
import { SpiffeId } from '../spiffe/id.ts';
import { agentService } from './api/agent-service.ts';
import { bundleService } from './api/bundle-service.ts';
import { localCallerResolver, TlsCallerResolver, type CallerResolver } from './api/caller.ts';
import type { ApiContext } from './api/context.ts';
import { entryService } from './api/entry-service.ts';
import { healthService } from './api/health-service.ts';
import { entryCacheDebugService } from './api/debug-service.ts';
import { entryWatchService } from './api/entry-watch-service.ts';
import { svidService } from './api/svid-service.ts';
import { trustDomainService } from './api/trustdomain-service.ts';
import { localAuthorityService } from './api/localauthority-service.ts';
import { RateLimits } from './api/rate-limit.ts';
import { startBundleEndpoint } from './federation/bundle-endpoint.ts';
import { BundleRefresher } from './federation/refresher.ts';
import { DataStoreAuthorityPublisher } from './ca/bundle-publisher.ts';
import { SvidIssuer } from './ca/issuer.ts';
import { SigningPool } from './ca/signing-pool.ts';
import { CaManager, type X509CaMinter } from './ca/manager.ts';
import { SelfSignedCaMinter } from './ca/self-signed-minter.ts';
import { loadCatalog, serverPluginStateFiles } from './catalog/catalog.ts';
import type { ServerRuntimeConfig } from './config-runtime.ts';
// Not through datastore/index.ts: that re-exports the PostgreSQL datastore,
// whose pg driver open.ts loads only for a postgres config.
import type { DataStore } from './datastore/datastore.ts';
import { StorageHealth } from './datastore/storage-health.ts';
import { withSyncReadCache } from './datastore/sync-reads.ts';
import { EntryCache } from './entry-cache/entry-cache.ts';
import { EntryWatchers } from './entry-cache/entry-watchers.ts';
import { startNotifiers } from './notifiers.ts';
import { OwnBundle } from './own-bundle.ts';
import { CredentialBuilder } from './credtemplate/builder.ts';
import { ServerSvid } from './svid/rotator.ts';
import { ServerMetrics } from './telemetry.ts';

export const JOURNAL_FILE = 'journal.json';
const DEFAULT_REFRESH_HINT_S = 300;
const PRUNE_INTERVAL_MS = 60_000;

export interface HeraldServer {
  readonly config: ServerRuntimeConfig;
  readonly ds: DataStore;
  readonly ca: CaManager;
  readonly ownBundle: OwnBundle;
  readonly metrics: ServerMetrics;
  /** The agent API's bound port (useful when the config asked for port 0). */
  readonly boundPort: number;
  /** The bundle endpoint's port, when one is served. */
  readonly bundleEndpointPort: number | undefined;
  readonly serverId: SpiffeId;
  /** Adds services on both listeners' contexts later (federation). */
  readonly api: ApiContext;
  stop(): Promise<void>;
}

export interface StartServerOptions {
  log: Logger;
  clock?: Clock;
  /** Extra gRPC services on the admin socket and the TLS listener (trustdomain/v1). */
  /** Extra roots for https_web bundle endpoints (tests, private PKI). */
  webRootsPem?: string;
  /** `run -allowEmptyDatastore`: start even when the datastore is missing or empty beside an existing journal or key file. */
  allowEmptyDatastore?: boolean;
  extraServices?: (ctx: ApiContext, resolver: CallerResolver) => { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation }[];
}

export async function startServer(config: ServerRuntimeConfig, opts: StartServerOptions): Promise<HeraldServer> {
  const clock = opts.clock ?? systemClock;
  const log = opts.log;
  const td = config.trustDomain;
  const cleanup: (() => Promise<void> | void)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const fn of cleanup.reverse()) {
      try {
        await fn();
      } catch (err) {
        log.warn({ err }, 'Error while stopping');
      }
    }
  };

  try {
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    // First, and released last: a second server on this data_dir would
    // replace the CA keys in keys.json under this one (see data-dir-lock.ts).
    const lock = await lockDataDir(config.dataDir, 'herald-server');
    cleanup.push(() => lock.release());
    // A missing or empty datastore beside an existing CA journal or key file
    // is data loss, not a first start (see priorServerState).
    const prior = await priorServerState(config);
    if (prior !== undefined && opts.allowEmptyDatastore) log.warn({ reason: prior }, '-allowEmptyDatastore: a missing or empty datastore will be created although the server has run on this data_dir before');
    // Storage failures are logged with their cause and make the server not ready until it writes again.
    const storage = new StorageHealth({ log: subsystemLogger(log, 'datastore'), clock });
    const subject = { country: [...config.caSubject.country], organization: [...config.caSubject.organization], ...(config.caSubject.commonName ? { commonName: config.caSubject.commonName } : {}) };
    // Every plugin the config declares (src/server/catalog); closing it closes the datastore.
    const catalog = await loadCatalog(config.plugins, {
      trustDomain: td,
      dataDir: config.dataDir,
      clock,
      log,
      caSubject: subject,
      storageEvents: storage,
      existingDataExpected: opts.allowEmptyDatastore ? undefined : prior,
    });
    cleanup.push(() => catalog.close());
    // Agent syncs read the caller's record, selectors and bundle from memory, kept fresh by change notices, and keep working while the database is away (docs/ha.md).
    const syncReads = withSyncReadCache(catalog.dataStore);
    cleanup.push(() => syncReads.close());
    const ds = syncReads.ds;
    await storage.start(() => ds.checkWritable());
    cleanup.push(() => storage.stop());

    const keyManager = catalog.keyManager;
    const minter: X509CaMinter = catalog.upstreamAuthority ?? new SelfSignedCaMinter(td, subject);
    const refreshHintS = Math.round((config.federation.bundleEndpoint?.refreshHintMs ?? DEFAULT_REFRESH_HINT_S * 1000) / 1000);
    const publisher = new DataStoreAuthorityPublisher(ds, td, refreshHintS);
    // The catalog's composers, in order (uniqueid first unless disabled): every CA, server, agent and workload credential goes through them.
    const credentialBuilder = new CredentialBuilder({ trustDomain: td, caSubject: subject, composers: catalog.composers });
    const ca = new CaManager({
      trustDomain: td,
      caKeyType: config.caKeyType,
      jwtKeyType: config.jwtKeyType,
      caTtlMs: config.caTtlMs,
      journalPath: join(config.dataDir, JOURNAL_FILE),
      keyManager,
      minter,
      publisher,
      credentials: credentialBuilder,
      clock,
      log: subsystemLogger(log, 'ca_manager'),
      // SPIRE checks every 10 s; short CA lifetimes (tests, demos) need a finer check.
      rotateIntervalMs: Math.max(200, Math.min(10_000, config.caTtlMs / 20)),
    });
    await ca.initialize();
    // The CA came back from the journal but the datastore has no bundle for
    // it (started with -allowEmptyDatastore): publish it again, or agents and
    // peers would be handed an empty bundle.
    if (!(await ds.getBundle(td))) {
      log.warn({ trust_domain: td.name }, 'The datastore has no bundle for the CA from the journal; publishing its authorities again');
      await ca.republish();
    }
    ca.start();
    cleanup.push(() => ca.stop());

    const ownBundle = await OwnBundle.load(ds, td);
    cleanup.push(() => ownBundle.close());
    cleanup.push(await startNotifiers(catalog.notifiers, ownBundle, td.name, subsystemLogger(log, 'notifier')));

    // Before the entry cache, whose consistency check counts the drift it repairs here.
    const metrics = new ServerMetrics(config.telemetry.metricPrefix);
    const entries = await EntryCache.load({
      source: ds,
      clock,
      onRefreshError: (err) => log.warn({ err }, 'Entry cache refresh failed'),
      onDrift: (d) => {
        metrics.entryCacheDriftRepaired.inc(d.stale.length + d.missing.length + d.outdated.length);
        log.warn({ stale: d.stale.length, missing: d.missing.length, outdated: d.outdated.length }, 'Entry cache differed from the datastore; repaired');
      },
    });
    entries.start();
    cleanup.push(() => entries.stop());

    metrics.attach({ trustDomain: td, ca, ds, entries, clock });
    // One signing worker per core beyond the gRPC thread's (at least one).
    const pool = new SigningPool(Math.max(1, Math.min(4, availableParallelism())));
    cleanup.push(() => pool.close());
    const issuer = new SvidIssuer(
      ca,
      clock,
      { defaultX509SvidTtlMs: config.defaultX509SvidTtlMs, defaultJwtSvidTtlMs: config.defaultJwtSvidTtlMs, jwtIssuer: config.jwtIssuer, credentials: credentialBuilder },
      pool,
    );
    const attestors = catalog.nodeAttestors;

    const refresher = new BundleRefresher({ ds, log: subsystemLogger(log, 'bundle_client'), clock, metrics, ...(opts.webRootsPem ? { webRootsPem: opts.webRootsPem } : {}) });
    const api: ApiContext = {
      trustDomain: td,
      ds,
      ca,
      issuer,
      entries,
      attestors,
      clock,
      log: subsystemLogger(log, 'api'),
      metrics,
      auditLog: config.auditLogEnabled,
      agentSvidTtlMs: config.agentTtlMs,
      refreshBundle: async (t) => void (await refresher.refresh(t)),
      rateLimits: new RateLimits({ ...config.rateLimit, clock }),
    };

    const services = (resolver: CallerResolver) => [
      { definition: serviceDefinition(Services.agent), implementation: agentService(api, resolver) },
      { definition: serviceDefinition(Services.svid), implementation: svidService(api, resolver) },
      { definition: serviceDefinition(Services.entry), implementation: entryService(api, resolver) },
      { definition: serviceDefinition(Services.bundle), implementation: bundleService(api, resolver) },
      { definition: serviceDefinition(Services.health), implementation: healthService(() => storage.ready()) },
      { definition: serviceDefinition(Services.trustDomain), implementation: trustDomainService(api, resolver) },
      { definition: serviceDefinition(Services.localAuthority), implementation: localAuthorityService(api, resolver) },
      ...(opts.extraServices?.(api, resolver) ?? []),
    ];

    // Agent API: TLS with the server's own X509-SVID, signed by the previous
    // CA while it is valid and untainted: every agent trusts that one, but an
    // agent that has not synced since a CA was activated (at once, with
    // `localauthority x509 activate` right after prepare) does not know the new
    // one, and could never sync to learn it (found by the chaos soak).
    const serverId = SpiffeId.fromSegments(td, 'spire', 'server');
    const serverSvid = new ServerSvid(serverId, issuer, ca, ownBundle, clock, subsystemLogger(log, 'server_svid'), { preferEstablishedCa: true });
    const credentials = await serverSvid.start();
    cleanup.push(() => serverSvid.stop());
    // Keepalive pings find agents whose host vanished without closing TCP, so
    // their entry watches do not linger for hours (grpc-js's default).
    const grpcServer = new grpc.Server({
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
      'grpc.enable_channelz': 0,
      'grpc.keepalive_time_ms': 60_000,
      'grpc.keepalive_timeout_ms': 20_000,
    });
    const tlsResolver = new TlsCallerResolver({ trustDomain: td, bundles: () => ownBundle.source(), ds, entries, now: () => clock.now(), intermediates: () => ca.intermediateCas() });
    // Entry watches (agents told of their entries' changes at once) exist only where agents connect.
    const watchers = new EntryWatchers(entries);
    const watchService = entryWatchService(api, tlsResolver, watchers);
    for (const s of [...services(tlsResolver), watchService]) grpcServer.addService(s.definition, s.implementation);
    const boundPort = await new Promise<number>((resolve, reject) => {
      grpcServer.bindAsync(`${config.bindAddress}:${config.bindPort}`, credentials, (err, port) => (err ? reject(err) : resolve(port)));
    }).catch((err: unknown) => {
      throw new HeraldError('ERR_UNAVAILABLE_LISTEN', `cannot listen on ${config.bindAddress}:${config.bindPort}: ${errorMessage(err)}`, { cause: err });
    });
    cleanup.push(() => new Promise<void>((resolve) => {
      const t = setTimeout(() => { grpcServer.forceShutdown(); resolve(); }, 2000);
      grpcServer.tryShutdown(() => { clearTimeout(t); resolve(); });
    }));
    // Before the shutdown above (cleanup runs in reverse): open watches would hold it for its whole grace period.
    cleanup.push(() => watchers.close());
    log.info({ address: `${config.bindAddress}:${boundPort}`, network: 'tcp' }, 'Starting Server APIs');

    // Admin API: whoever can open the socket is an administrator. Its
    // directory must be ours (see checkSocketDirectory), created 0750 as SPIRE's.
    const admin: UdsServer = await startUdsServer({
      socketPath: config.socketPath,
      mode: 0o600,
      privateDirectory: true,
      services: [...services(localCallerResolver), entryCacheDebugService(entries)],
      logger: subsystemLogger(log, 'admin_api'),
    });
    cleanup.push(() => admin.close(1000));
    log.info({ address: config.socketPath, network: 'unix' }, 'Starting Server APIs');

    // Federation: serve our bundle, keep the relationships from the config
    // file in the datastore, and refresh every federated bundle.
    let bundleEndpointPort: number | undefined;
    if (config.federation.bundleEndpoint) {
      const endpointSvid = new ServerSvid(serverId, issuer, ca, ownBundle, clock, subsystemLogger(log, 'bundle_endpoint_svid'), { preferEstablishedCa: true });
      await endpointSvid.start();
      cleanup.push(() => endpointSvid.stop());
      const endpoint = await startBundleEndpoint(config.federation.bundleEndpoint, { ownBundle, serverSvid: endpointSvid, log: subsystemLogger(log, 'bundle_endpoint') });
      bundleEndpointPort = endpoint.port;
      cleanup.push(() => endpoint.close());
    }
    await syncConfiguredRelationships(ds, config, log);
    await refresher.start();
    cleanup.push(() => refresher.stop());
    if (config.controllerManager) {
      const { startControllerManager } = await import('./k8s/start.ts');
      cleanup.push(startControllerManager(config.controllerManager, { ds, trustDomain: td, log: subsystemLogger(log, 'controller_manager') }));
    }

    if (config.console) {
      const { startConsole } = await import('./console/console.ts');
      const c = await startConsole(config.console, { trustDomain: td, ds, journalPath: join(config.dataDir, JOURNAL_FILE), federation: refresher, clock, dataDir: config.dataDir, log: subsystemLogger(log, 'console') });
      cleanup.push(() => c.close());
    }

    const pruneTimer = every(clock, PRUNE_INTERVAL_MS, async () => {
      const now = clock.now();
      await publisher.pruneExpired(now);
      await ds.pruneJoinTokens(Math.floor(now / 1000));
    }, log);
    cleanup.push(() => pruneTimer.cancel());

    if (config.healthChecks.listenerEnabled) {
      const http = await startHealthListener(config.healthChecks, () => storage.ready());
      cleanup.push(() => new Promise<void>((r) => http.close(() => r())));
    }

    if (config.telemetry.prometheus) {
      const prom = await startPrometheusListener(config.telemetry.prometheus, metrics, subsystemLogger(log, 'telemetry'));
      cleanup.push(() => prom.close());
    }

    log.info({ trust_domain: td.name, data_dir: config.dataDir }, 'Server started');
    let stopped = false;
    return {
      config,
      ds,
      ca,
      ownBundle,
      metrics,
      boundPort,
      bundleEndpointPort,
      serverId,
      api,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        await stopAll();
        log.info({}, 'Server stopped');
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * Why the datastore must already hold data, or undefined on a first start:
 * the CA journal or a plugin's state file (the disk KeyManager's key file)
 * exist and are not empty. Both are
 * written on the first start right after the datastore is created.
 */
async function priorServerState(config: ServerRuntimeConfig): Promise<string | undefined> {
  const nonEmpty = async (path: string): Promise<boolean> => {
    try {
      return (await stat(path)).size > 0;
    } catch {
      return false;
    }
  };
  const journal = join(config.dataDir, JOURNAL_FILE);
  if (await nonEmpty(journal)) return `the CA journal ${journal} exists`;
  for (const f of serverPluginStateFiles(config.plugins)) {
    if (await nonEmpty(f.path)) return `the ${f.what} ${f.path} exists`;
  }
  return undefined;
}

/**
 * Relationships from the config file (federation.federates_with) are kept
 * in the datastore like those made through the API, so the refresher and
 * `federation list` see one set. The file wins on every start.
 */
async function syncConfiguredRelationships(ds: DataStore, config: ServerRuntimeConfig, log: Logger): Promise<void> {
  for (const r of config.federation.federatesWith) {
    const input = { trustDomain: r.trustDomain, bundleEndpointUrl: r.bundleEndpointUrl, profile: r.profile };
    if (await ds.getFederationRelationship(r.trustDomain)) await ds.updateFederationRelationship(input, { bundleEndpointUrl: true, profile: true });
    else await ds.createFederationRelationship(input);
    log.info({ trust_domain: r.trustDomain.name, bundle_endpoint_url: r.bundleEndpointUrl, profile: r.profile.type }, 'Federation relationship from the config file');
  }
}

/** Runs `fn` every `ms`, logging failures; the next run starts after the previous one ends. */
function every(clock: Clock, ms: number, fn: () => Promise<void>, log: Logger): Timer {
  let timer: Timer | undefined;
  let cancelled = false;
  const tick = (): void => {
    timer = clock.setTimeout(() => {
      fn().catch((err) => log.warn({ err }, 'Periodic task failed')).finally(() => {
        if (!cancelled) tick();
      });
    }, ms);
  };
  tick();
  return { cancel: () => { cancelled = true; timer?.cancel(); } } as Timer;
}
