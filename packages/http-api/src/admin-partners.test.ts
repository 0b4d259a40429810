import { waitUntil } from '@ticketboss/adapters-postgres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryRateLimiter } from './plugins/rate-limit.js';
import { createAppWithDatabase, type AppWithDatabase } from './testing/app-with-database.js';
import { admin, bearer, expectError, uniqueId, useApiKeyApp, v1Calls } from './testing/v1-api.js';
import { registerWebhook } from './testing/webhooks.js';

/**
 * The console's partners table, GET /v1/admin/partners, fed by the partner activity each app counts and flushes to
 * the database about once a second; and what all the /v1/admin routes refuse.
 */
const t = useApiKeyApp();
const { call, newEvent } = v1Calls(t);
const register = registerWebhook(call);

interface FailingWebhookLine {
  webhookId: string;
  url: string;
  enabled: boolean;
  failingSince: string | null;
  disabledReason: string | null;
  lastError: string | null;
  lastAttemptAt: string | null;
}
interface PartnerLine {
  partnerId: string;
  name: string;
  requests: number;
  reservations: number;
  seats: number;
  refusals: number;
  rateLimited: number;
  lastRequestAt: string | null;
  failingWebhooks: FailingWebhookLine[];
}
interface PartnersPage {
  items: PartnerLine[];
  nextCursor: string | null;
}

/** The partner's line of the table (over `window`), walking its pages as a client would. */
async function lineOf(partnerId: string, window = '15m'): Promise<PartnerLine | undefined> {
  let cursor: string | null = null;
  do {
    const query: string = `window=${window}&limit=100${cursor === null ? '' : `&cursor=${cursor}`}`;
    const response = await call('GET', `/v1/admin/partners?${query}`, admin);
    expect(response.statusCode).toBe(200);
    const page = response.json<PartnersPage>();
    const line = page.items.find((item) => item.partnerId === partnerId);
    if (line) return line;
    cursor = page.nextCursor;
  } while (cursor !== null);
  return undefined;
}

