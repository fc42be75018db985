// The validated server config file → the frozen, typed runtime config the
// server is built from: TrustDomain/SpiffeId values, durations in ms, paths
// made absolute against the working directory, the declared plugins (each
// plugin's configure() makes its runtime config, src/server/catalog),
// SPIRE-style warnings for the caller to log. Nothing else in the server
// reads raw config.
import { isAbsolute, resolve } from 'node:path';
import type { DeclaredPlugin } from '../common/catalog/catalog.ts';
import { ConfigError, formatDuration } from '../common/config/index.ts';
import type { ConfigProblem } from '../common/config/index.ts';
import type { LogFormat, LogLevel } from '../common/log.ts';
import { SpiffeId } from '../spiffe/id.ts';
import { TrustDomain } from '../spiffe/trust-domain.ts';
import { serverDeclaredPlugins } from './catalog/catalog.ts';
import { toConsoleConfig, type ConsoleConfig } from './console/config.ts';
import type { ServerFileConfig } from './config.ts';
import { toTelemetryConfig, type TelemetryConfig } from '../common/telemetry/config.ts';
import { toControllerManagerConfig, type ControllerManagerConfig } from './k8s/config.ts';

export type KeyTypeName = 'ec-p256' | 'ec-p384' | 'rsa-2048' | 'rsa-4096';

export interface BundleEndpointConfig {
  readonly address: string;
  readonly port: number;
  readonly refreshHintMs: number;
  readonly profile:
    | { readonly type: 'https_spiffe' }
    | {
        readonly type: 'https_web';
        readonly servingCertFile: { readonly certFilePath: string; readonly keyFilePath: string; readonly fileSyncIntervalMs: number };
      };
}

export interface FederationRelationshipConfig {
  readonly trustDomain: TrustDomain;
  /** As configured (https, no userinfo). */
  readonly bundleEndpointUrl: string;
  readonly profile: { readonly type: 'https_spiffe'; readonly endpointSpiffeId: SpiffeId } | { readonly type: 'https_web' };
}

export interface HealthChecksConfig {
  readonly listenerEnabled: boolean;
  readonly bindAddress: string;
  readonly bindPort: number;
  readonly livePath: string;
  readonly readyPath: string;
}

export interface ServerRuntimeConfig {
  /** Absolute path of the file loaded, undefined when the text was supplied directly. */
  readonly configPath: string | undefined;
  readonly trustDomain: TrustDomain;
  /** Agent API listener (gRPC over TLS). */
  readonly bindAddress: string;
  readonly bindPort: number;
  /** Admin API Unix socket, absolute. */
  readonly socketPath: string;
  /** Absolute. */
  readonly dataDir: string;
  readonly log: { readonly level: LogLevel; readonly format: LogFormat; readonly file: string | undefined; readonly sourceLocation: boolean };
  readonly caKeyType: KeyTypeName;
  readonly jwtKeyType: KeyTypeName;
  readonly caTtlMs: number;
  readonly defaultX509SvidTtlMs: number;
  readonly defaultJwtSvidTtlMs: number;
  readonly agentTtlMs: number;
  readonly caSubject: { readonly country: readonly string[]; readonly organization: readonly string[]; readonly commonName: string | undefined };
  readonly jwtIssuer: string | undefined;
  /** server.ratelimit (SPIRE's per-IP limits). */
  readonly rateLimit: { readonly attestation: boolean; readonly signing: boolean };
  readonly federation: {
    /** Undefined: no bundle endpoint is served. */
    readonly bundleEndpoint: BundleEndpointConfig | undefined;
    /** Sorted by trust domain name. */
    readonly federatesWith: readonly FederationRelationshipConfig[];
  };
  /** Undefined: no console is served. */
  readonly console: ConsoleConfig | undefined;
  /**
   * The enabled plugins, by type in catalog order (DataStore, KeyManager,
   * NodeAttestor, UpstreamAuthority, …) and in file order within a type; each
   * with the runtime config its definition's configure() made.
   */
  readonly plugins: readonly DeclaredPlugin[];
  readonly healthChecks: HealthChecksConfig;
  /** SPIRE's audit_log_enabled: one structured line per API call and attestation. */
  readonly auditLogEnabled: boolean;
  readonly telemetry: TelemetryConfig;
  /** Automatic registration from Kubernetes (src/server/k8s); undefined: off. */
  readonly controllerManager: ControllerManagerConfig | undefined;
  /** Accepted-but-questionable settings, for the caller to log at WARN. */
  readonly warnings: readonly string[];
}

export interface RuntimeContext {
  /** Absolute working directory; relative paths resolve against it. */
  readonly cwd: string;
  /** Recorded as ServerRuntimeConfig.configPath. */
  readonly configPath?: string | undefined;
  /** Names the source in problems found here. */
  readonly filename?: string;
}

/** Linux sun_path holds 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;
/** SPIRE: an SVID TTL is only guaranteed when ≤ ca_ttl / 6, capped at 7 days. */
const ACTIVATION_DIVISOR = 6;
const ACTIVATION_CAP_MS = 7 * 24 * 3_600_000;
const MIN_REFRESH_HINT_MS = 60_000;

