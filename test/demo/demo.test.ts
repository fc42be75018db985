// The demo: `npm run demo -- --check` passes, and the page in headless
// Chromium shows the peer SPIFFE IDs after "call echo", and the row echo read
// from PostgreSQL with its own X509-SVID (CN = the role).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CallResult } from '../../demo/lib/backend.ts';
import { PageClient } from '../../demo/lib/check.ts';
import { ECHO_DB } from '../../demo/lib/echo-db.ts';
import { openAndCallOverMtls, withPage } from '../helpers/demo-page.ts';
import { ROOT } from '../helpers/herald.ts';
import { runCommand, startProcess } from '../helpers/process.ts';

const node = process.execPath;

describe('two-trust-domain demo', () => {
  it('npm run demo -- --check: every step behaves', async () => {
    const res = await runCommand(node, [join(ROOT, 'demo/run.ts'), '--check', '--port', '0'], { cwd: ROOT, timeoutMs: 150_000 });
    expect(res.stdout, res.stderr).toContain('Demo check passed.');
    expect(res.stdout).not.toContain('FAIL');
    // The third hop, off the mesh, is part of the scenario, across the rotation too.
    expect(res.stdout).toContain('ok   echo reads from PostgreSQL, logged in by its X509-SVID as the CN');
    expect(res.stdout).toContain('ok   echo read from PostgreSQL throughout the rotation');
    expect(res.code).toBe(0);
  }, 180_000);

  it('the page shows the peer SPIFFE IDs and echo\'s PostgreSQL read after "call echo over mTLS"; echo\'s SVID from a new CA logs in; Ctrl-C cleans up', async () => {
    const demo = startProcess(node, [join(ROOT, 'demo/run.ts'), '--port', '0'], { cwd: ROOT });
    try {
      const out = await demo.waitForOutput(/Herald demo is running: (http:\/\/\S+)/, 120_000);
      const url = /Herald demo is running: (http:\/\/\S+)/.exec(out)![1]!;
      const dir = /Starting two trust domains in (\S+) /.exec(out)![1]!;
      await withPage(async (page) => {
        const calls = await openAndCallOverMtls(page, url);
        expect(calls).toContain('spiffe://echo.example/echo');
        expect(calls).toContain('200');
        const db = await page.$eval('#calls td.db', (el) => el.textContent ?? '');
        expect(db).toContain(`“${ECHO_DB.greeting}”`);
        expect(db).toContain(`logged in as ${ECHO_DB.role}`);
        expect(db).toMatch(/cert \/O=Herald demo\/CN=echo/);
        const domains = await page.$eval('#domains', (el) => el.textContent ?? '');
        expect(domains).toContain('web.example');
        expect(domains).toContain('echo.example');
      });
      // Across a CA rotation: echo's next SVID comes from the new CA and PostgreSQL, which reloaded
      // ssl_ca_file when that CA was prepared, lets it in; no read fails meanwhile (echo's SVID renews
      // at half its 90 s life: bounded at 90 s and 200 calls).
      const api = new PageClient(url);
      const rotated = await api.rotateEcho();
      const reads: CallResult[] = [];
      const fromNewCa = (c: CallResult) => c.db !== null && !('error' in c.db) && c.db.svidIssuer === rotated.x509;
      const deadline = Date.now() + 90_000;
      while (!reads.some(fromNewCa) && Date.now() < deadline && reads.length < 200) {
        reads.push(await api.call('mtls'));
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(reads.filter((c) => c.status !== 200 || c.db === null || 'error' in c.db)).toEqual([]);
      const last = reads.find(fromNewCa);
      expect(last, `no read with an SVID from the new CA ${rotated.x509} (${reads.length} reads)`).toBeDefined();
      expect(last!.db).toMatchObject({ user: ECHO_DB.role, row: ECHO_DB.greeting });
      // Ctrl-C: everything stops and the directory goes away.
      await demo.stop('SIGINT', 20_000);
      expect(demo.output()).toContain('Stopping the demo');
      const { existsSync } = await import('node:fs');
      expect(existsSync(dir)).toBe(false);
    } finally {
      await demo.stop('SIGKILL');
    }
  }, 180_000);
});
