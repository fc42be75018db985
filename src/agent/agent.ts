// herald-agent, assembled: the plugin catalog (key manager, node attestor,
// workload attestors), storage, trust bootstrap, the manager (server sync,
// SVID cache) and the Workload API + SDS socket (SPIRE pkg/agent).
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { X509Certificate } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../common/clock.ts';
import { lockDataDir, type DataDirLock } from '../common/data-dir-lock.ts';
import { HeraldError, errorMessage } from '../common/errors.ts';
import { encodeAny, serviceDefinition, serviceDefinitionAcceptingBytes, Services } from '../common/grpc/protos.ts';
import { startUdsServer, type UdsServer } from '../common/grpc/uds-server.ts';
import { checkSocketDirectory } from '../common/grpc/uds-socket-file.ts';
import { subsystemLogger } from '../common/log.ts';
import { startHealthListener } from '../common/health-listener.ts';
import { AgentMetrics } from './telemetry.ts';
import { startPrometheusListener } from '../common/telemetry/prometheus-listener.ts';
import { parseCertificatesPem } from '../spiffe/bundle/der.ts';
import { SpiffeBundle } from '../spiffe/bundle/spiffe-bundle.ts';
import { healthService } from '../server/api/health-service.ts';
import { SdsHandler } from './endpoints/sds/handler.ts';
import { createAuthzService, type AuthzService } from './endpoints/authz/service.ts';
import { agentAuthzSource } from './endpoints/authz/agent-source.ts';
import type { SanMatcher } from './endpoints/sds/secrets.ts';
import { SdsStreamRegistry } from './endpoints/sds/stream-state.ts';
import type { AgentRuntimeConfig, AuthorizedPeersConfig, TrustBootstrap } from './config-runtime.ts';
import { startAdminApi } from './admin-api.ts';
import { loadCatalog, type AgentCatalog } from './catalog/catalog.ts';
import { CallerAttestation } from './endpoints/attestation.ts';
import { workloadApi } from './endpoints/workload/workload-api.ts';
import { AgentManager } from './manager.ts';
import { AgentStorage } from './storage.ts';

export interface HeraldAgent {
  readonly config: AgentRuntimeConfig;
  readonly manager: AgentManager;
  readonly metrics: AgentMetrics;
  readonly sdsStreams: SdsStreamRegistry;
  readonly socket: UdsServer;
  /** Resolves if the agent must stop by itself (banned, or refused and not re-attestable). */
  readonly failed: Promise<Error>;
  stop(): Promise<void>;
}

export interface StartAgentOptions {
  log: Logger;
  clock?: Clock;
  /** Extra services on the Workload API socket. */
  extraServices?: (agent: { manager: AgentManager; attestation: CallerAttestation; metrics: AgentMetrics }) => { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation }[];
}

export class AgentBootstrapError extends HeraldError {}

async function bootstrapRoots(tb: TrustBootstrap, config: AgentRuntimeConfig): Promise<X509Certificate[] | undefined> {
  const parse = (text: string, format: 'pem' | 'spiffe', where: string): X509Certificate[] => {
    try {
      const roots = format === 'pem' ? parseCertificatesPem(text) : [...SpiffeBundle.parse(config.trustDomain, text).x509Authorities];
      if (roots.length === 0) throw new Error('no certificates found');
      return roots;
    } catch (err) {
      throw new AgentBootstrapError('ERR_CONFIG_TRUST_BUNDLE', `agent: trust bundle from ${where} is not a valid ${format} bundle: ${errorMessage(err)}`, { cause: err });
    }
  };
  switch (tb.method) {
    case 'insecure_bootstrap':
    case 'stored_bundle':
      return undefined;
    case 'trust_bundle_path': {
      let text: string;
      try {
        text = await readFile(tb.path, 'utf8');
      } catch (err) {
        throw new AgentBootstrapError('ERR_CONFIG_TRUST_BUNDLE', `agent: cannot read trust_bundle_path ${tb.path}: ${errorMessage(err)}`, { cause: err });
      }
      return parse(text, tb.format, tb.path);
    }
    case 'trust_bundle_url': {
      // Loaded here only: undici costs every other agent ~5 MB of RSS.
      const { request } = await import('undici');
      const res = await request(tb.url, { headersTimeout: 10_000, bodyTimeout: 10_000 });
      if (res.statusCode !== 200) throw new AgentBootstrapError('ERR_CONFIG_TRUST_BUNDLE', `agent: trust_bundle_url ${tb.url} answered HTTP ${res.statusCode}`);
      return parse(await res.body.text(), tb.format, tb.url);
    }
  }
}

