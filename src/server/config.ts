// herald-server's configuration: the one schema listing every key (type,
// default, one-line description), the `run` flags, and the loader that turns
// file + flags into a frozen ServerRuntimeConfig (config-runtime.ts). The
// shape is SPIRE's server.conf (in HCL as SPIRE's, or YAML or JSON), so a SPIRE
// config loads for every key Herald supports; SPIRE keys Herald lacks are
// rejected with the reason.
import { isAbsolute, resolve } from 'node:path';
import { flagOverrides, parseConfig, s } from '../common/config/index.ts';
import type { FlagKeyMap, Infer, ValidationIssue } from '../common/config/index.ts';
import { LOG_FORMATS, LOG_LEVELS } from '../common/log.ts';
import { readConfigText, type LoadConfigOptions } from '../common/config/load-options.ts';
import { nonEmpty, offOnly, port, spiffeIdProblem, trustDomainProblem, urlPath } from '../common/config/spiffe-checks.ts';
import { telemetrySchema } from '../common/telemetry/config.ts';
import { TrustDomain } from '../spiffe/trust-domain.ts';
import type { FlagSpecs } from '../cli/flags.ts';
import { serverPluginsSchema } from './catalog/catalog.ts';
import { consoleSchema } from './console/config.ts';
import { controllerManagerSection } from './k8s/config.ts';
import { toServerRuntimeConfig } from './config-runtime.ts';
import type { ServerRuntimeConfig } from './config-runtime.ts';

export type {
  BundleEndpointConfig,
  FederationRelationshipConfig,
  HealthChecksConfig,
  KeyTypeName,
  ServerRuntimeConfig,
} from './config-runtime.ts';
export { toServerRuntimeConfig } from './config-runtime.ts';

export const DEFAULT_SERVER_CONFIG_PATH = 'conf/server/server.yaml';
export const KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-4096'] as const;
export const BUNDLE_ENDPOINT_PROFILES = ['https_spiffe', 'https_web'] as const;

// ---- validators -------------------------------------------------------------

/** SPIFFE Federation: bundle endpoint URLs are https, without userinfo. */
export function bundleEndpointUrlProblem(v: string): string | undefined {
  const u = URL.parse(v);
  if (u === null) return `not a valid URL: ${JSON.stringify(v)}`;
  if (u.protocol !== 'https:') return `must use the HTTPS protocol; URL found: ${JSON.stringify(v)}`;
  if (u.username !== '' || u.password !== '') return 'must not contain userinfo (user:password@)';
  return undefined;
}



// ---- schema -----------------------------------------------------------------

const caSubject = s.section(
  {
    country: s.stringList({ description: 'Country (C) values' }),
    organization: s.stringList({ description: 'Organization (O) values' }),
    common_name: s.string({ description: 'Common name (CN)' }),
  },
  { description: 'Subject of the CA certificates; absent or empty means C=US, O=SPIFFE', optional: true },
);

const servingCertFile = s.section(
  {
    cert_file_path: s.path({ description: 'PEM certificate chain served by the bundle endpoint', required: true }),
    key_file_path: s.path({ description: 'PEM private key of that certificate', required: true }),
    file_sync_interval: s.duration({ description: 'How often the files are re-read', default: '1h', min: '1s' }),
  },
  { description: 'Serve a Web PKI certificate read from disk', optional: true },
);

const bundleEndpoint = s.section(
  {
    address: s.string({ description: 'IP address the bundle endpoint listens on', default: '0.0.0.0', validate: nonEmpty }),
    port: port('Port the bundle endpoint listens on', 8443),
    refresh_hint: s.duration({ description: 'spiffe_refresh_hint served to consumers', default: '5m', min: '1s' }),
    profile: s.section(
      {
        https_spiffe: s.section({}, { description: 'Authenticate with the server X509-SVID (spiffe://TRUST_DOMAIN/spire/server)', optional: true }),
        https_web: s.section(
          {
            serving_cert_file: servingCertFile,
            acme: s.unsupported('ACME is not implemented; use serving_cert_file'),
          },
          {
            description: 'Authenticate with a Web PKI certificate',
            optional: true,
            validate: (v) => (v.serving_cert_file === undefined ? "malformed https_web profile configuration: 'serving_cert_file' is required" : undefined),
          },
        ),
      },
      {
        description: 'Endpoint profile: exactly one of https_spiffe {} (the default when absent) or https_web { serving_cert_file }',
        optional: true,
        validate: (v) => {
          const n = (v.https_spiffe === undefined ? 0 : 1) + (v.https_web === undefined ? 0 : 1);
          return n === 1 ? undefined : `exactly one bundle endpoint profile is expected ("https_spiffe" or "https_web"), found ${n}`;
        },
      },
    ),
    acme: s.unsupported('ACME is not implemented; use profile https_web with serving_cert_file'),
  },
  { description: 'Serve this trust domain\'s bundle over HTTPS for federation (absent: not served)', optional: true },
);

