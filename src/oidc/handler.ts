// herald-oidc's two endpoints, as SPIRE's oidc-discovery-provider serves
// them (support/oidc-discovery-provider/handler.go):
//   GET <prefix>/.well-known/openid-configuration   the discovery document
//   GET <prefix>/keys                               the JWKS
// The JWKS is the trust domain's JWT authorities, prepared ones included:
// a key is published when it is prepared, before it signs, so a consumer
// that revalidates (Cache-Control: no-cache, with an ETag and Last-Modified
// that change only when the key set does) has it before the first token it
// signs. SPIRE sends no-store; Herald lets caches keep the set and ask
// cheaply (304) instead — the same freshness, fewer bytes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { OidcConfig } from './config.ts';
import type { JwksSource } from './key-sources.ts';

export type HandlerConfig = Pick<OidcConfig, 'domains' | 'jwtIssuer' | 'jwksUri' | 'serverPathPrefix' | 'setKeyUse' | 'allowInsecureScheme' | 'logRequests'>;

/** What SPIFFE JWT authorities sign with (SPIRE lists the same). */
const SIGNING_ALGS = ['RS256', 'ES256', 'ES384'];

const joinPath = (prefix: string, path: string): string => `${prefix.replace(/\/+$/, '')}${path}`;

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': status < 300 ? 'application/json' : 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

export function createOidcHandler(cfg: HandlerConfig, source: JwksSource, log: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  const wellKnownPath = joinPath(cfg.serverPathPrefix, '/.well-known/openid-configuration');
  const keysPath = joinPath(cfg.serverPathPrefix, '/keys');

  const wellKnown = (req: IncomingMessage, res: ServerResponse): void => {
    const hostHeader = req.headers.host ?? '';
    const domain = hostHeader.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
    if (!cfg.domains.includes(domain)) return send(res, 400, `domain ${JSON.stringify(domain)} is not allowed\n`);
    const tls = (req.socket as { encrypted?: boolean }).encrypted === true;
    const scheme = cfg.allowInsecureScheme && !tls && req.headers['x-forwarded-proto'] !== 'https' ? 'http' : 'https';
    const prefix = cfg.serverPathPrefix.replace(/\/+$/, '');
    const issuer = cfg.jwtIssuer ?? `${scheme}://${hostHeader}${prefix}`;
    const jwksUri = cfg.jwksUri?.toString() ?? `${issuer.replace(/\/+$/, '')}/keys`;
    const doc = {
      issuer,
      jwks_uri: jwksUri,
      authorization_endpoint: '',
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: SIGNING_ALGS,
    };
    // Changes only with the provider's config.
    send(res, 200, JSON.stringify(doc, null, 2), { 'Cache-Control': 'public, max-age=300' });
  };

  const keys = (req: IncomingMessage, res: ServerResponse): void => {
    const set = source.current();
    if (set === undefined) return send(res, 503, 'document not available: no JWT bundle received yet\n', { 'Retry-After': '1' });
    const headers = { 'Cache-Control': 'no-cache, must-revalidate', ETag: set.etag, 'Last-Modified': set.modified.toUTCString() };
    const inm = req.headers['if-none-match'];
    const ims = req.headers['if-modified-since'];
    if (inm !== undefined ? inm.split(',').some((t) => t.trim() === set.etag || t.trim() === '*') : ims !== undefined && Date.parse(ims) >= set.modified.getTime()) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const body = { keys: cfg.setKeyUse ? set.keys.map((k) => ({ ...k, use: 'sig' })) : set.keys };
    send(res, 200, JSON.stringify(body, null, 2), headers);
  };

  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (cfg.logRequests) res.on('finish', () => log.info({ method: req.method, path, status: res.statusCode, remote_address: req.socket.remoteAddress }, 'Request'));
    if (path !== wellKnownPath && path !== keysPath) return send(res, 404, 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
    if (path === wellKnownPath) wellKnown(req, res);
    else keys(req, res);
  };
}
