import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppWithDatabase, type AppWithDatabase } from './testing/app-with-database.js';
import { browserTests, CHROMIUM, CHROMIUM_FLAGS } from './testing/chromium.js';
import { repositoryRoot } from './testing/main-process.js';

/** Kept after the run, for people and CI artifacts (gitignored). */
const SCREENSHOT = join(repositoryRoot, 'artifacts', 'docs.png');

const { installed, skip, skipped, missing } = browserTests('docs.browser.test.ts');

describe.skipIf(skip)('/docs in headless Chromium', { meta: { skipped } }, () => {
  let t: AppWithDatabase;
  let origin: string;
  let browser: Browser | undefined;

  beforeAll(async () => {
    // The app as `pnpm start` serves it: API keys on the classic routes too.
    t = await createAppWithDatabase({ seedAuth: 'api-key' });
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    origin = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('shows the reservation route, loads nothing from anywhere else, and keeps a screenshot', async () => {
    if (!installed) {
      throw missing();
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // Every request the page makes, answered only when it stays on this machine's test server.
    const requested: string[] = [];
    await context.route('**/*', async (route) => {
      const url = route.request().url();
      requested.push(url);
      await (url.startsWith(`${origin}/`) ? route.continue() : route.abort('blockedbyclient'));
    });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    // What the Content-Security-Policy refused, as Chromium reports it on the console.
    const refused: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) refused.push(message.text());
    });

    const response = await page.goto(`${origin}/docs`);
    expect(response?.status()).toBe(200);
    // The page works under its own policy: this origin only, no framing.
    const csp = response?.headers()['content-security-policy'];
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('upgrade-insecure-requests');
    await expect.poll(() => page.locator('.swagger-ui .info .title').textContent()).toContain('TicketBoss API');

    const reserve = page.locator('#operations-Reservations-reserveSeats');
    const summary = reserve.locator('.opblock-summary');
    await summary.waitFor();
    expect(await summary.locator('.opblock-summary-method').textContent()).toBe('POST');
    expect(await summary.locator('.opblock-summary-path').getAttribute('data-path')).toBe(
      '/v1/events/{eventId}/reservations',
    );
    // Opened, it shows the body's example and every answer, down to the 503.
    await summary.locator('.opblock-summary-control').click();
    await reserve.locator('.responses-table tr[data-code="503"]').waitFor();
    expect(await reserve.locator('.responses-table tr.response').count()).toBe(12);

    await mkdir(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);

    expect(pageErrors).toEqual([]);
    expect(refused).toEqual([]);
    expect(requested.length).toBeGreaterThan(3);
    for (const url of requested) expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
  }, 60_000);
});
