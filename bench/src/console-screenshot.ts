/**
 * BENCH_CONSOLE_SCREENSHOT=<file.png>: after the measured rounds, the bench sells seats on the churned event (churn
 * that keeps every 10th reservation) and meanwhile opens /console in headless Chromium (Debian's, as the browser
 * tests use it), gives it the admin token, opens the event, lets the live chart run, and saves a screenshot of
 * the page: what docs/console.png shows. Not measured, and not part of the table.
 */
import { existsSync } from 'node:fs';
import { CHROMIUM, CHROMIUM_FLAGS } from '@ticketboss/http-api/testing';
import { chromium } from 'playwright-core';
/** How long the live chart runs before the picture is taken. */
const LIVE_MS = 12_000;

export const consoleScreenshotPath = process.env.BENCH_CONSOLE_SCREENSHOT;

/**
 * Opens the console at `url` while `load` runs (started here, awaited before returning) and writes the screenshot
 * to `path`.
 */
export async function takeConsoleScreenshot(
  url: string,
  adminToken: string,
  eventName: string,
  path: string,
  load: () => Promise<unknown>,
): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`BENCH_CONSOLE_SCREENSHOT needs ${CHROMIUM} (.ci/install-chromium)`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  const loading = load();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, deviceScaleFactor: 1 });
    await page.goto(`${url}/console`);
    await page.locator('#token-input').fill(adminToken);
    await page.locator('#token-form button[type=submit]').click();
    await page.locator('#events-rows tr', { hasText: eventName }).first().click();
    const chart = page.locator('#activity-chart');
    await chart.and(page.locator('[data-last-second]')).waitFor();
    await page.waitForTimeout(LIVE_MS);
    await page.screenshot({ path, fullPage: true });
  } finally {
    await browser.close();
    await loading;
  }
}
