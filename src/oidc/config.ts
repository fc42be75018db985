// herald-oidc's config: SPIRE's oidc-discovery-provider keys
// (support/oidc-discovery-provider/config.go), in HCL, YAML or JSON. One
// key source (server_api: the server's admin socket; workload_api: an
// agent's Workload API) and one listener (serving_cert_file: HTTPS with a
// certificate from files; insecure_addr: plain HTTP behind a TLS proxy;
// listen_socket_path: HTTP on a Unix socket). ACME is SPIRE's other
// certificate source; it needs the public internet, so Herald refuses it
// with that reason — the certificate source is an interface
// (serving-cert.ts), and a new one is one more section here.
import { isAbsolute, resolve } from 'node:path';
import { s, type Infer, type ValidationIssue } from '../common/config/index.ts';
import { TrustDomain } from '../spiffe/trust-domain.ts';

const addrProblem = (v: string): string | undefined => (/^(\[[^\]]*\]|[^:]*):\d{1,5}$/.test(v) && Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535 ? undefined : `${JSON.stringify(v)} is not host:port`);

const urlProblem = (what: string) => (v: string): string | undefined => {
  if (v === '') return undefined;
  try {
    const u = new URL(v);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return `${what} must be an http(s) URL`;
    return undefined;
  } catch {
    return `${what} ${JSON.stringify(v)} is not a URL`;
  }
};

export const oidcConfigSchema = s.section(
  {
    log_level: s.enum(['DEBUG', 'INFO', 'WARN', 'ERROR'], { description: 'Log level', default: 'INFO', caseInsensitive: true }),
    log_format: s.enum(['text', 'json'], { description: 'Log format', default: 'text', caseInsensitive: true }),
    log_requests: s.bool({ description: 'Log every HTTP request (method, path, status)', default: false }),
    domains: s.stringList({ description: 'Host names the provider answers for (the Host header); others get 400', validate: (v) => (v.length === 0 ? 'at least one domain is required' : undefined) }),
    jwt_issuer: s.string({ description: 'The discovery document\'s issuer; empty: https://<Host header>. Set the server\'s jwt_issuer to the same URL', default: '', validate: urlProblem('jwt_issuer') }),
    jwks_uri: s.string({ description: 'The discovery document\'s jwks_uri; empty: <issuer>/keys', default: '', validate: urlProblem('jwks_uri') }),
    server_path_prefix: s.string({ description: 'Path prefix of both endpoints (behind a proxy that routes on it)', default: '' }),
    set_key_use: s.bool({ description: 'Set "use": "sig" on every key of the JWKS', default: false }),
    allow_insecure_scheme: s.bool({ description: 'With insecure_addr or listen_socket_path: say http:// in the discovery document for plain HTTP requests', default: false }),
    insecure_addr: s.string({ description: 'Serve plain HTTP on host:port (behind a TLS-terminating proxy)', validate: addrProblem }),
    listen_socket_path: s.path({ description: 'Serve plain HTTP on this Unix socket (behind a proxy)' }),
    serving_cert_file: s.section(
      {
        cert_file_path: s.path({ description: 'Certificate chain (PEM), re-read when it changes', required: true }),
        key_file_path: s.path({ description: 'Private key (PEM)', required: true }),
        addr: s.string({ description: 'host:port of the HTTPS listener', default: ':443', validate: addrProblem }),
        file_sync_interval: s.duration({ description: 'How often the files are checked for changes', default: '1m', min: '100ms' }),
      },
      { optional: true, description: 'HTTPS with a certificate from files (the pluggable certificate source Herald ships)' },
    ),
    acme: s.unsupported('ACME is not implemented by herald-oidc; use serving_cert_file with a certificate renewed by certbot or cert-manager (the provider reloads it)'),
    server_api: s.section(
      {
        address: s.string({ description: 'The server\'s admin socket: unix:///path/to/api.sock or the path', required: true }),
        poll_interval: s.duration({ description: 'How often the bundle is fetched', default: '10s', min: '100ms' }),
      },
      { optional: true, description: 'Read the JWT authorities from herald-server\'s (or spire-server\'s) admin socket' },
    ),
    workload_api: s.section(
      {
        socket_path: s.path({ description: 'The agent\'s Workload API socket', required: true }),
        trust_domain: s.string({ description: 'Whose JWT bundle to serve', required: true, validate: (v) => { try { TrustDomain.fromString(v); return undefined; } catch (err) { return (err as Error).message; } } }),
        poll_interval: s.duration({ description: 'Accepted for SPIRE configs; the bundle arrives on a stream, so changes show at once', default: '10s' }),
      },
      { optional: true, description: 'Read the JWT bundle from an agent\'s Workload API (FetchJWTBundles stream)' },
    ),
    health_checks: s.unsupported('not served by herald-oidc yet; probe /.well-known/openid-configuration instead'),
  },
  {
    validate: (v) => {
      const issues: ValidationIssue[] = [];
      const sources = [v.server_api && 'server_api', v.workload_api && 'workload_api'].filter(Boolean);
      if (sources.length !== 1) issues.push({ message: `exactly one of server_api or workload_api must be configured, found ${sources.length === 0 ? 'none' : sources.join(' and ')}` });
      const listeners = [v.serving_cert_file && 'serving_cert_file', v.insecure_addr && 'insecure_addr', v.listen_socket_path && 'listen_socket_path'].filter(Boolean);
      if (listeners.length !== 1) issues.push({ message: `exactly one of serving_cert_file, insecure_addr or listen_socket_path must be configured, found ${listeners.length === 0 ? 'none' : listeners.join(' and ')}` });
      if (v.allow_insecure_scheme && v.serving_cert_file) issues.push({ key: 'allow_insecure_scheme', message: 'only applies to insecure_addr or listen_socket_path' });
      return issues;
    },
  },
);

