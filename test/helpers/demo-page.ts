// The demo page in headless Chromium, as the host-process demo and the
// compose demo tests both drive it.
import type { Page } from 'puppeteer-core';
import { launchBrowser } from '../../demo/browser.ts';

/** Opens the page, waits for both domains, makes one mTLS call and returns the calls table's text. */
export async function openAndCallOverMtls(page: Page, url: string): Promise<string> {
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction("document.querySelectorAll('#domains .card').length === 2", { timeout: 15_000 });
  await page.click('#call-mtls');
  await page.waitForFunction("document.querySelector('#calls')?.textContent?.includes('spiffe://web.example/web')", { timeout: 15_000 });
  return page.$eval('#calls', (el) => el.textContent ?? '');
}

/** Runs `fn` with a new page of a fresh headless Chromium, closed afterwards. */
export async function withPage<T>(fn: (page: Page) => Promise<T>): Promise<T> {
  const browser = await launchBrowser();
  try {
    return await fn(await browser.newPage());
  } finally {
    await browser.close();
  }
}
