// herald-agent's configuration: the one schema listing every key (type,
// default, one-line description), the `run` flags, and the loader that turns
// file + flags into a frozen AgentRuntimeConfig (config-runtime.ts). The
// shape is SPIRE's agent.conf (HCL, YAML or JSON), plus Herald's sds extras and authz;
// SPIRE keys Herald lacks are rejected with the reason.
import { access, open } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { ConfigError, flagOverrides, parseConfig, s } from '../common/config/index.ts';
import type { ConfigLocation, FlagKeyMap, Infer, ValidationIssue } from '../common/config/index.ts';
import { errorMessage } from '../common/errors.ts';
import { LOG_FORMATS, LOG_LEVELS } from '../common/log.ts';
import { telemetrySchema } from '../common/telemetry/config.ts';
import { readConfigText, type LoadConfigOptions } from '../common/config/load-options.ts';
import { eachItem, nonEmpty, offOnly, port, spiffeIdProblem, trustDomainProblem, urlPath } from '../common/config/spiffe-checks.ts';
import type { FlagSpecs } from '../cli/flags.ts';
import { agentPluginsSchema } from './catalog/catalog.ts';
import { endpointLimitsSchema } from './endpoints/limits.ts';
import { toAgentRuntimeConfig } from './config-runtime.ts';
import type { AgentRuntimeConfig } from './config-runtime.ts';

export type {
  AgentAuthzConfig,
  AgentRuntimeConfig,
  AgentSdsConfig,
  AuthorizedPeersConfig,
  HealthChecksConfig,
  TrustBootstrap,
  WorkloadKeyTypeName,
} from './config-runtime.ts';
export { toAgentRuntimeConfig } from './config-runtime.ts';

export const DEFAULT_AGENT_CONFIG_PATH = 'conf/agent/agent.yaml';
export const WORKLOAD_KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048'] as const;
export const TRUST_BUNDLE_FORMATS = ['pem', 'spiffe'] as const;
/** SPIRE's rebootstrap_mode values. */
export const REBOOTSTRAP_MODES = ['never', 'auto', 'always'] as const;
/** The file AgentStorage keeps the last known bundle in (src/agent/storage.ts). */
export const STORED_BUNDLE_FILE = 'bundle.der';

// ---- validators -------------------------------------------------------------

function trustBundleUrlProblem(v: string): string | undefined {
  const u = URL.parse(v);
  if (u === null) return `unable to parse trust bundle URL ${JSON.stringify(v)}`;
  if (u.protocol !== 'https:') return 'trust bundle URL must start with https://';
  return undefined;
}



// ---- schema -----------------------------------------------------------------

const authorizedPeers = s.section(
  {
    ids: s.stringList({ description: 'Exact SPIFFE IDs allowed', validate: eachItem(spiffeIdProblem) }),
    trust_domains: s.stringList({ description: 'Any ID in these trust domains is allowed', validate: eachItem(trustDomainProblem) }),
    path_prefixes: s.stringList({ description: 'IDs in the agent\'s trust domain under these paths (e.g. /ns/prod/) are allowed', validate: eachItem(urlPath) }),
  },
  {
    description: 'Peers a validation context accepts',
    validate: (v) => (v.ids.length + v.trust_domains.length + v.path_prefixes.length === 0 ? 'list at least one of ids, trust_domains, path_prefixes' : undefined),
  },
);