const endpointProfile = s.section(
  { endpoint_spiffe_id: s.string({ description: 'https_spiffe only: SPIFFE ID the endpoint must present', validate: spiffeIdProblem }) },
  { description: 'Profile settings' },
);

const federatesWith = s.map(
  s.section(
    {
      bundle_endpoint_url: s.string({ description: 'https URL of the foreign bundle endpoint', required: true, validate: bundleEndpointUrlProblem }),
      bundle_endpoint_profile: s.map(endpointProfile, {
        description: 'Exactly one of https_spiffe { endpoint_spiffe_id } or https_web {}',
        validateKey: (k) =>
          (BUNDLE_ENDPOINT_PROFILES as readonly string[]).includes(k)
            ? undefined
            : `unknown bundle endpoint profile ${JSON.stringify(k)}; supported profiles are "https_spiffe" and "https_web"`,
      }),
    },
    {
      description: 'A trust domain whose bundle this server fetches',
      validate: (v) => {
        const names = Object.keys(v.bundle_endpoint_profile);
        if (names.length === 0) {
          return [{ key: 'bundle_endpoint_profile', message: 'must be specified: one of https_spiffe { endpoint_spiffe_id } or https_web {}' }];
        }
        if (names.length > 1) {
          return [{ key: 'bundle_endpoint_profile', message: `exactly one bundle endpoint profile is expected, found ${names.length} (${names.join(', ')})` }];
        }
        const issues: ValidationIssue[] = [];
        const spiffe = v.bundle_endpoint_profile['https_spiffe'];
        const web = v.bundle_endpoint_profile['https_web'];
        if (spiffe !== undefined && spiffe.endpoint_spiffe_id === undefined) {
          issues.push({ key: 'bundle_endpoint_profile.https_spiffe.endpoint_spiffe_id', message: 'must be specified' });
        }
        if (web !== undefined && web.endpoint_spiffe_id !== undefined) {
          issues.push({ key: 'bundle_endpoint_profile.https_web.endpoint_spiffe_id', message: 'only applies to the https_spiffe profile' });
        }
        return issues;
      },
    },
  ),
  {
    description: 'Federation relationships, by foreign trust domain name',
    validateKey: trustDomainProblem,
    validate: (v) => {
      const seen = new Map<string, string>();
      const issues: ValidationIssue[] = [];
      for (const key of Object.keys(v)) {
        const name = TrustDomain.fromString(key).name;
        const first = seen.get(name);
        if (first !== undefined) issues.push({ message: `${JSON.stringify(key)} and ${JSON.stringify(first)} name the same trust domain` });
        else seen.set(name, key);
      }
      return issues;
    },
  },
);

const healthChecks = s.section(
  {
    listener_enabled: s.bool({ description: 'Serve the HTTP health endpoints', default: false }),
    bind_address: s.string({ description: 'Address of the health listener', default: 'localhost', validate: nonEmpty }),
    bind_port: port('Port of the health listener', 8080),
    live_path: s.string({ description: 'Liveness path', default: '/live', validate: urlPath }),
    ready_path: s.string({ description: 'Readiness path: 200 when ready, 500 while the datastore cannot write (disk full, read-only, unreachable)', default: '/ready', validate: urlPath }),
  },
  { description: 'HTTP liveness/readiness endpoints (SPIRE health_checks)' },
);