/** Where the bootstrap roots come from, for the agent's TLS errors. */
function bootstrapSourceOf(tb: TrustBootstrap): string | undefined {
  if (tb.method === 'trust_bundle_path') return `the trust bundle in ${tb.path} (trust_bundle_path)`;
  if (tb.method === 'trust_bundle_url') return `the trust bundle from ${tb.url} (trust_bundle_url)`;
  return undefined;
}

function sanMatchers(p: AuthorizedPeersConfig): SanMatcher[] {
  return [
    ...p.ids.map((id) => ({ exact: id.toString() })),
    ...p.trustDomains.map((td) => ({ prefix: `spiffe://${td.name}/` })),
    ...p.pathPrefixes.map((prefix) => ({ prefix })),
  ];
}

export async function startAgent(config: AgentRuntimeConfig, opts: StartAgentOptions): Promise<HeraldAgent> {
  // One agent per data_dir: two would overwrite each other's SVID and key.
  const lock = await lockDataDir(config.dataDir, 'herald-agent');
  let catalog: AgentCatalog | undefined;
  try {
    // Every plugin the config declares (src/agent/catalog); -joinToken means join_token, as in SPIRE. x509pop's files are checked now.
    catalog = await loadCatalog(config.plugins, { trustDomain: config.trustDomain, dataDir: config.dataDir, joinToken: config.joinToken, clock: opts.clock ?? systemClock, log: opts.log });
    return await startLockedAgent(config, opts, lock, catalog);
  } catch (err) {
    await catalog?.close().catch(() => undefined);
    await lock.release();
    throw err;
  }
}

