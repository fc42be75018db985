// The console listener: the token guards every path but /login; /events
// streams a new snapshot every refresh_interval; open pages are capped.
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/wait.ts';
import { MAX_EVENT_STREAMS, startConsoleListener, type ConsoleListener } from '../../../src/server/console/http.ts';

const TOKEN = 'tok-' + 'x'.repeat(40);
let listener: ConsoleListener;
let base: string;
let calls = 0;

beforeEach(async () => {
  calls = 0;
  listener = await startConsoleListener(
    { address: '127.0.0.1', port: 0, refreshIntervalMs: 200, agentAdminSocketPaths: [] },
    { token: TOKEN, snapshot: async () => ({ n: ++calls }), log: pino({ level: 'silent' }) },
  );
  base = `http://127.0.0.1:${listener.port}`;
});
afterEach(async () => {
  await listener.close();
});

const auth = { authorization: `Bearer ${TOKEN}` };

/** Reads SSE frames from an open /events response until `count` snapshots arrived. */
async function snapshots(res: Response, count: number): Promise<unknown[]> {
  const reader = res.body!.getReader();
  const out: unknown[] = [];
  let buf = '';
  const deadline = Date.now() + 5000;
  while (out.length < count && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += new TextDecoder().decode(value);
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = /^event: snapshot\ndata: (.*)$/m.exec(frame);
      if (data) out.push(JSON.parse(data[1]!));
    }
  }
  await reader.cancel();
  return out;
}

describe('console listener', () => {
  it('serves the page and its assets only with the token, with a strict CSP', async () => {
    for (const path of ['/', '/console.js', '/console.css', '/api/snapshot', '/events', '/nope']) expect((await fetch(base + path)).status, path).toBe(401);
    const page = await fetch(base + '/', { headers: auth });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('<script src="/console.js"');
    expect((await fetch(base + '/console.js', { headers: { cookie: `other=1; herald_console_${listener.port}=${TOKEN}` } })).headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await fetch(base + '/nope', { headers: auth })).status).toBe(404);
    // Another console's cookie (another port) is not this one's.
    expect((await fetch(base + '/', { headers: { cookie: `herald_console_1=${TOKEN}` } })).status).toBe(401);
    expect(calls).toBe(0);
  });

  it('streams a fresh snapshot every refresh interval', async () => {
    const res = await fetch(base + '/events', { headers: auth });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const got = (await snapshots(res, 3)) as { n: number }[];
    expect(got).toHaveLength(3);
    expect(got[2]!.n).toBeGreaterThan(got[0]!.n);
  });

  it(`refuses more than ${MAX_EVENT_STREAMS} open pages, and closes with pages open`, async () => {
    const open: Response[] = [];
    for (let i = 0; i < MAX_EVENT_STREAMS; i++) open.push(await fetch(base + '/events', { headers: auth }));
    expect(open.every((r) => r.status === 200)).toBe(true);
    expect((await fetch(base + '/events', { headers: auth })).status).toBe(503);
    // A page that goes away frees its place.
    await open[0]!.body!.cancel();
    await waitFor('a place for one more page', async () => ((await fetch(base + '/events', { headers: auth })).status === 200 ? true : undefined), { timeoutMs: 5000, intervalMs: 50 });
    await listener.close();
  });
});
