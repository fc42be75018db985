// The demo: `npm run demo -- --check` passes, and the page in headless
// Chromium shows the peer SPIFFE IDs after "call echo".
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { launchBrowser } from '../../demo/browser.ts';
import { ROOT } from '../helpers/herald.ts';
import { runCommand, startProcess } from '../helpers/process.ts';

const node = process.execPath;

describe('two-trust-domain demo', () => {
  it('npm run demo -- --check: every step behaves', async () => {
    const res = await runCommand(node, [join(ROOT, 'demo/run.ts'), '--check', '--port', '0'], { cwd: ROOT, timeoutMs: 150_000 });
    expect(res.stdout, res.stderr).toContain('Demo check passed.');
    expect(res.stdout).not.toContain('FAIL');
    expect(res.code).toBe(0);
  }, 180_000);

  it('the page shows the peer SPIFFE IDs after "call echo over mTLS", and Ctrl-C cleans up', async () => {
    const demo = startProcess(node, [join(ROOT, 'demo/run.ts'), '--port', '0'], { cwd: ROOT });
    try {
      const out = await demo.waitForOutput(/Herald demo is running: (http:\/\/\S+)/, 120_000);
      const url = /Herald demo is running: (http:\/\/\S+)/.exec(out)![1]!;
      const dir = /Starting two trust domains in (\S+) /.exec(out)![1]!;
      const browser = await launchBrowser();
      try {
        const page = await browser.newPage();
        await page.goto(url, { waitUntil: 'domcontentloaded' });
        await page.waitForFunction("document.querySelectorAll('#domains .card').length === 2", { timeout: 15_000 });
        await page.click('#call-mtls');
        await page.waitForFunction("document.querySelector('#calls')?.textContent?.includes('spiffe://web.example/web')", { timeout: 15_000 });
        const calls = await page.$eval('#calls', (el) => el.textContent ?? '');
        expect(calls).toContain('spiffe://echo.example/echo');
        expect(calls).toContain('200');
        const domains = await page.$eval('#domains', (el) => el.textContent ?? '');
        expect(domains).toContain('web.example');
        expect(domains).toContain('echo.example');
      } finally {
        await browser.close();
      }
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