async function startLockedAgent(config: AgentRuntimeConfig, opts: StartAgentOptions, lock: DataDirLock, catalog: AgentCatalog): Promise<HeraldAgent> {
  const clock = opts.clock ?? systemClock;
  const log = opts.log;
  const metrics = new AgentMetrics(config.telemetry.metricPrefix);
  // The KeyManager decides whether the agent SVID's key is written to data_dir.
  const km = catalog.keyManager;
  const storage = await AgentStorage.open(config.dataDir, { keysInMemory: !km.durable, ...(km.directory !== undefined ? { keyDir: km.directory } : {}) });
  // Checked before anything starts, so a refusal leaves nothing running.
  if (config.adminSocketPath) {
    await mkdir(dirname(config.adminSocketPath), { recursive: true, mode: 0o700 });
    checkSocketDirectory(dirname(config.adminSocketPath), 'agent admin socket', log);
  }
  if (config.trustBootstrap.method === 'insecure_bootstrap') log.warn({}, 'Insecure bootstrap enabled; the server is not authenticated on first contact');

  const nodeAttestor = catalog.nodeAttestor;
  // SPIRE agent.go: re-bootstrapping means attesting again, which a join token cannot do.
  // SPIRE checks the stored SVID's flag, or attests first (spending the token); Herald checks the attestor it would use, before attesting.
  let rebootstrapMode = config.rebootstrapMode;
  if (rebootstrapMode !== 'never' && !nodeAttestor?.canReattest) {
    const why = 'you have requested rebootstrap support but the NodeAttestor plugin or the spire server configuration is not allowing it';
    if (rebootstrapMode === 'always') throw new AgentBootstrapError('ERR_REBOOTSTRAP_NOT_SUPPORTED', why);
    log.warn({}, `${why}. Disabling`);
    rebootstrapMode = 'never';
  }

  const manager = new AgentManager({
    trustDomain: config.trustDomain,
    serverAddress: `${config.serverAddress}:${config.serverPort}`,
    storage,
    // Read or downloaded only when data_dir holds no bundle, and again before each bootstrap retry (SPIRE's trust bundle sources).
    bootstrapRoots: () => bootstrapRoots(config.trustBootstrap, config),
    bootstrapSource: bootstrapSourceOf(config.trustBootstrap),
    nodeAttestor,
    syncIntervalMs: config.syncIntervalMs,
    retryBootstrap: config.retryBootstrap,
    rebootstrapMode,
    rebootstrapDelayMs: config.rebootstrapDelayMs,
    workloadKeyType: config.workloadX509SvidKeyType,
    clock,
    log: subsystemLogger(log, 'manager'),
    metrics,
  });
  await manager.start();

  const attestation = new CallerAttestation(catalog.workloadAttestors, metrics);
  const sdsStreams = new SdsStreamRegistry();
  metrics.attach({ cache: manager.cache, lastSyncAt: () => manager.lastSyncAt, sdsStreams, clock });
  const sds = new SdsHandler({
    attestor: attestation,
    manager,
    naming: {
      defaultSvidName: config.sds.defaultSvidName,
      defaultBundleName: config.sds.defaultBundleName,
      defaultAllBundlesName: config.sds.defaultAllBundlesName,
      disableSpiffeCertValidation: config.sds.disableSpiffeCertValidation,
      validatorByResource: config.sds.validatorByResource,
      rootCaIncludesFederated: config.sds.rootCaIncludesFederated,
      authorizedPeersByResource: Object.fromEntries(Object.entries(config.sds.authorizedPeersByResource).map(([k, v]) => [k, sanMatchers(v)])),
      fileResources: config.sds.fileResources,
    },
    encodeAny,
    log: subsystemLogger(log, 'sds'),
    metrics,
    registry: sdsStreams,
    clock,
  });

  let ready = false;
  void manager.whenReady().then(() => (ready = true));
  const socket = await startUdsServer({
    socketPath: config.socketPath,
    mode: 0o777,
    services: [
      { definition: serviceDefinitionAcceptingBytes(Services.workload), implementation: workloadApi({ manager, attestation, clock, log: subsystemLogger(log, 'workload_api'), metrics }) },
      { definition: serviceDefinitionAcceptingBytes(Services.sds), implementation: sds.implementation() },
      { definition: serviceDefinition(Services.health), implementation: healthService(() => ready) },
      ...(opts.extraServices?.({ manager, attestation, metrics }) ?? []),
    ],
    logger: subsystemLogger(log, 'endpoints'),
    limits: config.endpointLimits.connections,
    grpcOptions: config.endpointLimits.grpcOptions,
  });
  log.info({ agent_id: manager.agentId?.toString(), socket_path: config.socketPath }, 'Starting Workload and SDS APIs');

  // ext_authz on its own socket: Envoy's authz cluster points there.
  let authz: { service: AuthzService; socket: UdsServer } | undefined;
  if (config.authz.enabled) {
    const service = createAuthzService({ config: config.authz, source: agentAuthzSource(manager, attestation), log: subsystemLogger(log, 'authz'), metrics });
    const authzSocket = await startUdsServer({
      socketPath: config.authz.socketPath,
      mode: 0o777,
      services: [{ definition: service.definition, implementation: service.implementation }],
      logger: subsystemLogger(log, 'authz'),
      limits: config.endpointLimits.connections,
      grpcOptions: config.endpointLimits.grpcOptions,
    });
    authz = { service, socket: authzSocket };
    log.info({ socket_path: config.authz.socketPath, policy_file: config.authz.policyFile ?? null }, 'Starting ext_authz API');
  }

  const health = config.healthChecks.listenerEnabled ? await startHealthListener(config.healthChecks, () => ready) : undefined;
  const adminApi = config.adminSocketPath ? await startAdminApi(config.adminSocketPath, { registry: sdsStreams, manager, metrics, log: subsystemLogger(log, 'admin_api') }) : undefined;
  if (config.adminSocketPath) log.info({ socket_path: config.adminSocketPath }, 'Starting admin API (sds status, metrics)');
  const prom = config.telemetry.prometheus ? await startPrometheusListener(config.telemetry.prometheus, metrics, subsystemLogger(log, 'telemetry')) : undefined;

  // Banned, or refused and unable to attest again: unhealthy at once, no
  // more SVIDs on the sockets (the manager has emptied the cache); the
  // caller then stops the agent and exits.
  const failed = manager.whenFatal().then(async (err) => {
    ready = false;
    await socket.forceClose();
    if (authz) await authz.socket.forceClose();
    return err;
  });

  let stopped = false;
  return {
    config,
    manager,
    metrics,
    sdsStreams,
    socket,
    failed,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await socket.close(1000);
      await adminApi?.close();
      await prom?.close();
      await new Promise<void>((r) => (health ? health.close(() => r()) : r()));
      if (authz) {
        await authz.socket.close(1000);
        authz.service.close();
      }
      manager.stop();
      await catalog.close();
      await lock.release();
      log.info({}, 'Agent stopped');
    },
  };
}