export function toServerRuntimeConfig(file: ServerFileConfig, ctx: RuntimeContext): ServerRuntimeConfig {
  if (!isAbsolute(ctx.cwd)) throw new TypeError('toServerRuntimeConfig: cwd must be an absolute path');
  const problems: ConfigProblem[] = [];
  const where = ctx.filename ?? '<config>';
  const abs = (p: string): string => resolve(ctx.cwd, p);
  const srv = file.server;
  const warnings: string[] = [];

  const socketPath = abs(srv.socket_path);
  const socketBytes = Buffer.byteLength(socketPath);
  if (socketBytes > MAX_SOCKET_PATH_BYTES) {
    problems.push({ file: where, path: 'server.socket_path', message: `socket path ${socketPath} is too long (${socketBytes} bytes; at most ${MAX_SOCKET_PATH_BYTES})` });
  }
  const dataDir = abs(srv.data_dir);

  const x509Ttl = srv.default_x509_svid_ttl;
  const jwtTtl = srv.default_jwt_svid_ttl;
  const maxTtl = Math.min(srv.ca_ttl / ACTIVATION_DIVISOR, ACTIVATION_CAP_MS);
  for (const [name, ttl] of [['default_x509_svid_ttl', x509Ttl], ['default_jwt_svid_ttl', jwtTtl]] as const) {
    if (ttl > maxTtl) {
      warnings.push(
        `${name} is too high for the configured ca_ttl value. SVIDs with shorter lifetimes may be issued. ` +
          `Please set ${name} to ${formatDuration(maxTtl)} or less, or the ca_ttl to ${formatDuration(ttl * ACTIVATION_DIVISOR)} or more, ` +
          `to guarantee the full ${name} lifetime when CA rotations are scheduled.`,
      );
    }
  }

  const subject = srv.ca_subject;
  const subjectEmpty = subject === undefined || (subject.country.length === 0 && subject.organization.length === 0 && (subject.common_name ?? '') === '');
  if (subject !== undefined && subjectEmpty) warnings.push('ca_subject configurable is set but empty; the default will be used');

  const be = srv.federation.bundle_endpoint;
  let bundleEndpoint: BundleEndpointConfig | undefined;
  if (be !== undefined) {
    if (be.refresh_hint >= 24 * 3_600_000) {
      warnings.push("Bundle endpoint refresh hint set to a high value. To cover the case of unscheduled trust bundle updates, it's recommended to have a smaller value, e.g. 5m");
    }
    if (be.refresh_hint < MIN_REFRESH_HINT_MS) {
      warnings.push('Bundle endpoint refresh hint set below 1 minute: SPIRE consumers will not refresh more often than that (Herald consumers refresh down to 1 second)');
    }
    const web = be.profile?.https_web?.serving_cert_file;
    bundleEndpoint = {
      address: be.address,
      port: be.port,
      refreshHintMs: be.refresh_hint,
      profile:
        web === undefined
          ? { type: 'https_spiffe' }
          : { type: 'https_web', servingCertFile: { certFilePath: abs(web.cert_file_path), keyFilePath: abs(web.key_file_path), fileSyncIntervalMs: web.file_sync_interval } },
    };
  }

  const federatesWith: FederationRelationshipConfig[] = Object.entries(srv.federation.federates_with)
    .map(([name, rel]): FederationRelationshipConfig => {
      const spiffe = rel.bundle_endpoint_profile['https_spiffe'];
      return {
        trustDomain: TrustDomain.fromString(name),
        bundleEndpointUrl: rel.bundle_endpoint_url,
        profile:
          spiffe?.endpoint_spiffe_id !== undefined
            ? { type: 'https_spiffe', endpointSpiffeId: SpiffeId.fromString(spiffe.endpoint_spiffe_id) }
            : { type: 'https_web' },
      };
    })
    .sort((a, b) => a.trustDomain.compare(b.trustDomain));

  const plugins = serverDeclaredPlugins(file.plugins, { abs, dataDir });

  if (problems.length > 0) throw new ConfigError(problems);
  const hc = file.health_checks;
  const runtime: ServerRuntimeConfig = {
    configPath: ctx.configPath,
    trustDomain: TrustDomain.fromString(srv.trust_domain),
    bindAddress: stripBrackets(srv.bind_address),
    bindPort: srv.bind_port,
    socketPath,
    dataDir,
    log: { level: srv.log_level, format: srv.log_format, file: srv.log_file === undefined ? undefined : abs(srv.log_file), sourceLocation: srv.log_source_location },
    caKeyType: srv.ca_key_type,
    jwtKeyType: srv.jwt_key_type ?? srv.ca_key_type,
    caTtlMs: srv.ca_ttl,
    defaultX509SvidTtlMs: x509Ttl,
    defaultJwtSvidTtlMs: jwtTtl,
    agentTtlMs: srv.agent_ttl ?? x509Ttl,
    caSubject: subjectEmpty
      ? { country: ['US'], organization: ['SPIFFE'], commonName: undefined }
      : { country: subject.country, organization: subject.organization, commonName: subject.common_name === '' ? undefined : subject.common_name },
    jwtIssuer: srv.jwt_issuer === '' ? undefined : srv.jwt_issuer,
    rateLimit: { attestation: srv.ratelimit.attestation, signing: srv.ratelimit.signing },
    federation: { bundleEndpoint, federatesWith },
    console: toConsoleConfig(file.console, abs),
    plugins,
    healthChecks: { listenerEnabled: hc.listener_enabled, bindAddress: hc.bind_address, bindPort: hc.bind_port, livePath: hc.live_path, readyPath: hc.ready_path },
    telemetry: toTelemetryConfig(file.telemetry),
    auditLogEnabled: srv.audit_log_enabled,
    controllerManager: toControllerManagerConfig(file.controller_manager, abs),
    warnings,
  };
  return deepFreeze(runtime);
}

/** `[::]` → `::` (SPIRE accepts the bracketed form). */
function stripBrackets(addr: string): string {
  return addr.startsWith('[') && addr.endsWith(']') ? addr.slice(1, -1) : addr;
}

/** Freezes plain objects and arrays; class instances (TrustDomain, SpiffeId) are immutable already. */
function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && (Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype)) {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}

