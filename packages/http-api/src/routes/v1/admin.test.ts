import type { ConsoleStore, EventActivity, EventSummary } from '@ticketboss/domain';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildAppWithoutServices } from '../../plugins/openapi-document.js';
import { sha256 } from '../../server/api-keys.js';

/**
 * How the admin routes show what the console's store answers, on a store that answers fixed figures: the figures
 * themselves, from PostgreSQL, are admin-events.test.ts's and admin-partners.test.ts's question.
 */
const TOKEN = 'console-admin-token';
const summary: EventSummary = {
  eventId: 'jazz-night',
  name: '<b>Jazz</b> night',
  totalSeats: 100,
  availableSeats: 94,
  reservedSeats: 2,
  heldSeats: 4,
  reservationCount: 1,
  maxSeatsPerReservation: 4,
  version: 3,
  expiredHolds: 0,
};
const { expiredHolds: _inside, ...summaryBody } = summary;
const sale = new Date('2025-11-25T11:38:19.000Z');
const activity: EventActivity = {
  summary,
  asOf: new Date('2025-11-25T11:38:21.412Z'),
  seatsPerMinute: 2,
  netSeatsPerMinute: 6,
  lastSaleAt: sale,
  at: [1764070699, 1764070700, 1764070701],
  reservations: [1, 0, 0],
  cancellations: [0, 0, 0],
  holdsTaken: [0, 1, 0],
  holdsExpired: [0, 0, 0],
  holdsConfirmed: [0, 0, 0],
  availableSeats: [null, 94, 94],
  estimatedSellOutAt: new Date('2025-11-25T11:54:01.412Z'),
};

const asked: unknown[] = [];
const store: ConsoleStore = {
  async listEventOverviews(query) {
    asked.push(query);
    return { items: [{ summary, seatsPerMinute: 2, netSeatsPerMinute: 6, lastSaleAt: sale }], next: 'jazz-night' };
  },
  async eventActivity(eventId, seconds) {
    asked.push({ eventId, seconds });
    return eventId === summary.eventId ? activity : undefined;
  },
  async listPartnerOverviews(query) {
    asked.push(query);
    return {
      items: [
        {
          partnerId: 'acme',
          name: 'Acme',
          requests: 5,
          reservations: 2,
          seats: 3,
          refusals: 1,
          rateLimited: 1,
          lastRequestAt: sale,
          failingWebhooks: [
            {
              webhookId: '7d5f0c1e-3b2a-4e8f-9c6d-1a2b3c4d5e6f',
              url: 'https://hooks.acme.example/x',
              enabled: false,
              failingSince: sale,
              disabledReason: 'failing for 5 days',
              lastError: 'HTTP 503',
              lastAttemptAt: sale,
            },
          ],
        },
      ],
    };
  },
  addPartnerActivity: async () => undefined,
  pruneActivity: async () => 0,
};

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
  asked.length = 0;
});

async function get(url: string) {
  app ??= buildAppWithoutServices({ console: store, adminTokenHash: sha256(TOKEN) });
  const response = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${TOKEN}` } });
  expect(response.headers['cache-control']).toBe('no-store');
  return response;
}

describe('the admin routes, on fixed figures', () => {
  it('GET /v1/admin/events: the summary and the selling rate, with an opaque cursor', async () => {
    const response = await get('/v1/admin/events?limit=5&cursor=YWJj');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      items: [{ ...summaryBody, seatsPerMinute: 2, netSeatsPerMinute: 6, lastSaleAt: sale.toISOString() }],
      nextCursor: Buffer.from('jazz-night').toString('base64url'),
    });
    expect(asked).toEqual([{ limit: 5, after: 'abc' }]);
  });

  it('GET /v1/admin/events/:eventId/activity: columns, nulls before the event, 900 seconds by default', async () => {
    const response = await get('/v1/admin/events/jazz-night/activity');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      event: summaryBody,
      asOf: '2025-11-25T11:38:21.412Z',
      seatsPerMinute: 2,
      netSeatsPerMinute: 6,
      lastSaleAt: sale.toISOString(),
      estimatedSellOutAt: '2025-11-25T11:54:01.412Z',
      series: {
        at: [1764070699, 1764070700, 1764070701],
        reservations: [1, 0, 0],
        cancellations: [0, 0, 0],
        holdsTaken: [0, 1, 0],
        holdsExpired: [0, 0, 0],
        holdsConfirmed: [0, 0, 0],
        availableSeats: [null, 94, 94],
      },
    });
    expect((await get('/v1/admin/events/jazz-night/activity?seconds=60')).statusCode).toBe(200);
    expect((await get('/v1/admin/events/other/activity?seconds=900')).statusCode).toBe(404);
    expect(asked).toEqual([
      { eventId: 'jazz-night', seconds: 900 },
      { eventId: 'jazz-night', seconds: 60 },
      { eventId: 'other', seconds: 900 },
    ]);
  });

  it('GET /v1/admin/partners: 15 minutes by default, the window asked for otherwise', async () => {
    const response = await get('/v1/admin/partners');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      items: [
        {
          partnerId: 'acme',
          name: 'Acme',
          requests: 5,
          reservations: 2,
          seats: 3,
          refusals: 1,
          rateLimited: 1,
          lastRequestAt: sale.toISOString(),
          failingWebhooks: [
            {
              webhookId: '7d5f0c1e-3b2a-4e8f-9c6d-1a2b3c4d5e6f',
              url: 'https://hooks.acme.example/x',
              enabled: false,
              failingSince: sale.toISOString(),
              disabledReason: 'failing for 5 days',
              lastError: 'HTTP 503',
              lastAttemptAt: sale.toISOString(),
            },
          ],
        },
      ],
      nextCursor: null,
    });
    await get('/v1/admin/partners?window=24h&limit=100');
    expect(asked).toEqual([
      { window: '15m', limit: 20, after: undefined },
      { window: '24h', limit: 100, after: undefined },
    ]);
  });
});
