// The validated agent config file → the frozen, typed runtime config the
// agent is built from: TrustDomain/SpiffeId values, durations in ms, paths
// made absolute against the working directory, the trust bootstrap method as
// a tagged union, the declared plugins (each plugin's configure() makes its
// runtime config, src/agent/catalog), warnings for the caller to log.
// Nothing else in the agent reads raw config.
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { DeclaredPlugin } from '../common/catalog/catalog.ts';
import { ConfigError } from '../common/config/index.ts';
import type { ConfigProblem } from '../common/config/index.ts';
import type { LogFormat, LogLevel } from '../common/log.ts';
import { SpiffeId } from '../spiffe/id.ts';
import { TrustDomain } from '../spiffe/trust-domain.ts';
import { agentDeclaredPlugins } from './catalog/catalog.ts';
import type { AgentFileConfig } from './config.ts';
import { toTelemetryConfig, type TelemetryConfig } from '../common/telemetry/config.ts';
import { toEndpointLimits, type EndpointLimits } from './endpoints/limits.ts';

export type WorkloadKeyTypeName = 'ec-p256' | 'ec-p384' | 'rsa-2048';

/** How the agent trusts the server on its first connection. */
export type TrustBootstrap =
  | { readonly method: 'trust_bundle_path'; readonly path: string; readonly format: 'pem' | 'spiffe' }
  | { readonly method: 'trust_bundle_url'; readonly url: string; readonly format: 'pem' | 'spiffe' }
  | { readonly method: 'insecure_bootstrap' }
  /** None configured: data_dir already holds a bundle from an earlier run. */
  | { readonly method: 'stored_bundle' };

export interface AuthorizedPeersConfig {
  readonly ids: readonly SpiffeId[];
  readonly trustDomains: readonly TrustDomain[];
  /** Path prefixes within the agent's trust domain, as written (leading `/`). */
  readonly pathPrefixes: readonly string[];
}

/** Field names match SdsNamingConfig (src/agent/endpoints/sds/resource-names.ts) where they overlap. */
export interface AgentSdsConfig {
  readonly defaultSvidName: string;
  readonly defaultBundleName: string;
  readonly defaultAllBundlesName: string;
  readonly disableSpiffeCertValidation: boolean;
  readonly rootCaIncludesFederated: boolean;
  readonly validatorByResource: Readonly<Record<string, 'spiffe' | 'trusted_ca'>>;
  readonly authorizedPeersByResource: Readonly<Record<string, AuthorizedPeersConfig>>;
  readonly fileResources: { readonly enabled: boolean; readonly allowedDir: string | undefined };
}

/** Envoy ext_authz (src/agent/endpoints/authz). */
export interface AgentAuthzConfig {
  readonly enabled: boolean;
  /** Absolute; default `authz.sock` beside the Workload API socket. */
  readonly socketPath: string;
  readonly header: string;
  readonly audiences: readonly string[];
  readonly policyFile: string | undefined;
  readonly injectAudience: string | undefined;
  readonly stripToken: boolean;
  readonly spiffeIdHeader: string;
  readonly trustDomainHeader: string;
}

export interface HealthChecksConfig {
  readonly listenerEnabled: boolean;
  readonly bindAddress: string;
  readonly bindPort: number;
  readonly livePath: string;
  readonly readyPath: string;
}

