import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiErrors } from './plugins/errors.js';
import { createMemoryRateLimiter, type RateLimiter } from './plugins/rate-limit.js';
import { createAppWithDatabase, TEST_ADMIN_TOKEN, type AppWithDatabase } from './testing/app-with-database.js';
import { browserTests, CHROMIUM, CHROMIUM_FLAGS } from './testing/chromium.js';
import { repositoryRoot } from './testing/main-process.js';

/** Kept after the run, for people and CI artifacts (gitignored). */
const SCREENSHOT = join(repositoryRoot, 'artifacts', 'console.png');

const { installed, skip, skipped, missing } = browserTests('console.browser.test.ts');

/** Names that would run code if they were ever parsed as markup. */
const EVENT_NAME = 'Jazz <img src=x onerror=window.__x=1> & <b>friends</b>';
const PARTNER_NAME = 'Resale <img src=x onerror=window.__x=2> <script>window.__x=3</script>';

const SELLER = 'console-seller';
/** The partner whose requests past its burst are refused: its bucket's clock never moves. */
const LIMITED = 'console-limited';
const LIMITED_BURST = 3;

/**
 * The rate limit: a tight bucket for LIMITED alone, room for everyone else (the seller's bursts, the page's polls
 * with the admin token), so that exactly the 429s this test provokes are the ones the page must count.
 */
function rateLimit() {
  const tight = createMemoryRateLimiter({ perSecond: 1, burst: LIMITED_BURST }, () => 0);
  const roomy = createMemoryRateLimiter({ perSecond: 10_000, burst: 10_000 });
  const limiter: RateLimiter = {
    consume: (key) => (key === `partner:${LIMITED}` ? tight : roomy).consume(key),
    async close() {
      await Promise.all([tight.close(), roomy.close()]);
    },
  };
  return { policy: { perSecond: 10_000, burst: 10_000 }, limiter };
}

interface EventSummary {
  readonly availableSeats: number;
  readonly reservedSeats: number;
  readonly heldSeats: number;
  readonly totalSeats: number;
}

/** What the page records, by an init script, of the Content-Security-Policy's refusals. */
interface Violation {
  readonly directive: string;
  readonly sample: string;
}

/**
 * The few browser globals the page-side functions below use (this package's TypeScript has no DOM library).
 * Those functions run in the page, where `globalThis` is its window.
 */
interface PageGlobals {
  readonly sessionStorage: { readonly length: number };
  readonly __violations: Violation[];
  readonly __x?: unknown;
  readonly __injected?: unknown;
}

