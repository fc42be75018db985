// The status console (issue 21) in headless Chromium against real
// processes: a herald-server with a short ca_ttl and a console section, an
// agent whose admin socket the console reads, and a real Envoy over SDS.
// The page needs the token; the slot timeline moves through prepared →
// active; the SDS view shows what Envoy ACKed, what it NACKed with its
// message, and the name the agent held back. UPDATE_CONSOLE_SCREENSHOT=1
// writes docs/console.png (otherwise the screenshot goes to the temp dir).
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../../demo/browser.ts';
import { startEnvoy, type EnvoyHandle } from '../helpers/envoy.ts';
import { sdsBootstrap } from '../helpers/envoy-bootstrap.ts';
import { generateToken, ROOT, SERVER_BIN, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { freePort, freePorts } from '../helpers/ports.ts';
import { runCommand } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const TD = 'example.org';
const NODE = `spiffe://${TD}/node`;
const ENVOY_ID = `spiffe://${TD}/frontend`;
const GID = 4201;

interface Slot { id: string; status: string }

describe('status console (headless Chromium, real server, agent and Envoy)', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let adminDir: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;
  let envoy: EnvoyHandle;
  let browser: Browser;
  let page: Page;
  let base: string;
  let loginUrl: string;
  let consolePort: number;
  /** The X.509 authority the rotation test revoked. */
  let revokedId: string | undefined;

  /** The X.509 slots as the page draws them. */
  const x509Slots = (): Promise<Slot[]> =>
    page.$$eval('#timeline rect[data-kind="x509"]', (rs) => rs.map((r) => ({ id: r.getAttribute('data-id')!, status: r.getAttribute('data-status')! })));

  beforeAll(async () => {
    tmp = await makeTempDir('herald-console-');
    // Outside the Workload API socket's directory, as SPIRE requires of the admin socket.
    adminDir = await makeTempDir('herald-console-admin-');
    const adminSock = join(adminDir.path, 'admin.sock');
    consolePort = await freePort();
    base = `http://127.0.0.1:${consolePort}`;
    // ca_ttl 60s: the next CA is prepared after 30s and activated after 50s;
    // the old one then stays valid 10s, long enough to taint and revoke it.
    server = await startServer({
      dir: tmp.path,
      trustDomain: TD,
      caTtl: '60s',
      x509SvidTtl: '4s',
      jwtSvidTtl: '4s',
      extraTop: `console:\n  port: ${consolePort}\n  refresh_interval: 500ms\n  agent_admin_socket_paths: [${adminSock}]\n`,
    });
    browser = await launchBrowser();
    page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    const url = await runCommand(SERVER_BIN, ['console', 'url', '-config', server.configPath], { cwd: tmp.path });
    expect(url.code, url.stderr).toBe(0);
    loginUrl = url.stdout.trim();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await envoy?.stop();
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
    await adminDir?.cleanup();
  });

  it('refuses every path without the token; the login link trades it for an HttpOnly cookie', async () => {
    expect(loginUrl).toMatch(new RegExp(`^${base}/login\\?token=[A-Za-z0-9_-]{43}$`));
    for (const path of ['/', '/console.js', '/api/snapshot', '/events']) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(401);
      expect(await res.text()).toContain('herald-server console url');
    }
    expect((await fetch(`${base}/login?token=wrong`, { redirect: 'manual' })).status).toBe(401);
    expect((await fetch(`${base}/api/snapshot`, { headers: { cookie: `herald_console_${consolePort}=wrong` } })).status).toBe(401);
    const login = await fetch(loginUrl, { redirect: 'manual' });
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('/');
    expect(login.headers.get('set-cookie')).toMatch(new RegExp(`^herald_console_${consolePort}=[^;]+; Path=/; HttpOnly; SameSite=Strict$`));
    const token = new URL(loginUrl).searchParams.get('token')!;
    const snap = await fetch(`${base}/api/snapshot`, { headers: { authorization: `Bearer ${token}` } });
    expect(snap.status).toBe(200);
    expect(((await snap.json()) as { trustDomain: string }).trustDomain).toBe(TD);
    expect((await fetch(`${base}/api/snapshot`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status).toBe(405);
    // The token never reaches the log.
    expect(server.proc.output()).not.toContain(token);
    // In the browser: without the cookie, the refusal; after the link, the page without the token in the address bar.
    await page.goto(base + '/');
    expect(await page.$eval('body', (b) => b.textContent)).toContain('not logged in');
    await page.goto(loginUrl);
    expect(page.url()).toBe(`${base}/`);
    await page.waitForSelector('#live[data-state="live"]', { timeout: 10_000 });
    expect(await page.$eval('#td', (e) => e.textContent)).toBe(TD);
  }, 30_000);

  it('the slot timeline moves: a prepared X.509 CA becomes active, the former one old, then tainted and revoked; the now-marker advances', async () => {
    await page.goto(loginUrl);
    const first = await waitFor('an active X.509 CA on the page', async () => (await x509Slots()).find((s) => s.status === 'active'), { timeoutMs: 10_000 });
    const nowA = Number(await page.$eval('#now-marker', (g) => g.getAttribute('data-now')));
    const prepared = await waitFor('a prepared X.509 CA on the page', async () => (await x509Slots()).find((s) => s.status === 'prepared'), { timeoutMs: 60_000, intervalMs: 200 });
    expect(prepared.id).not.toBe(first.id);
    // Drawn with the thresholds of the active CA and the JWT key's slots too.
    expect(await page.$$eval('#timeline line.threshold', (l) => l.length)).toBeGreaterThanOrEqual(2);
    expect(await page.$$eval('#timeline rect[data-kind="jwt"]', (l) => l.length)).toBeGreaterThanOrEqual(1);
    await waitFor('the prepared CA active on the page', async () => {
      const slots = await x509Slots();
      return slots.some((s) => s.id === prepared.id && s.status === 'active') && slots.some((s) => s.id === first.id && s.status === 'old');
    }, { timeoutMs: 30_000, intervalMs: 200 });
    expect(Number(await page.$eval('#now-marker', (g) => g.getAttribute('data-now')))).toBeGreaterThan(nowA);

    // Tainting, then revoking, the old CA shows on its bar (from the bundle's flags).
    const bar = `#timeline rect[data-kind="x509"][data-id="${first.id}"]`;
    const attr = (name: string) => page.$eval(bar, (r, n) => r.getAttribute(n), name);
    expect(await attr('data-tainted')).toBeNull();
    const taint = await server.cli('localauthority', 'x509', 'taint', '-authorityID', first.id);
    expect(taint.code, taint.stderr).toBe(0);
    await waitFor('the old CA drawn tainted', async () => ((await attr('data-tainted')) === 'true' ? true : undefined), { timeoutMs: 10_000 });
    const revoke = await server.cli('localauthority', 'x509', 'revoke', '-authorityID', first.id);
    expect(revoke.code, revoke.stderr).toBe(0);
    revokedId = first.id;
    await waitFor('the old CA drawn revoked', async () => ((await attr('data-revoked')) === 'true' ? true : undefined), { timeoutMs: 10_000 });
    expect(await page.$eval(bar, (r) => r.getAttribute('class'))).toContain('revoked');
  }, 120_000);

  it('lists the agent, filters entries, shows a failed federated fetch, and the Envoy\'s ACKed resources over SDS', async () => {
    await page.goto(loginUrl);
    for (const [id, sel] of [[ENVOY_ID, `unix:supplementary_gid:${GID}`], [`spiffe://${TD}/backend`, 'unix:uid:4242']] as const) {
      const r = await server.cli('entry', 'create', '-parentID', NODE, '-spiffeID', id, '-selector', sel);
      expect(r.code, r.stderr).toBe(0);
    }
    const closed = await freePort();
    const fed = await server.cli('federation', 'create', '-trustDomain', 'partner.example', '-bundleEndpointURL', `https://127.0.0.1:${closed}/`, '-bundleEndpointProfile', 'https_web');
    expect(fed.code, fed.stderr).toBe(0);
    // A certificate and a key that do not match, for a resource Envoy must NACK.
    const files = join(tmp.path, 'files');
    await mkdir(files);
    for (const name of ['a', 'b']) {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(files, `${name}.key`), '-out', join(files, `${name}.pem`), '-days', '1', '-subj', `/CN=${name}`], { stdio: 'pipe' });
    }
    await chmod(files, 0o755);
    const token = await generateToken(server, NODE);
    agent = await startAgent({
      dir: tmp.path, server, joinToken: token, syncInterval: '500ms',
      extraAgent: `  admin_socket_path: ${join(adminDir.path, 'admin.sock')}\n  sds: { file_resources: { enabled: true, allowed_dir: ${files} } }\n`,
    });
    const [adminPort, l1, l2, l3, appPort] = await freePorts(5);
    const mismatched = `file-cert:${join(files, 'a.pem')}~${join(files, 'b.key')}`;
    const yaml = sdsBootstrap({
      node: 'frontend-envoy', admin: adminPort!, agentSocket: agent.socketPath, app: appPort!,
      listeners: [{ port: l1!, cert: 'default', validation: 'ROOTCA' }, { port: l2!, cert: mismatched }, { port: l3!, cert: 'no-such-secret' }],
    });
    envoy = await startEnvoy({ dir: tmp.path, name: 'frontend-envoy', yaml, adminPort: adminPort!, prefix: ['setpriv', `--groups=${GID}`, '--'] });

    // SDS, as the agent's admin socket reports it: ACKed, NACKed with Envoy's message, held back.
    const stream = '#sds .envoy[data-node-id="frontend-envoy"]';
    for (const name of ['default', 'ROOTCA']) await page.waitForSelector(`${stream} tr[data-resource="${name}"][data-state="ACKED"]`, { timeout: 30_000 });
    const nack = await page.waitForSelector(`${stream} tr[data-resource="${mismatched}"][data-state="NACKED"]`, { timeout: 30_000 });
    expect(await nack!.$eval('td:last-child', (td) => td.textContent)).toMatch(/key|private|certificate/i);
    const held = await page.waitForSelector(`${stream} tr[data-resource="no-such-secret"][data-state="HELD_BACK"]`, { timeout: 30_000 });
    expect(await held!.$eval('td:last-child', (td) => td.textContent)).toBe('held back: this Envoy is not authorized for it');
    expect(await page.$eval(stream, (e) => e.textContent)).toContain(ENVOY_ID);

    // Agents: attested by join_token, last sync known through the admin socket.
    const agentRow = await page.waitForSelector('#agent-rows tr[data-spiffe-id^="spiffe://example.org/spire/agent/join_token/"]', { timeout: 10_000 });
    const cells = await agentRow!.$$eval('td', (tds) => tds.map((t) => t.textContent));
    expect(cells[1]).toBe('join_token');
    expect(cells[2]).toMatch(/ago$/);
    expect(cells[4]).toBe('attested');

    // Federation: the relationship with its failed fetch and the reason.
    const fedRow = await page.waitForSelector('#fed-rows tr[data-td="partner.example"] .badge.failed', { timeout: 15_000 });
    expect(await fedRow!.evaluate((b) => b.closest('tr')!.textContent)).toMatch(/cannot fetch the bundle of "partner\.example"/);
    expect(await page.$$eval('#fed-timeline circle[data-status="failed"]', (c) => c.length)).toBeGreaterThanOrEqual(1);

    // Entries: both listed, the filter narrows in the page.
    // (token generate -spiffeID also made the node alias entry.)
    const entryIds = () => page.$$eval('#entry-rows tr[data-entry-id] td:first-child', (tds) => tds.map((td) => td.textContent));
    const all = await waitFor('both entries listed', async () => {
      const ids = await entryIds();
      return ids.includes(ENVOY_ID) && ids.includes(`spiffe://${TD}/backend`) ? ids : undefined;
    }, { timeoutMs: 10_000 });
    await page.type('#entry-filter', `gid:${GID}`);
    await waitFor('one entry left by the filter', async () => ((await entryIds()).length === 1 ? true : undefined), { timeoutMs: 5_000 });
    expect(await entryIds()).toEqual([ENVOY_ID]);
    await page.$eval('#entry-filter', (i) => {
      (i as unknown as { value: string }).value = '';
      i.dispatchEvent(new Event('input'));
    });
    await waitFor('the filter cleared', async () => ((await entryIds()).length === all.length ? true : undefined), { timeoutMs: 5_000 });

    // For the picture: the current old CA tainted, as an operator retiring it would.
    const old = (JSON.parse((await server.cli('localauthority', 'x509', 'show', '-output', 'json')).stdout) as { old?: { authority_id: string } }).old;
    if (old && old.authority_id !== revokedId) {
      expect((await server.cli('localauthority', 'x509', 'taint', '-authorityID', old.authority_id)).code).toBe(0);
      await page.waitForSelector(`#timeline rect[data-id="${old.authority_id}"][data-tainted="true"]`, { timeout: 10_000 });
    }
    const out = process.env.UPDATE_CONSOLE_SCREENSHOT === '1' ? join(ROOT, 'docs/console.png') : join(tmp.path, 'console.png');
    await page.screenshot({ path: out as `${string}.png`, fullPage: true });
  }, 90_000);

  it('`console url` names what is missing: no console section, or a server never started with one', async () => {
    const cfg = join(tmp.path, 'no-console.yaml');
    const body = `server: { trust_domain: ${TD}, data_dir: ${join(tmp.path, 'nowhere')} }\nplugins: { DataStore: { sql: { plugin_data: { database_type: sqlite3, connection_string: x } } }, KeyManager: { memory: { plugin_data: {} } }, NodeAttestor: { join_token: { plugin_data: {} } } }\n`;
    await writeFile(cfg, body);
    const none = await runCommand(SERVER_BIN, ['console', 'url', '-config', cfg], { cwd: tmp.path });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('has no console section');
    await writeFile(cfg, body + 'console: { port: 8090 }\n');
    const never = await runCommand(SERVER_BIN, ['console', 'url', '-config', cfg], { cwd: tmp.path });
    expect(never.code).toBe(1);
    expect(never.stderr).toContain(`${join(tmp.path, 'nowhere', 'console.token')} does not exist yet; start the server with this config first`);
  });
});