export interface AgentRuntimeConfig {
  /** Absolute path of the file loaded, undefined when the text was supplied directly. */
  readonly configPath: string | undefined;
  readonly trustDomain: TrustDomain;
  readonly serverAddress: string;
  readonly serverPort: number;
  /** Workload API + SDS Unix socket, absolute. */
  readonly socketPath: string;
  /** Admin API socket, absolute; undefined: not served. */
  readonly adminSocketPath: string | undefined;
  /** Absolute. */
  readonly dataDir: string;
  readonly log: { readonly level: LogLevel; readonly format: LogFormat; readonly file: string | undefined; readonly sourceLocation: boolean };
  readonly trustBootstrap: TrustBootstrap;
  /** Secret: never log it. From join_token / -joinToken, or read from join_token_file / -joinTokenFile. */
  readonly joinToken: string | undefined;
  /** SPIRE's retry_bootstrap (default true): retry the first attestation with backoff instead of exiting. */
  readonly retryBootstrap: boolean;
  /** SPIRE's rebootstrap_mode (default "never"). */
  readonly rebootstrapMode: 'never' | 'auto' | 'always';
  /** SPIRE's rebootstrap_delay (default 10 min). */
  readonly rebootstrapDelayMs: number;
  readonly syncIntervalMs: number;
  readonly workloadX509SvidKeyType: WorkloadKeyTypeName;
  readonly sds: AgentSdsConfig;
  readonly authz: AgentAuthzConfig;
  /** Bounds on the callers of the agent's sockets (agent.endpoint_limits). */
  readonly endpointLimits: EndpointLimits;
  /**
   * The enabled plugins, by type in catalog order (KeyManager, NodeAttestor,
   * WorkloadAttestor, SVIDStore) and in file order within a type; each with
   * the runtime config its definition's configure() made.
   */
  readonly plugins: readonly DeclaredPlugin[];
  readonly healthChecks: HealthChecksConfig;
  readonly telemetry: TelemetryConfig;
  /** Accepted-but-questionable settings, for the caller to log at WARN. */
  readonly warnings: readonly string[];
}

export interface RuntimeContext {
  /** Absolute working directory; relative paths resolve against it. */
  readonly cwd: string;
  /** Recorded as AgentRuntimeConfig.configPath. */
  readonly configPath?: string | undefined;
  /** Names the source in problems found here. */
  readonly filename?: string;
  /** The token read from agent.join_token_file (the loader reads it: this conversion does no I/O). */
  readonly joinTokenFromFile?: string | undefined;
}

/** Linux sun_path holds 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;
export const DEFAULT_SYNC_INTERVAL_MS = 5_000;
/** SPIRE run.go: rebootstrap_delay "10m" when unset. */
export const DEFAULT_REBOOTSTRAP_DELAY_MS = 10 * 60_000;