const serverSection = s.section(
  {
    bind_address: s.string({ description: 'IP address or DNS name the agent API listens on', default: '0.0.0.0', validate: nonEmpty }),
    bind_port: port('Port the agent API (gRPC over TLS) listens on', 8081),
    socket_path: s.path({ description: 'Unix socket of the admin API (used by the CLI)', default: '/tmp/herald-server/private/api.sock' }),
    trust_domain: s.string({ description: 'The trust domain this server is the authority for', required: true, validate: trustDomainProblem }),
    data_dir: s.path({ description: 'Directory for the datastore, keys and CA journal (relative to the working directory); one server per data_dir (a server and an agent may share one): it holds a lock on data_dir/herald-server.lock while it runs', default: './.data' }),
    log_level: s.enum(LOG_LEVELS, { description: 'Log level', default: 'INFO', caseInsensitive: true }),
    log_format: s.enum(LOG_FORMATS, { description: 'Log format (text is pretty-printed only on a TTY)', default: 'text', caseInsensitive: true }),
    log_file: s.path({ description: 'Append logs to this file instead of stderr' }),
    ca_key_type: s.enum(KEY_TYPES, { description: 'Key type of the X.509 CA', default: 'ec-p256', caseInsensitive: true }),
    jwt_key_type: s.enum(KEY_TYPES, { description: 'Key type of the JWT signing key (default: ca_key_type)', caseInsensitive: true }),
    ca_ttl: s.duration({ description: 'Lifetime of CA certificates', default: '24h', min: '10s' }),
    default_x509_svid_ttl: s.duration({ description: 'Default lifetime of X509-SVIDs', default: '1h', min: '1s' }),
    default_jwt_svid_ttl: s.duration({ description: 'Default lifetime of JWT-SVIDs', default: '5m', min: '1s' }),
    agent_ttl: s.duration({ description: 'Lifetime of agent SVIDs (default: default_x509_svid_ttl)', min: '1s' }),
    ca_subject: caSubject,
    jwt_issuer: s.string({ description: 'iss claim of JWT-SVIDs (empty: none)' }),
    federation: s.section(
      { bundle_endpoint: bundleEndpoint, federates_with: federatesWith },
      { description: 'SPIFFE Federation: serving this bundle and fetching foreign ones' },
    ),
    ratelimit: s.section(
      {
        attestation: s.bool({ description: 'Limit AttestAgent to 1 call per second per source IP (SPIRE)', default: true }),
        signing: s.bool({ description: 'Limit X509-SVID signing (per CSR) and JWT-SVID signing to 500 per second per source IP each (SPIRE)', default: true }),
      },
      { description: 'Per-source-IP rate limits on the agent API (SPIRE ratelimit); a caller over a limit waits, up to 10 s, then gets RESOURCE_EXHAUSTED' },
    ),
    // SPIRE keys Herald does not support.
    admin_ids: s.unsupported('admin SPIFFE IDs need the admin API over TLS; Herald serves it only on the admin socket'),
    audit_log_enabled: s.bool({ description: 'Log every API call and agent attestation as one structured line (type=audit): caller, method, request fields that are not secrets, result', default: false }),
    experimental: s.unsupported('SPIRE experimental features are not implemented'),
    disable_jwt_svids: offOnly('Herald always issues JWT-SVIDs'),
    default_svid_ttl: s.unsupported('removed in SPIRE; use default_x509_svid_ttl'),
    use_legacy_downstream_x509_ca_ttl: s.unsupported('downstream CAs are not implemented'),
    log_source_location: s.bool({ description: 'Include source file, line number and function name in log lines', default: false }),
    prune_attested_nodes_expired_for: s.unsupported('attested node pruning is not implemented'),
    prune_tofu_nodes: s.unsupported('attested node pruning is not implemented'),
    proxy_protocol_trusted_cidrs: s.unsupported('the PROXY protocol is not implemented'),
    max_attested_node_info_staleness: s.unsupported('attested node info caching is not implemented'),
    profiling_enabled: offOnly('profiling is not implemented'),
    profiling_port: s.unsupported('profiling is not implemented'),
    profiling_freq: s.unsupported('profiling is not implemented'),
    profiling_names: s.unsupported('profiling is not implemented'),
  },
  {
    description: 'Server settings',
    validate: (v) => {
      const own = TrustDomain.fromString(v.trust_domain);
      const issues: ValidationIssue[] = [];
      for (const key of Object.keys(v.federation.federates_with)) {
        if (TrustDomain.fromString(key).equals(own)) {
          issues.push({ key: 'federation.federates_with', message: `${JSON.stringify(key)} is this server's own trust domain; a server cannot federate with itself` });
        }
      }
      return issues;
    },
  },
);

