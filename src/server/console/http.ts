// The console's HTTP listener: the page (static HTML/CSS/JS, no build step),
// the trust domain's view as JSON (/api/snapshot) and as server-sent events
// (/events, one shared snapshot per refresh_interval while a page is open).
// Every path but /login needs the token: /login?token=… trades it for an
// HttpOnly, SameSite=Strict cookie and redirects to the page, so the token
// leaves the address bar; scripts may send `Authorization: Bearer <token>`.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { HeraldError, errorMessage } from '../../common/errors.ts';
import type { ConsoleConfig } from './config.ts';
import { LOGIN_PATH, tokenMatches } from './token.ts';

// node:http through require, as health-listener.ts (its ESM namespace loads undici).
const { createServer } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

/** Cookies ignore ports: each console's cookie is named after its port, so two servers on one host do not log each other out. */
export const cookieName = (port: number): string => `herald_console_${port}`;
/** Open pages at once; more get 503 (each holds a connection). */
export const MAX_EVENT_STREAMS = 16;

const STATIC: Record<string, string> = { '/': 'index.html', '/console.js': 'console.js', '/console.css': 'console.css' };
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export interface ConsoleListener {
  readonly port: number;
  close(): Promise<void>;
}

export interface ConsoleHttpDeps {
  readonly token: string;
  readonly snapshot: () => Promise<unknown>;
  readonly log: Logger;
}

function cookieToken(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

function bearerToken(req: IncomingMessage): string | undefined {
  const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
  return m?.[1];
}

export async function startConsoleListener(cfg: ConsoleConfig, deps: ConsoleHttpDeps): Promise<ConsoleListener> {
  const files = new Map(Object.entries(STATIC).map(([path, name]) => [path, { body: readFileSync(join(import.meta.dirname, 'static', name)), type: TYPES[name.split('.').pop()!]! }]));
  const streams = new Set<ServerResponse>();
  let timer: NodeJS.Timeout | undefined;
  // Known once listening, before the first request.
  let cookie = '';

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, ...extra }).end(body);
  };
  const refuse = (res: ServerResponse, why: string): void =>
    send(res, 401, 'text/plain; charset=utf-8', `herald console: ${why}\nOpen the link that \`herald-server console url -config <server config>\` prints.\n`);

  // One snapshot per tick for every open page; the timer runs only while pages are open.
  const broadcast = async (): Promise<void> => {
    let frame: string;
    try {
      frame = `event: snapshot\ndata: ${JSON.stringify(await deps.snapshot())}\n\n`;
    } catch (err) {
      deps.log.warn({ err: errorMessage(err) }, 'Console snapshot failed');
      frame = `event: failure\ndata: ${JSON.stringify({ error: errorMessage(err) })}\n\n`;
    }
    for (const res of streams) res.write(frame);
  };
  const tick = (): void => {
    timer = setTimeout(() => void broadcast().finally(() => (streams.size > 0 ? tick() : (timer = undefined))), cfg.refreshIntervalMs);
  };

  const openStream = (res: ServerResponse): void => {
    if (streams.size >= MAX_EVENT_STREAMS) return send(res, 503, 'text/plain; charset=utf-8', `herald console: at most ${MAX_EVENT_STREAMS} pages may be open at once\n`);
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', connection: 'keep-alive' });
    res.write(`retry: ${Math.max(1000, cfg.refreshIntervalMs)}\n\n`);
    streams.add(res);
    // The response closes when the page goes away (the request may count as complete before).
    res.on('close', () => streams.delete(res));
    // The first view at once, then every tick.
    void deps.snapshot().then((s) => res.write(`event: snapshot\ndata: ${JSON.stringify(s)}\n\n`), () => undefined);
    if (timer === undefined) tick();
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://console');
    if (req.method !== 'GET') return send(res, 405, 'text/plain; charset=utf-8', 'herald console: only GET\n', { allow: 'GET' });
    if (url.pathname === LOGIN_PATH) {
      if (!tokenMatches(deps.token, url.searchParams.get('token') ?? undefined)) return refuse(res, 'wrong or missing token');
      return send(res, 303, 'text/plain; charset=utf-8', 'logged in\n', {
        location: '/',
        'set-cookie': `${cookie}=${encodeURIComponent(deps.token)}; Path=/; HttpOnly; SameSite=Strict`,
      });
    }
    if (!tokenMatches(deps.token, cookieToken(req, cookie) ?? bearerToken(req))) return refuse(res, 'not logged in');
    const file = files.get(url.pathname);
    if (file) return send(res, 200, file.type, file.body);
    if (url.pathname === '/api/snapshot') {
      void deps.snapshot().then(
        (s) => send(res, 200, 'application/json', JSON.stringify(s)),
        (err: unknown) => send(res, 500, 'application/json', JSON.stringify({ error: errorMessage(err) })),
      );
      return;
    }
    if (url.pathname === '/events') return openStream(res);
    send(res, 404, 'text/plain; charset=utf-8', 'herald console: not found\n');
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (err) => reject(new HeraldError('ERR_UNAVAILABLE_LISTEN', `console: cannot listen on ${cfg.address}:${cfg.port}: ${errorMessage(err)}`, { cause: err })));
    server.listen(cfg.port, cfg.address, () => resolve((server.address() as { port: number }).port));
  });
  cookie = cookieName(port);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        clearTimeout(timer);
        for (const res of streams) res.end();
        streams.clear();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
