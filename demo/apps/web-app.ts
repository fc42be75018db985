// The web app: the demo's page, and the API behind its buttons.
//   node demo/apps/web-app.ts  (standalone, as in docker-compose; configured by
//   WEB_ENVOY_URL, WEB_ENVOY_ADMIN, ECHO_ENVOY_ADMIN, WEB_SERVER_SOCKET,
//   ECHO_SERVER_SOCKET and PORT)
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { DemoBackend, type CallMode } from '../lib/backend.ts';

const page = (): string => readFileSync(join(import.meta.dirname, 'page.html'), 'utf8');

export function startWebApp(port: number, backend: DemoBackend, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const json = (status: number, body: unknown): void => void res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
    const fail = (err: unknown): void => json(500, { error: (err as Error).message });
    if (req.method === 'GET' && url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page());
    } else if (req.method === 'GET' && url.pathname === '/api/state') {
      backend.state().then((s) => json(200, s), fail);
    } else if (req.method === 'POST' && url.pathname === '/api/call') {
      const mode = url.searchParams.get('mode') as CallMode;
      if (!['mtls', 'jwt', 'forged'].includes(mode)) return json(400, { error: 'mode must be mtls, jwt or forged' });
      backend.call(mode).then((r) => json(200, r), fail);
    } else if (req.method === 'POST' && url.pathname === '/api/rotate') {
      backend.rotateEcho().then((r) => json(200, r), fail);
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

if (import.meta.main) {
  const env = (k: string): string => {
    const v = process.env[k];
    if (!v) throw new Error(`web app: ${k} is not set`);
    return v;
  };
  const backend = new DemoBackend({
    webEnvoyUrl: env('WEB_ENVOY_URL'),
    envoyAdmin: { web: env('WEB_ENVOY_ADMIN'), echo: env('ECHO_ENVOY_ADMIN') },
    serverSocket: { web: env('WEB_SERVER_SOCKET'), echo: env('ECHO_SERVER_SOCKET') },
  });
  const port = Number(process.env.PORT ?? 8080);
  await startWebApp(port, backend, '0.0.0.0');
  console.log(`web app on :${port}`);
}