/** plugins: built from the catalog's BuiltIns (src/server/catalog). */
const plugins = serverPluginsSchema;

/** The herald-server config file schema: every key, its type, default and description. */
export const serverConfigSchema = s.section({
  server: serverSection,
  console: consoleSchema,
  plugins,
  health_checks: healthChecks,
  controller_manager: controllerManagerSection,
  telemetry: telemetrySchema('spire_server'),
});

/** The validated file (plus flag overrides), before conversion to runtime values. */
export type ServerFileConfig = Infer<typeof serverConfigSchema>;

// ---- flags ------------------------------------------------------------------

/** `herald-server run` (and `validate`) flags, SPIRE's names. */
export const serverRunFlags = {
  config: { type: 'string', usage: 'Path to a Herald server config `file`: HCL as SPIRE\'s (.conf, .hcl), YAML or JSON', default: DEFAULT_SERVER_CONFIG_PATH },
  bindAddress: { type: 'string', usage: 'IP address or DNS name of the Herald server' },
  serverPort: { type: 'int', usage: 'Port number of the Herald server' },
  socketPath: { type: 'string', usage: 'Path to bind the admin API socket to' },
  trustDomain: { type: 'string', usage: 'The trust domain that this server belongs to' },
  dataDir: { type: 'string', usage: 'Directory to store runtime data to' },
  logFile: { type: 'string', usage: 'File to write logs to' },
  logFormat: { type: 'string', usage: "'text' or 'json'" },
  logLevel: { type: 'string', usage: "'debug', 'info', 'warn', or 'error'" },
  logSourceLocation: { type: 'bool', usage: 'Include source file, line number and function name in log lines' },
  expandEnv: { type: 'bool', usage: 'Expand environment variables in the config file' },
  allowEmptyDatastore: {
    type: 'bool',
    usage: 'Start even if the datastore is missing or empty although data_dir holds a CA journal or keys from an earlier run (otherwise refused: entries and agents would be lost silently)',
  },
} as const satisfies FlagSpecs;

/** Which config key each run flag overrides. */
export const serverFlagKeys: FlagKeyMap = Object.freeze({
  bindAddress: 'server.bind_address',
  serverPort: 'server.bind_port',
  socketPath: 'server.socket_path',
  trustDomain: 'server.trust_domain',
  dataDir: 'server.data_dir',
  logFile: 'server.log_file',
  logFormat: 'server.log_format',
  logLevel: 'server.log_level',
  logSourceLocation: 'server.log_source_location',
});

// ---- loading ----------------------------------------------------------------

export type { ParsedRunFlags } from '../common/config/load-options.ts';

export interface LoadServerConfigOptions extends LoadConfigOptions {}

/** Reads, validates and converts the server config (flags > file > defaults). Throws ConfigError listing every problem. */
export async function loadServerConfig(options: LoadServerConfigOptions): Promise<ServerRuntimeConfig> {
  const { cwd } = options;
  if (typeof cwd !== 'string' || !isAbsolute(cwd)) throw new TypeError('loadServerConfig: cwd must be an absolute path');
  const flagConfig = options.flags?.values['config'];
  const configPath = options.configPath ?? (typeof flagConfig === 'string' ? flagConfig : DEFAULT_SERVER_CONFIG_PATH);
  const expand = options.expandEnv ?? options.flags?.values['expandEnv'] === true;
  const overrides = [...(options.flags ? flagOverrides(options.flags.values, options.flags.set, serverFlagKeys) : []), ...(options.overrides ?? [])];
  const absPath = resolve(cwd, configPath);
  const text = options.text ?? (await readConfigText(configPath, absPath));
  const filename = options.text !== undefined && options.configPath === undefined ? '<config>' : configPath;
  const file = parseConfig(serverConfigSchema, text, {
    filename,
    expandEnv: expand,
    ...(options.env !== undefined ? { env: options.env } : {}),
    overrides,
  });
  return toServerRuntimeConfig(file, { cwd, configPath: options.text === undefined ? absPath : undefined, filename });
}