const sds = s.section(
  {
    default_svid_name: s.string({ description: 'SDS resource name of the default X509-SVID', default: 'default', validate: nonEmpty }),
    default_bundle_name: s.string({ description: 'SDS resource name of the own trust domain bundle', default: 'ROOTCA', validate: nonEmpty }),
    default_all_bundles_name: s.string({ description: 'SDS resource name of own + federated bundles', default: 'ALL', validate: nonEmpty }),
    disable_spiffe_cert_validation: s.bool({ description: 'Send plain trusted_ca validation contexts instead of the SPIFFE validator', default: false }),
    root_ca_includes_federated: s.bool({ description: 'Herald: the default bundle resource also carries federated bundles', default: false }),
    validators: s.map(s.enum(['spiffe', 'trusted_ca'], { description: 'Validator for this resource', required: true }), {
      description: 'Herald: per resource name, spiffe or trusted_ca (overrides disable_spiffe_cert_validation)',
    }),
    authorized_peers: s.map(authorizedPeers, { description: 'Herald: per resource name, the peers its validation context accepts' }),
    file_resources: s.section(
      {
        enabled: s.bool({ description: 'Serve file-based SDS resources', default: false }),
        allowed_dir: s.path({ description: 'Only files under this directory may be served' }),
      },
      {
        description: 'Herald: Istio-style file-cert:CERT~KEY and file-root:CA resources, from allowed_dir only (off by default)',
        validate: (v) => (v.enabled && v.allowed_dir === undefined ? [{ key: 'allowed_dir', message: 'must be specified when enabled is true' }] : undefined),
      },
    ),
  },
  { description: 'Envoy SDS v3 served on the agent socket' },
);

const authz = s.section(
  {
    enabled: s.bool({ description: 'Serve the Envoy ext_authz v3 Check API', default: false }),
    socket_path: s.path({ description: 'Unix socket of the ext_authz server (default: authz.sock beside socket_path)' }),
    header: s.string({ description: 'Request header carrying the JWT-SVID', default: 'authorization', validate: nonEmpty }),
    audiences: s.stringList({ description: 'Accepted JWT-SVID audiences (a token must carry one); a route can override them with the context extension `audience`' }),
    policy_file: s.path({ description: 'YAML allow/deny rules over the caller identities (docs: envoy/README.md); reloaded on change. Absent: every valid token is allowed' }),
    strip_token: s.bool({ description: 'Remove the token header before the request goes upstream', default: false }),
    spiffe_id_header: s.string({ description: 'Header set on allowed requests to the caller\'s SPIFFE ID', default: 'x-spiffe-id', validate: nonEmpty }),
    trust_domain_header: s.string({ description: 'Header set on allowed requests to the caller\'s trust domain', default: 'x-spiffe-trust-domain', validate: nonEmpty }),
    inject: s.section({ audience: s.string({ description: 'Audience of the JWT-SVID injected into outbound requests (context extension `herald_mode: inject`); a route can override it with `audience`' }) }, { description: 'Outbound JWT-SVID injection (like envoy-jwt-auth-helper\'s jwt_injection)' }),
  },
  {
    description: 'Herald: Envoy ext_authz v3 (JWT-SVID validation, identity policy, token injection) on its own socket',
    validate: (v) => (v.enabled && v.audiences.length === 0 ? [{ key: 'audiences', message: 'list at least one audience when enabled is true' }] : undefined),
  },
);

const experimental = s.section(
  {
    sync_interval: s.duration({ description: 'SPIRE spelling of agent.sync_interval', min: '10ms' }),
    named_pipe_name: s.unsupported('named pipes are Windows-only'),
    admin_named_pipe_name: s.unsupported('named pipes are Windows-only'),
    use_sync_authorized_entries: s.unsupported('Herald always syncs authorized entries'),
    jwt_svid_cache_hit_timeout: s.unsupported('not implemented'),
    require_pq_kem: offOnly('post-quantum key exchange is not implemented'),
    feature_flags: s.unsupported('SPIRE feature flags do not apply to Herald'),
  },
  { description: 'SPIRE experimental settings' },
);

const healthChecks = s.section(
  {
    listener_enabled: s.bool({ description: 'Serve the HTTP health endpoints', default: false }),
    bind_address: s.string({ description: 'Address of the health listener', default: 'localhost', validate: nonEmpty }),
    bind_port: port('Port of the health listener', 8080),
    live_path: s.string({ description: 'Liveness path', default: '/live', validate: urlPath }),
    ready_path: s.string({ description: 'Readiness path', default: '/ready', validate: urlPath }),
  },
  { description: 'HTTP liveness/readiness endpoints (SPIRE health_checks)' },
);