export type OidcFileConfig = Infer<typeof oidcConfigSchema>;

export type KeySourceConfig = { kind: 'server_api'; socketPath: string; pollIntervalMs: number } | { kind: 'workload_api'; socketPath: string; trustDomain: TrustDomain };
export type ListenerConfig =
  | { kind: 'https'; host: string; port: number; certFile: string; keyFile: string; fileSyncIntervalMs: number }
  | { kind: 'http'; host: string; port: number }
  | { kind: 'unix'; socketPath: string };

export interface OidcConfig {
  readonly logLevel: string;
  readonly logFormat: 'text' | 'json';
  readonly logRequests: boolean;
  readonly domains: readonly string[];
  /** As configured: the iss of the JWT-SVIDs, compared as a string. */
  readonly jwtIssuer: string | undefined;
  readonly jwksUri: URL | undefined;
  readonly serverPathPrefix: string;
  readonly setKeyUse: boolean;
  readonly allowInsecureScheme: boolean;
  readonly source: KeySourceConfig;
  readonly listener: ListenerConfig;
}

function hostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
  return { host: host === '' ? '0.0.0.0' : host, port: Number(addr.slice(i + 1)) };
}

/** The validated file → runtime config (absolute paths, URLs parsed). */
export function toOidcConfig(f: OidcFileConfig, cwd: string): OidcConfig {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  const source: KeySourceConfig = f.server_api
    ? { kind: 'server_api', socketPath: abs(f.server_api.address.replace(/^unix:\/\//, '')), pollIntervalMs: f.server_api.poll_interval }
    : { kind: 'workload_api', socketPath: abs(f.workload_api!.socket_path), trustDomain: TrustDomain.fromString(f.workload_api!.trust_domain) };
  const listener: ListenerConfig = f.serving_cert_file
    ? { kind: 'https', ...hostPort(f.serving_cert_file.addr), certFile: abs(f.serving_cert_file.cert_file_path), keyFile: abs(f.serving_cert_file.key_file_path), fileSyncIntervalMs: f.serving_cert_file.file_sync_interval }
    : f.insecure_addr
      ? { kind: 'http', ...hostPort(f.insecure_addr) }
      : { kind: 'unix', socketPath: abs(f.listen_socket_path!) };
  return Object.freeze({
    logLevel: f.log_level,
    logFormat: f.log_format,
    logRequests: f.log_requests,
    domains: f.domains,
    jwtIssuer: f.jwt_issuer || undefined,
    jwksUri: f.jwks_uri ? new URL(f.jwks_uri) : undefined,
    serverPathPrefix: f.server_path_prefix,
    setKeyUse: f.set_key_use,
    allowInsecureScheme: f.allow_insecure_scheme,
    source,
    listener,
  });
}