describe.skipIf(skip)('/console in headless Chromium', { meta: { skipped } }, () => {
  let t: AppWithDatabase;
  let origin: string;
  let browser: Browser | undefined;
  let page: Page;
  let eventId: string;
  let sellerKey: string;
  let limitedKey: string;
  const requested: string[] = [];
  const pageErrors: string[] = [];
  const refusedOnConsole: string[] = [];

  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const response = await fetch(`${origin}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };

  /** What GET /v1/events/:eventId says now, as the page formats numbers. */
  const reported = async () => {
    const { status, body } = await call('GET', `/v1/events/${eventId}`, TEST_ADMIN_TOKEN);
    expect(status).toBe(200);
    const summary = body as unknown as EventSummary;
    const shown = (value: number) => value.toLocaleString('en-US');
    return {
      available: shown(summary.availableSeats),
      reserved: shown(summary.reservedSeats),
      held: shown(summary.heldSeats),
      total: shown(summary.totalSeats),
    };
  };

  /** The live view's figures; every reading must add up (one snapshot per answer). */
  const shownFigures = async () => {
    const read = (name: string) => page.getByTestId(`event-${name}`).textContent();
    const [available, reserved, held, total] = await Promise.all([
      read('available'),
      read('reserved'),
      read('held'),
      read('total'),
    ]);
    const number = (text: string | null) => Number((text ?? '').replaceAll(',', ''));
    if (total !== '') expect(number(available) + number(reserved) + number(held)).toBe(number(total));
    return { available, reserved, held, total };
  };

  /** Reservations, holds, a cancellation and a confirmation, over HTTP, as a partner's system would send them. */
  const burst = async (round: number) => {
    const path = `/v1/events/${eventId}/reservations`;
    const made = await Promise.all([
      ...Array.from({ length: 8 }, (_, i) => call('POST', path, sellerKey, { seats: 1 + ((i + round) % 3) })),
      ...Array.from({ length: 3 }, () => call('POST', path, sellerKey, { seats: 2, holdSeconds: 600 })),
    ]);
    expect(made.map((r) => r.status)).toEqual(made.map(() => 201));
    const [cancelled, confirmed] = await Promise.all([
      call('DELETE', `/v1/reservations/${String(made[0]!.body.reservationId)}`, sellerKey),
      call('POST', `/v1/reservations/${String(made[8]!.body.reservationId)}/confirm`, sellerKey),
    ]);
    expect([cancelled.status, confirmed.status]).toEqual([204, 200]);
  };

  /** Reads the page's globals (`read` is sent to the page as source and called with its window). */
  const pageGlobal = <T>(read: (globals: PageGlobals) => T) => page.evaluate<T>(`(${read.toString()})(globalThis)`);

  beforeAll(async () => {
    t = await createAppWithDatabase({ seedAuth: 'api-key', rateLimit: rateLimit() });
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    origin = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    const seller = await t.services.partners.createPartner({ partnerId: SELLER, name: 'Seller' });
    const limited = await t.services.partners.createPartner({ partnerId: LIMITED, name: PARTNER_NAME });
    if (seller.kind !== 'created' || limited.kind !== 'created') throw new Error('partners not created');
    [sellerKey, limitedKey] = [seller.token, limited.token];
    const created = await call('POST', '/v1/events', TEST_ADMIN_TOKEN, {
      name: EVENT_NAME,
      totalSeats: 400,
      maxSeatsPerReservation: 4,
    });
    expect(created.status).toBe(201);
    eventId = String(created.body.eventId);

    if (!installed) return;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
    // Every request the page makes, answered only when it stays on this machine's test server.
    await context.route('**/*', async (route) => {
      const url = route.request().url();
      requested.push(url);
      await (url.startsWith(`${origin}/`) ? route.continue() : route.abort('blockedbyclient'));
    });
    // The policy's refusals as the page itself sees them, from before its first script.
    await context.addInitScript(() => {
      const globals = globalThis as unknown as PageGlobals & {
        document: { addEventListener(type: string, listener: (event: Violation & object) => void): void };
      };
      Object.assign(globals, { __violations: [] });
      globals.document.addEventListener('securitypolicyviolation', (event) => {
        const { effectiveDirective, sample } = event as unknown as { effectiveDirective: string; sample: string };
        globals.__violations.push({ directive: effectiveDirective, sample });
      });
    });
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (/Content Security Policy|Trusted Type/i.test(message.text())) refusedOnConsole.push(message.text());
    });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  const requireChromium = () => {
    if (!installed) {
      throw missing();
    }
  };

  const submitToken = async (token: string) => {
    await page.locator('#token-input').fill(token);
    await page.getByRole('button', { name: 'Open the console' }).click();
  };

  it('asks for the token, and refuses a wrong one and a partner key', async () => {
    requireChromium();
    const response = await page.goto(`${origin}/console`);
    expect(response?.status()).toBe(200);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp.split(';')).toEqual(
      expect.arrayContaining([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
      ]),
    );
    expect(csp).not.toContain('unsafe-inline');
    await expect.poll(() => page.locator('#token-form').isVisible()).toBe(true);
    expect(await page.locator('#console').isVisible()).toBe(false);

    // Each refusal says why, in the API's words: 401 for a token nobody has, 403 for a partner's key.
    for (const [wrong, refusal] of [
      ['not-the-admin-token', apiErrors.unauthorized],
      [sellerKey, apiErrors.adminOnly],
    ] as const) {
      await submitToken(wrong);
      await expect
        .poll(() => page.getByTestId('token-message').textContent())
        .toBe(`Token refused: ${refusal.message}`);
      expect(await page.locator('#token-form').isVisible()).toBe(true);
      expect(await page.locator('#console').isVisible()).toBe(false);
      expect(await pageGlobal((globals) => globals.sessionStorage.length)).toBe(0);
    }
  });

  it('with the admin token, shows the numbers GET /v1/events/:eventId reports while reservations are made', async () => {
    requireChromium();
    await submitToken(TEST_ADMIN_TOKEN);
    const row = page.locator(`#events-rows tr[data-event-id="${eventId}"]`);
    await row.waitFor();
    await row.getByRole('button').click();
    await expect.poll(shownFigures, { timeout: 15_000 }).toEqual(await reported());

    for (let round = 0; round < 3; round += 1) {
      await burst(round);
      // Nothing changes the event between the burst and the next one: the page must come to show this.
      await expect.poll(shownFigures, { timeout: 15_000 }).toEqual(await reported());
    }
    // The events list (refreshed every 5 s) agrees with the live view.
    const expected = await reported();
    const cell = (name: string) => row.getByTestId(`events-${name}`).textContent();
    await expect
      .poll(
        async () => ({
          available: await cell('available'),
          reserved: await cell('reserved'),
          held: await cell('held'),
          total: await cell('total'),
        }),
        { timeout: 15_000 },
      )
      .toEqual(expected);
  });

  it('the live chart advances second by second', async () => {
    requireChromium();
    const chart = page.getByTestId('activity-chart');
    const lastSecond = async () => Number(await chart.getAttribute('data-last-second'));
    const first = await lastSecond();
    expect(first).toBeGreaterThan(0);
    await expect.poll(lastSecond, { timeout: 10_000 }).toBeGreaterThan(first);
    expect(await chart.locator('canvas').count()).toBeGreaterThan(0);
  });

  it("the partners table counts a partner's 429s", async () => {
    requireChromium();
    const statuses: number[] = [];
    for (let i = 0; i < LIMITED_BURST + 5; i += 1) {
      statuses.push((await call('GET', `/v1/events/${eventId}`, limitedKey)).status);
    }
    const refused = statuses.filter((status) => status === 429).length;
    expect(refused).toBe(5);
    const row = page.locator(`#partners-rows tr[data-partner-id="${LIMITED}"]`);
    await expect
      .poll(() => row.getByTestId('partner-rate-limited').textContent(), { timeout: 20_000 })
      .toBe(String(refused));
    expect(await row.getByTestId('partner-requests').textContent()).toBe(String(statuses.length));
  });

  it('shows an event name and a partner name with HTML in them as text', async () => {
    requireChromium();
    const eventRow = page.locator(`#events-rows tr[data-event-id="${eventId}"]`);
    expect(await eventRow.getByTestId('events-name').textContent()).toBe(EVENT_NAME);
    expect(await page.getByTestId('event-name').textContent()).toBe(EVENT_NAME);
    const partnerRow = page.locator(`#partners-rows tr[data-partner-id="${LIMITED}"]`);
    expect(await partnerRow.getByTestId('partner-name').textContent()).toBe(PARTNER_NAME);
    expect(await page.locator('main img, main b, main script').count()).toBe(0);
    expect(await pageGlobal((globals) => globals.__x)).toBeUndefined();
  });

  it('works with no page error and no refusal by its policy, loads nothing from elsewhere, keeps a screenshot', async () => {
    requireChromium();
    await mkdir(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);

    expect(pageErrors).toEqual([]);
    expect(refusedOnConsole).toEqual([]);
    expect(await pageGlobal((globals) => globals.__violations)).toEqual([]);
    expect(requested.length).toBeGreaterThan(5);
    for (const url of requested) {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
      expect(url).not.toContain(TEST_ADMIN_TOKEN);
    }
    expect(requested).toEqual(
      expect.arrayContaining([
        `${origin}/console/assets/vendor/uPlot.iife.min.js`,
        expect.stringMatching(/\/v1\/admin\/events\?/),
        expect.stringMatching(new RegExp(`/v1/admin/events/${eventId}/activity`)),
        expect.stringMatching(/\/v1\/admin\/partners\?/),
      ]),
    );
    expect(await page.context().cookies()).toEqual([]);
  });

  it('the policy blocks an injected inline script, with or without Trusted Types', async () => {
    requireChromium();
    const threw = await page.evaluate(() => {
      const globals = globalThis as unknown as {
        document: {
          createElement(tag: 'script'): { textContent: string | null; text: unknown };
          body: { append(node: unknown): void };
        };
        trustedTypes: {
          createPolicy(
            name: string,
            rules: { createScript(source: string): string },
          ): {
            createScript(source: string): unknown;
          };
        };
      };
      const errors: string[] = [];
      // A plain string as script text: Trusted Types refuse it.
      try {
        const plain = globals.document.createElement('script');
        plain.textContent = 'window.__injected = "plain"';
        globals.document.body.append(plain);
      } catch (error) {
        errors.push(String(error));
      }
      // Script text through a policy made here (as a page's own code could): script-src alone must refuse it.
      const policy = globals.trustedTypes.createPolicy('console-test', { createScript: (source) => source });
      const trusted = globals.document.createElement('script');
      trusted.text = policy.createScript('window.__injected = "trusted"');
      globals.document.body.append(trusted);
      return errors;
    });
    expect(threw).toEqual([expect.stringMatching(/TrustedScript/)]);
    await expect
      .poll(() => pageGlobal((globals) => globals.__violations.map((violation) => violation.directive)))
      .toEqual(['require-trusted-types-for', 'script-src-elem']);
    expect(await pageGlobal((globals) => globals.__injected)).toBeUndefined();
  });

  it('forgets the token when asked, and the data with it', async () => {
    requireChromium();
    await page.getByRole('button', { name: 'Forget token' }).click();
    await expect.poll(() => page.locator('#token-form').isVisible()).toBe(true);
    expect(await pageGlobal((globals) => globals.sessionStorage.length)).toBe(0);
    expect(await page.locator('#events-rows tr, #partners-rows tr').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});