const agentSection = s.section(
  {
    data_dir: s.path({ description: 'Directory for the agent SVID, key and last trust bundle (relative to the working directory); one agent per data_dir (a server and an agent may share one): it holds a lock on data_dir/herald-agent.lock while it runs', default: './.data' }),
    log_level: s.enum(LOG_LEVELS, { description: 'Log level', default: 'INFO', caseInsensitive: true }),
    log_format: s.enum(LOG_FORMATS, { description: 'Log format (text is pretty-printed only on a TTY)', default: 'text', caseInsensitive: true }),
    log_file: s.path({ description: 'Append logs to this file instead of stderr' }),
    server_address: s.string({ description: 'IP address or DNS name of the Herald server', default: '127.0.0.1', validate: nonEmpty }),
    server_port: port('Port of the Herald server agent API', 8081),
    socket_path: s.path({ description: 'Unix socket of the Workload API and SDS', default: '/tmp/herald-agent/public/api.sock' }),
    admin_socket_path: s.path({ description: 'Unix socket of the agent admin API (absent: not served)' }),
    trust_domain: s.string({ description: 'The trust domain this agent belongs to', required: true, validate: trustDomainProblem }),
    trust_bundle_path: s.path({ description: 'Bootstrap trust bundle file for the first connection to the server' }),
    trust_bundle_url: s.string({ description: 'https URL to download the bootstrap trust bundle from', validate: trustBundleUrlProblem }),
    trust_bundle_format: s.enum(TRUST_BUNDLE_FORMATS, { description: 'Format of the bootstrap trust bundle', default: 'pem' }),
    insecure_bootstrap: s.bool({ description: 'Trust the server on first connection without a bundle (testing only)', default: false }),
    join_token: s.string({ description: 'Join token for node attestation (used once; the agent SVID is then kept in data_dir)', validate: nonEmpty }),
    join_token_file: s.path({ description: 'File holding the join token (surrounding whitespace trimmed); read at start, as SPIRE does. Not with join_token' }),
    sync_interval: s.duration({ description: 'How often the agent syncs entries and SVIDs with the server (default 5s); a Herald server also tells the agent at once when its entries change', min: '10ms' }),
    workload_x509_svid_key_type: s.enum(WORKLOAD_KEY_TYPES, { description: 'Key type of workload X509-SVIDs', default: 'ec-p256', caseInsensitive: true }),
    x509_svid_cache_max_size: s.int({ description: 'Accepted for SPIRE compatibility; Herald caches every authorized SVID (ignored, with a warning)', min: 0 }),
    jwt_svid_cache_max_size: s.int({ description: 'Accepted for SPIRE compatibility; ignored, with a warning', min: 0 }),
    retry_bootstrap: s.bool({
      description:
        'Retry a failed first attestation (server unreachable, bootstrap bundle unavailable, token refused; not PERMISSION_DENIED) with SPIRE\'s backoff: 5 s, ×1.5, ±10 %, giving up after 1 min. false: exit at the first failure, or when the first sync fails. Default true, as in SPIRE; setting it logs SPIRE\'s deprecation warning',
    }),
    rebootstrap_mode: s.enum(REBOOTSTRAP_MODES, {
      description:
        'SPIRE\'s re-bootstrap after the server\'s CA changes: "never"; "auto" or "always": once the server\'s certificate has not chained to the agent\'s trust bundle for rebootstrap_delay, the agent removes its stored SVID and bundle and exits ("Agent needs to rebootstrap. shutting down"); restarted, it bootstraps again from trust_bundle_path/trust_bundle_url and attests again. Needs a re-attestable node attestor (x509pop, not a join token): "always" refuses to start without one, "auto" warns and falls back to "never". Needs trust_bundle_path or trust_bundle_url; not with insecure_bootstrap or retry_bootstrap',
      default: 'never',
    }),
    rebootstrap_delay: s.duration({ description: 'How long the server\'s certificate must fail to chain to the agent\'s bundle before it re-bootstraps (default 10m, as SPIRE); a successful sync in between starts the count again' }),
    sds,
    authz,
    endpoint_limits: endpointLimitsSchema,
    experimental,
    // SPIRE keys Herald does not support.
    authorized_delegates: s.unsupported('the Delegated Identity API is not implemented'),
    allowed_foreign_jwt_claims: s.unsupported('foreign JWT claims are not passed through'),
    allow_unauthenticated_verifiers: offOnly('unregistered callers never receive bundles'),
    availability_target: s.unsupported('SVID availability targets are not implemented'),
    trust_bundle_unix_socket: s.unsupported('use trust_bundle_path or trust_bundle_url'),
    log_source_location: s.bool({ description: 'Include source file, line number and function name in log lines', default: false }),
    profiling_enabled: offOnly('profiling is not implemented'),
    profiling_port: s.unsupported('profiling is not implemented'),
    profiling_freq: s.unsupported('profiling is not implemented'),
    profiling_names: s.unsupported('profiling is not implemented'),
  },
  {
    description: 'Agent settings',
    validate: (v) => {
      const issues: ValidationIssue[] = [];
      const url = v.trust_bundle_url !== undefined;
      const path = v.trust_bundle_path !== undefined;
      if (v.insecure_bootstrap && url && path) {
        issues.push({ message: 'only one of insecure_bootstrap, trust_bundle_url, or trust_bundle_path can be specified, not the three options' });
      } else if (v.insecure_bootstrap && url) {
        issues.push({ key: 'trust_bundle_url', message: 'only one of insecure_bootstrap or trust_bundle_url can be specified, not both' });
      } else if (v.insecure_bootstrap && path) {
        issues.push({ key: 'trust_bundle_path', message: 'only one of insecure_bootstrap or trust_bundle_path can be specified, not both' });
      } else if (url && path) {
        issues.push({ key: 'trust_bundle_url', message: 'only one of trust_bundle_url or trust_bundle_path can be specified, not both' });
      }
      if (v.join_token !== undefined && v.join_token_file !== undefined) {
        issues.push({ key: 'join_token_file', message: 'only one of join_token or join_token_file can be specified, not both' });
      }
      // SPIRE run.go's checks, word for word.
      if (v.rebootstrap_mode !== 'never' && v.insecure_bootstrap) {
        issues.push({ key: 'rebootstrap_mode', message: 'insecure_bootstrap option can not be used with rebootstrapping' });
      }
      // Herald starts without a bootstrap method when data_dir holds a bundle; re-bootstrapping removes it, so one is needed (SPIRE always needs one).
      if (v.rebootstrap_mode !== 'never' && !v.insecure_bootstrap && !url && !path) {
        issues.push({ key: 'rebootstrap_mode', message: 'trust_bundle_path or trust_bundle_url must be configured unless insecure_bootstrap is set' });
      }
      if (v.rebootstrap_mode !== 'never' && v.retry_bootstrap !== undefined) {
        issues.push({ key: 'retry_bootstrap', message: 'you can not set retry_bootstrap when using reboostrap_mode' });
      }
      if (v.sync_interval !== undefined && v.experimental.sync_interval !== undefined) {
        issues.push({ key: 'experimental.sync_interval', message: 'set only one of sync_interval and experimental.sync_interval' });
      }
      return issues;
    },
  },
);

