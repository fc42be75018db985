// herald-oidc's HTTP handler on a real HTTP server, with a key set held by
// the test: the document's URLs for each config (SPIRE's handler rules),
// the JWKS's conditional requests, and what SPIRE answers for other
// methods and paths.
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createOidcHandler, type HandlerConfig } from '../../src/oidc/handler.ts';
import { oidcJwk, type JwksSource, type KeySet } from '../../src/oidc/key-sources.ts';

const BASE: HandlerConfig = { domains: ['oidc.example.org'], jwtIssuer: undefined, jwksUri: undefined, serverPathPrefix: '', setKeyUse: false, allowInsecureScheme: false, logRequests: false };
const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
const SET: KeySet = { keys: [oidcJwk(ec, 'k-ec'), oidcJwk(rsa, 'k-rsa')], modified: new Date('2026-01-02T03:04:05Z'), etag: '"abc"' };

let server: Server | undefined;
afterEach(async () => {
  server?.close();
  server = undefined;
});

async function serve(cfg: Partial<HandlerConfig>, set: KeySet | null = SET): Promise<number> {
  const source: JwksSource = { current: () => set ?? undefined, ready: async () => undefined, close: () => undefined };
  server = createServer(createOidcHandler({ ...BASE, ...cfg }, source, pino({ level: 'silent' })));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { host: 'oidc.example.org', ...headers } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('discovery document', () => {
  it.each([
    ['defaults: https://<Host>', {}, {}, 'https://oidc.example.org', 'https://oidc.example.org/keys'],
    ['jwt_issuer', { jwtIssuer: 'https://issuer.example/td' }, {}, 'https://issuer.example/td', 'https://issuer.example/td/keys'],
    ['jwks_uri', { jwksUri: new URL('https://cdn.example/jwks.json') }, {}, 'https://oidc.example.org', 'https://cdn.example/jwks.json'],
    ['server_path_prefix', { serverPathPrefix: '/oidc' }, {}, 'https://oidc.example.org/oidc', 'https://oidc.example.org/oidc/keys'],
    ['allow_insecure_scheme over plain HTTP', { allowInsecureScheme: true }, {}, 'http://oidc.example.org', 'http://oidc.example.org/keys'],
    ['allow_insecure_scheme behind an HTTPS proxy', { allowInsecureScheme: true }, { 'x-forwarded-proto': 'https' }, 'https://oidc.example.org', 'https://oidc.example.org/keys'],
  ])('%s', async (_what, cfg, headers, issuer, jwksUri) => {
    const port = await serve(cfg);
    const prefix = (cfg as Partial<HandlerConfig>).serverPathPrefix ?? '';
    const r = await get(port, `${prefix}/.well-known/openid-configuration`, headers);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ issuer, jwks_uri: jwksUri, authorization_endpoint: '' });
  });

  it('refuses other hosts, and answers 404/405 elsewhere', async () => {
    const port = await serve({});
    expect((await get(port, '/.well-known/openid-configuration', { host: 'other.example:443' })).status).toBe(400);
    expect((await get(port, '/.well-known/openid-configuration', { host: 'oidc.example.org:8443' })).status).toBe(200);
    expect((await get(port, '/nope')).status).toBe(404);
    const post = await get(port, '/keys', {}, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });
});

describe('JWKS', () => {
  it('serves OIDC keys: material, kid and alg, no SPIFFE `use`', async () => {
    const port = await serve({});
    const keys = JSON.parse((await get(port, '/keys')).body).keys as Record<string, string>[];
    expect(keys.map((k) => [k.kid, k.alg, k.use])).toEqual([
      ['k-ec', 'ES384', undefined],
      ['k-rsa', 'RS256', undefined],
    ]);
    expect(Object.keys(keys[1]!).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n']);
  });

  it('sets use: sig with set_key_use', async () => {
    const port = await serve({ setKeyUse: true });
    const keys = JSON.parse((await get(port, '/keys')).body).keys as Record<string, string>[];
    expect(keys.every((k) => k.use === 'sig')).toBe(true);
  });

  it('answers conditional requests with 304 until the set changes', async () => {
    const port = await serve({});
    const r = await get(port, '/keys');
    expect(r.headers).toMatchObject({ 'cache-control': 'no-cache, must-revalidate', etag: '"abc"', 'last-modified': 'Fri, 02 Jan 2026 03:04:05 GMT' });
    expect((await get(port, '/keys', { 'if-none-match': '"old", "abc"' })).status).toBe(304);
    expect((await get(port, '/keys', { 'if-none-match': '"old"' })).status).toBe(200);
    expect((await get(port, '/keys', { 'if-modified-since': 'Fri, 02 Jan 2026 03:04:05 GMT' })).status).toBe(304);
    expect((await get(port, '/keys', { 'if-modified-since': 'Fri, 02 Jan 2026 03:04:04 GMT' })).status).toBe(200);
  });

  it('is 503 with Retry-After until the first bundle arrives', async () => {
    const port = await serve({}, null);
    const r = await get(port, '/keys');
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('1');
  });
});