export function toAgentRuntimeConfig(file: AgentFileConfig, ctx: RuntimeContext): AgentRuntimeConfig {
  if (!isAbsolute(ctx.cwd)) throw new TypeError('toAgentRuntimeConfig: cwd must be an absolute path');
  const where = ctx.filename ?? '<config>';
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  const abs = (p: string): string => resolve(ctx.cwd, p);
  const a = file.agent;

  const socket = (key: string, p: string): string => {
    const bytes = Buffer.byteLength(p);
    if (bytes > MAX_SOCKET_PATH_BYTES) problems.push({ file: where, path: key, message: `socket path ${p} is too long (${bytes} bytes; at most ${MAX_SOCKET_PATH_BYTES})` });
    return p;
  };
  const socketPath = socket('agent.socket_path', abs(a.socket_path));
  const adminSocketPath = a.admin_socket_path === undefined ? undefined : socket('agent.admin_socket_path', abs(a.admin_socket_path));
  if (adminSocketPath !== undefined && isWithin(dirname(socketPath), dirname(adminSocketPath))) {
    problems.push({
      file: where,
      path: 'agent.admin_socket_path',
      message: 'admin socket cannot be in the same directory or a subdirectory as that containing the Workload API socket',
    });
  }
  const authzSocket = socket('agent.authz.socket_path', a.authz.socket_path === undefined ? join(dirname(socketPath), 'authz.sock') : abs(a.authz.socket_path));
  if (authzSocket === socketPath || authzSocket === adminSocketPath) {
    problems.push({ file: where, path: 'agent.authz.socket_path', message: 'must differ from socket_path and admin_socket_path' });
  }
  const dataDir = abs(a.data_dir);

  const trustBootstrap: TrustBootstrap = a.insecure_bootstrap
    ? { method: 'insecure_bootstrap' }
    : a.trust_bundle_path !== undefined
      ? { method: 'trust_bundle_path', path: abs(a.trust_bundle_path), format: a.trust_bundle_format }
      : a.trust_bundle_url !== undefined
        ? { method: 'trust_bundle_url', url: a.trust_bundle_url, format: a.trust_bundle_format }
        : { method: 'stored_bundle' };

  for (const key of ['x509_svid_cache_max_size', 'jwt_svid_cache_max_size'] as const) {
    if (a[key] !== undefined) warnings.push(`${key} is accepted for SPIRE compatibility and ignored: Herald does not bound its SVID cache`);
  }
  // SPIRE 1.13's own warning, word for word.
  if (a.retry_bootstrap !== undefined) warnings.push("The 'retry_bootstrap' configuration is deprecated. It will be removed in SPIRE 1.14. Please test without the flag before upgrading.");
  if (a.join_token_file !== undefined && ctx.joinTokenFromFile === undefined) {
    problems.push({ file: where, path: 'agent.join_token_file', message: 'the join token file was not read (load the config with loadAgentConfig)' });
  }
  if (a.sds.default_bundle_name === a.sds.default_all_bundles_name) {
    warnings.push('The "default_bundle_name" and "default_all_bundles_name" configurables have the same value. "default_all_bundles_name" will be ignored. Please configure distinct values or use the defaults.');
  }

  const peers: Record<string, AuthorizedPeersConfig> = {};
  for (const [name, p] of Object.entries(a.sds.authorized_peers)) {
    peers[name] = {
      ids: p.ids.map((id) => SpiffeId.fromString(id)),
      trustDomains: p.trust_domains.map((td) => TrustDomain.fromString(td)),
      pathPrefixes: [...p.path_prefixes],
    };
  }

  const plugins = agentDeclaredPlugins(file.plugins, { abs, dataDir });

  if (problems.length > 0) throw new ConfigError(problems);
  const hc = file.health_checks;
  const runtime: AgentRuntimeConfig = {
    configPath: ctx.configPath,
    trustDomain: TrustDomain.fromString(a.trust_domain),
    serverAddress: a.server_address,
    serverPort: a.server_port,
    socketPath,
    adminSocketPath,
    dataDir,
    log: { level: a.log_level, format: a.log_format, file: a.log_file === undefined ? undefined : abs(a.log_file), sourceLocation: a.log_source_location },
    trustBootstrap,
    joinToken: ctx.joinTokenFromFile ?? a.join_token,
    retryBootstrap: a.retry_bootstrap ?? true,
    rebootstrapMode: a.rebootstrap_mode,
    rebootstrapDelayMs: a.rebootstrap_delay ?? DEFAULT_REBOOTSTRAP_DELAY_MS,
    syncIntervalMs: a.sync_interval ?? a.experimental.sync_interval ?? DEFAULT_SYNC_INTERVAL_MS,
    workloadX509SvidKeyType: a.workload_x509_svid_key_type,
    endpointLimits: toEndpointLimits(a.endpoint_limits),
    sds: {
      defaultSvidName: a.sds.default_svid_name,
      defaultBundleName: a.sds.default_bundle_name,
      defaultAllBundlesName: a.sds.default_all_bundles_name,
      disableSpiffeCertValidation: a.sds.disable_spiffe_cert_validation,
      rootCaIncludesFederated: a.sds.root_ca_includes_federated,
      validatorByResource: { ...a.sds.validators },
      authorizedPeersByResource: peers,
      fileResources: {
        enabled: a.sds.file_resources.enabled,
        allowedDir: a.sds.file_resources.allowed_dir === undefined ? undefined : abs(a.sds.file_resources.allowed_dir),
      },
    },
    authz: {
      enabled: a.authz.enabled,
      socketPath: authzSocket,
      header: a.authz.header.toLowerCase(),
      audiences: [...a.authz.audiences],
      policyFile: a.authz.policy_file === undefined ? undefined : abs(a.authz.policy_file),
      injectAudience: a.authz.inject.audience,
      stripToken: a.authz.strip_token,
      spiffeIdHeader: a.authz.spiffe_id_header.toLowerCase(),
      trustDomainHeader: a.authz.trust_domain_header.toLowerCase(),
    },
    plugins,
    healthChecks: { listenerEnabled: hc.listener_enabled, bindAddress: hc.bind_address, bindPort: hc.bind_port, livePath: hc.live_path, readyPath: hc.ready_path },
    telemetry: toTelemetryConfig(file.telemetry),
    warnings,
  };
  return deepFreeze(runtime);
}

/** True when `dir` is `parent` or below it. */
function isWithin(parent: string, dir: string): boolean {
  const rel = relative(parent, dir);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** Freezes plain objects and arrays; class instances (TrustDomain, SpiffeId) are immutable already. */
function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && (Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype)) {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}