/** plugins: built from the catalog's BuiltIns (src/agent/catalog). */
const plugins = agentPluginsSchema;

/** The herald-agent config file schema: every key, its type, default and description. */
export const agentConfigSchema = s.section({
  agent: agentSection,
  plugins,
  health_checks: healthChecks,
  telemetry: telemetrySchema('spire_agent'),
});

/** The validated file (plus flag overrides), before conversion to runtime values. */
export type AgentFileConfig = Infer<typeof agentConfigSchema>;

// ---- flags ------------------------------------------------------------------

/** `herald-agent run` (and `validate`) flags, SPIRE's names. */
export const agentRunFlags = {
  config: { type: 'string', usage: 'Path to a Herald agent config `file`: HCL as SPIRE\'s (.conf, .hcl), YAML or JSON', default: DEFAULT_AGENT_CONFIG_PATH },
  dataDir: { type: 'string', usage: 'A directory the agent can use for its runtime data' },
  joinToken: { type: 'string', usage: 'An optional token which has been generated by the Herald server' },
  joinTokenFile: { type: 'string', usage: 'Path to a file containing an optional join token which has been generated by the Herald server' },
  logFile: { type: 'string', usage: 'File to write logs to' },
  logFormat: { type: 'string', usage: "'text' or 'json'" },
  logLevel: { type: 'string', usage: "'debug', 'info', 'warn', or 'error'" },
  logSourceLocation: { type: 'bool', usage: 'Include source file, line number and function name in log lines' },
  serverAddress: { type: 'string', usage: 'IP address or DNS name of the Herald server' },
  serverPort: { type: 'int', usage: 'Port number of the Herald server' },
  socketPath: { type: 'string', usage: 'Path to bind the Workload API / SDS socket to' },
  trustDomain: { type: 'string', usage: 'The trust domain that this agent belongs to' },
  trustBundle: { type: 'string', usage: 'Path to the Herald server CA bundle' },
  trustBundleUrl: { type: 'string', usage: 'URL to download the Herald server CA bundle' },
  trustBundleFormat: { type: 'string', usage: 'Format of the bootstrap trust bundle, "pem" or "spiffe"' },
  insecureBootstrap: { type: 'bool', usage: "If true, the agent bootstraps without verifying the server's identity" },
  // SPIRE's flag; true is refused (allow_unauthenticated_verifiers: unregistered callers never receive bundles).
  allowUnauthenticatedVerifiers: { type: 'bool', usage: 'If true, the agent permits the retrieval of X509 certificate bundles by unregistered clients' },
  retryBootstrap: { type: 'bool', usage: 'If true, the agent retries bootstrap with backoff', default: true },
  rebootstrapMode: { type: 'string', usage: "Can be one of 'never', 'auto', or 'always'" },
  rebootstrapDelay: { type: 'string', usage: 'The time to delay after seeing a x509 cert mismatch from the server before rebootstrapping' },
  expandEnv: { type: 'bool', usage: 'Expand environment variables in the config file' },
} as const satisfies FlagSpecs;

