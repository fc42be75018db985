// Headless Chromium (Debian's package) driven by puppeteer-core: used by the
// demo's page test and to take the screenshot in demo/README.md.
//   node demo/browser.ts screenshot URL OUT.png   (clicks the call buttons first)
import puppeteer, { type Browser } from 'puppeteer-core';
import { chromiumPath } from './lib/tools.ts';

export { chromiumPath };

export function launchBrowser(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Running as root in CI containers needs --no-sandbox.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

if (import.meta.main && process.argv[2] === 'screenshot') {
  const [url, out] = process.argv.slice(3);
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    await page.goto(url!, { waitUntil: 'networkidle2' });
    for (const id of ['#call-mtls', '#call-jwt', '#call-forged']) {
      await page.click(id);
      await new Promise((r) => setTimeout(r, 700));
    }
    await new Promise((r) => setTimeout(r, 1200));
    await page.screenshot({ path: out!, fullPage: true });
    console.log(`wrote ${out}`);
  } finally {
    await browser.close();
  }
}