/** Waits (with a deadline) until the flushed counts of the partner are `expected`, then answers its line. */
async function waitForCounts(partnerId: string, expected: Partial<PartnerLine>): Promise<PartnerLine> {
  let line: PartnerLine | undefined;
  const matches = () => Object.entries(expected).every(([key, value]) => line?.[key as keyof PartnerLine] === value);
  await waitUntil(
    async () => {
      line = await lineOf(partnerId);
      return matches();
    },
    `partner ${partnerId} counted as ${JSON.stringify(expected)}`,
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}; last seen ${JSON.stringify(line)}`);
  });
  return line!;
}

const routes = ['/v1/admin/events', '/v1/admin/events/node-meetup-2025/activity', '/v1/admin/partners'];

describe('the /v1/admin routes', () => {
  it.each(routes)('%s answers 401 without a token and 403 to a partner key, never to be cached', async (url) => {
    const token = await t.createPartner(uniqueId('adm'));
    const none = await call('GET', url);
    expectError(none, 401, 'UNAUTHORIZED');
    expect(none.headers['cache-control']).toBe('no-store');
    const partner = await call('GET', url, bearer(token));
    expectError(partner, 403, 'FORBIDDEN', 'This route needs the admin token');
    expect(partner.headers['cache-control']).toBe('no-store');
  });

  it.each([
    ['/v1/admin/events/node-meetup-2025/activity?seconds=0', 'seconds must be a whole number from 1 to 900'],
    ['/v1/admin/events/node-meetup-2025/activity?seconds=901', 'seconds must be a whole number from 1 to 900'],
    ['/v1/admin/events/node-meetup-2025/activity?seconds=1.5', 'seconds must be a whole number from 1 to 900'],
    ['/v1/admin/events/node-meetup-2025/activity?seconds=', 'seconds must be a whole number from 1 to 900'],
    ['/v1/admin/partners?window=2h', 'window must be one of 15m, 1h, 6h, 24h'],
    ['/v1/admin/partners?window=', 'window must be one of 15m, 1h, 6h, 24h'],
    ['/v1/admin/partners?limit=0', 'limit must be a whole number from 1 to 100'],
    ['/v1/admin/partners?cursor=bm9wZQ', 'cursor is invalid; pass back a nextCursor as is'],
    ['/v1/admin/events?limit=101', 'limit must be a whole number from 1 to 100'],
  ])('%s answers 400 naming the field', async (url, message) => {
    const response = await call('GET', url, admin);
    expectError(response, 400, 'VALIDATION_ERROR', message);
    expect(response.headers['cache-control']).toBe('no-store');
  });
});

describe('GET /v1/admin/partners', () => {
  it('lists an idle partner with zeros and no last request', async () => {
    const partnerId = uniqueId('idle');
    await t.createPartner(partnerId);
    const response = await call('GET', '/v1/admin/partners?window=24h&limit=100', admin);
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(await lineOf(partnerId, '24h')).toEqual({
      partnerId,
      name: `Partner ${partnerId}`,
      requests: 0,
      reservations: 0,
      seats: 0,
      refusals: 0,
      rateLimited: 0,
      lastRequestAt: null,
      failingWebhooks: [],
    });
  });

  it("shows a partner's failing endpoint with its last error, and not its healthy one", async () => {
    const partnerId = uniqueId('hook');
    const token = await t.createPartner(partnerId);
    const failing = await register(token);
    await register(token);
    const test = await call('POST', `/v1/webhooks/${failing.webhookId}/test`, bearer(token));
    expect(test.statusCode).toBe(202);
    const loaded = await t.services.webhooks.loadForAttempt(test.json<{ deliveryId: string }>().deliveryId);
    const attemptedAt = t.services.clock.now();
    await t.services.webhooks.recordAttempt(loaded!.delivery, attemptedAt, {
      kind: 'failed',
      statusCode: 503,
      durationMs: 12,
      error: 'HTTP 503',
      retryAt: undefined,
      disableReason: undefined,
    });
    const line = await lineOf(partnerId);
    expect(line?.failingWebhooks).toEqual([
      {
        webhookId: failing.webhookId,
        url: failing.url,
        enabled: true,
        failingSince: attemptedAt.toISOString(),
        disabledReason: null,
        lastError: 'HTTP 503',
        lastAttemptAt: attemptedAt.toISOString(),
      },
    ]);
  });

  it('pages through every partner with nextCursor', async () => {
    const own = await createAppWithDatabase({ seedAuth: 'api-key', partnerActivity: false });
    try {
      const ids = ['p-a', 'p-b', 'p-c', 'p-d', 'p-e'];
      for (const id of ids) await own.createPartner(id);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const url: string = `/v1/admin/partners?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`;
        const response = await call('GET', url, admin, undefined, own.app);
        expect(response.statusCode).toBe(200);
        const page = response.json<PartnersPage>();
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items.map((item) => item.partnerId));
        cursor = page.nextCursor;
      } while (cursor !== null);
      expect(seen).toEqual(ids);
    } finally {
      await own.close();
    }
  });
});

describe("a partner's activity, counted by an app with a tight rate limit", () => {
  const policy = { perSecond: 1, burst: 9 };
  let limited: AppWithDatabase;

  beforeAll(async () => {
    // Its rate limiter's time stands still: exactly `burst` requests of a partner get through.
    limited = await createAppWithDatabase({
      database: t.database,
      seedAuth: 'api-key',
      rateLimit: { policy, limiter: createMemoryRateLimiter(policy, () => 0) },
    });
  });
  afterAll(() => limited?.close());

  it('counts its requests, reservations and holds and their seats, refusals and 429s; a replay once', async () => {
    const partnerId = uniqueId('busy');
    const token = await t.createPartner(partnerId);
    const eventId = await newEvent(8, 10);
    const post = (url: string, body: unknown, key?: string) =>
      call('POST', url, { ...bearer(token), ...(key ? { 'idempotency-key': key } : {}) }, body, limited.app);
    const reserve = (body: unknown, key?: string) => post(`/v1/events/${eventId}/reservations`, body, key);
    const key = uniqueId('key');
    const refusedKey = uniqueId('key');

    const statuses = [
      (await reserve({ seats: 2 })).statusCode,
      (await reserve({ seats: 1, holdSeconds: 60 })).statusCode,
      (await reserve({ seats: 3 }, key)).statusCode,
      (await reserve({ seats: 3 }, key)).statusCode, // a replay: counted as a request only
      (await reserve({ seats: 4 })).statusCode, // 2 left
      (await reserve({ seats: 5 }, refusedKey)).statusCode,
      (await reserve({ seats: 5 }, refusedKey)).statusCode, // the refusal replayed
      (await post('/reservations', { seats: 1 })).statusCode, // the classic route, with the partner's key
      (await call('GET', `/v1/events/${eventId}`, bearer(token), undefined, limited.app)).statusCode,
      (await reserve({ seats: 1 })).statusCode, // over the limit from here on
      (await call('GET', '/v1/events', bearer(token), undefined, limited.app)).statusCode,
    ];
    expect(statuses).toEqual([201, 201, 201, 201, 409, 409, 409, 201, 200, 429, 429]);

    const line = await waitForCounts(partnerId, { requests: 11 });
    expect(line).toEqual({
      partnerId,
      name: `Partner ${partnerId}`,
      requests: 11,
      reservations: 4,
      seats: 7,
      refusals: 2,
      rateLimited: 2,
      lastRequestAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      failingWebhooks: [],
    });
    expect(new Date(line.lastRequestAt!).getTime()).toBeLessThanOrEqual(t.services.clock.now().getTime());
  });

  it('adds up what two processes counted for the same partner', async () => {
    const partnerId = uniqueId('two');
    const token = await t.createPartner(partnerId);
    for (const app of [t.app, limited.app, t.app]) {
      expect((await call('GET', '/v1/events', bearer(token), undefined, app)).statusCode).toBe(200);
    }
    await waitForCounts(partnerId, { requests: 3, rateLimited: 0 });
  });
});