/** Which config key each run flag overrides. */
export const agentFlagKeys: FlagKeyMap = Object.freeze({
  dataDir: 'agent.data_dir',
  joinToken: 'agent.join_token',
  joinTokenFile: 'agent.join_token_file',
  logFile: 'agent.log_file',
  logFormat: 'agent.log_format',
  logLevel: 'agent.log_level',
  logSourceLocation: 'agent.log_source_location',
  allowUnauthenticatedVerifiers: 'agent.allow_unauthenticated_verifiers',
  serverAddress: 'agent.server_address',
  serverPort: 'agent.server_port',
  socketPath: 'agent.socket_path',
  trustDomain: 'agent.trust_domain',
  trustBundle: 'agent.trust_bundle_path',
  trustBundleUrl: 'agent.trust_bundle_url',
  trustBundleFormat: 'agent.trust_bundle_format',
  insecureBootstrap: 'agent.insecure_bootstrap',
  retryBootstrap: 'agent.retry_bootstrap',
  rebootstrapMode: 'agent.rebootstrap_mode',
  rebootstrapDelay: 'agent.rebootstrap_delay',
});

// ---- loading ----------------------------------------------------------------

export type { ParsedRunFlags } from '../common/config/load-options.ts';

export interface LoadAgentConfigOptions extends LoadConfigOptions {
  /** Whether data_dir already holds a trust bundle (then no bootstrap method is needed). Default: `<data_dir>/bundle.der` exists. */
  readonly hasStoredBundle?: (dataDir: string) => Promise<boolean>;
}

/** Reads, validates and converts the agent config (flags > file > defaults). Throws ConfigError listing every problem. */
export async function loadAgentConfig(options: LoadAgentConfigOptions): Promise<AgentRuntimeConfig> {
  const { cwd } = options;
  if (typeof cwd !== 'string' || !isAbsolute(cwd)) throw new TypeError('loadAgentConfig: cwd must be an absolute path');
  const flagConfig = options.flags?.values['config'];
  const configPath = options.configPath ?? (typeof flagConfig === 'string' ? flagConfig : DEFAULT_AGENT_CONFIG_PATH);
  const expand = options.expandEnv ?? options.flags?.values['expandEnv'] === true;
  const overrides = [...(options.flags ? flagOverrides(options.flags.values, options.flags.set, agentFlagKeys) : []), ...(options.overrides ?? [])];
  const absPath = resolve(cwd, configPath);
  const text = options.text ?? (await readConfigText(configPath, absPath));
  const filename = options.text !== undefined && options.configPath === undefined ? '<config>' : configPath;
  const file = parseConfig(agentConfigSchema, text, {
    filename,
    expandEnv: expand,
    ...(options.env !== undefined ? { env: options.env } : {}),
    overrides,
  });
  const a = file.agent;
  const hasStoredBundle = options.hasStoredBundle ?? storedBundleExists;
  if (!a.insecure_bootstrap && a.trust_bundle_path === undefined && a.trust_bundle_url === undefined && !(await hasStoredBundle(resolve(cwd, a.data_dir)))) {
    throw new ConfigError([
      { file: filename, path: 'agent', message: 'one of trust_bundle_path, trust_bundle_url or insecure_bootstrap must be set (data_dir holds no trust bundle yet)' },
    ]);
  }
  const tokenFileFrom: ConfigLocation = options.flags?.set.has('joinTokenFile') ? { flag: 'joinTokenFile' } : { file: filename };
  const joinTokenFromFile = a.join_token_file === undefined ? undefined : await readJoinTokenFile(resolve(cwd, a.join_token_file), a.join_token_file, tokenFileFrom);
  return toAgentRuntimeConfig(file, { cwd, configPath: options.text === undefined ? absPath : undefined, filename, joinTokenFromFile });
}

/** Longest join token file read (a token is a UUID; this keeps /dev/zero from filling memory). */
const MAX_JOIN_TOKEN_FILE_BYTES = 64 * 1024;

/** SPIRE's run.go: the file's content, whitespace trimmed; unreadable or empty is an error. */
async function readJoinTokenFile(abs: string, asWritten: string, from: ConfigLocation): Promise<string> {
  const problem = (message: string, cause?: unknown): ConfigError =>
    new ConfigError([{ ...from, path: 'agent.join_token_file', message }], cause === undefined ? undefined : { cause });
  let buf: Buffer;
  try {
    const fh = await open(abs, 'r');
    try {
      buf = Buffer.alloc(MAX_JOIN_TOKEN_FILE_BYTES + 1);
      let n = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
        if (bytesRead === 0) break;
        n += bytesRead;
        if (n === buf.length) throw problem(`join token file ${JSON.stringify(asWritten)} is larger than ${MAX_JOIN_TOKEN_FILE_BYTES} bytes`);
      }
      buf = buf.subarray(0, n);
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    // Node's "ENOENT: no such file or directory, open '/abs'" → Go's "open tok: no such file or directory", as SPIRE says it.
    const e = err as NodeJS.ErrnoException;
    const why = /^[A-Z]+: ([^,]+)/.exec(errorMessage(err))?.[1] ?? errorMessage(err);
    throw problem(`unable to read join token file ${JSON.stringify(asWritten)}: ${e.syscall ?? 'open'} ${asWritten}: ${why}`, err);
  }
  const token = buf.toString('utf8').trim();
  if (token === '') throw problem(`join token file is empty: ${JSON.stringify(asWritten)}`);
  return token;
}

async function storedBundleExists(dataDir: string): Promise<boolean> {
  try {
    await access(join(dataDir, STORED_BUNDLE_FILE));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw new ConfigError([{ path: 'agent.data_dir', message: `cannot check ${dataDir} for a stored trust bundle: ${errorMessage(err)}` }], { cause: err });
  }
}
