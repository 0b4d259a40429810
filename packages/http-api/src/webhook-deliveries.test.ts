import type { AttemptOutcome } from '@ticketboss/domain';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { buildAppWithoutServices } from './plugins/openapi-document.js';
import { registerWebhook } from './testing/webhooks.js';
import { bearer, expectError, uniqueId, useApiKeyApp, v1Calls } from './testing/v1-api.js';

const t = useApiKeyApp();
const { call, newEvent, reserved } = v1Calls(t);
const register = registerWebhook(call);

interface Attempt {
  attemptId: string;
  deliveryId: string;
  type: string;
  attempt: number;
  statusCode?: number;
  error?: string;
  nextAttemptAt?: string;
}
interface Page {
  items: Attempt[];
  nextCursor: string | null;
}

async function deliveryRow(deliveryId: string) {
  return t.database.db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('delivery_id', '=', deliveryId)
    .executeTakeFirst();
}

/** Queues a test message through the API and answers its delivery id. */
async function sendTest(token: string, webhookId: string): Promise<string> {
  const response = await call('POST', `/v1/webhooks/${webhookId}/test`, bearer(token));
  expect(response.statusCode).toBe(202);
  return response.json<{ deliveryId: string }>().deliveryId;
}

/** Records an attempt of the delivery as the worker would, through the store (no endpoint is reached in tests). */
async function attempt(deliveryId: string, outcome: AttemptOutcome) {
  const loaded = await t.services.webhooks.loadForAttempt(deliveryId);
  if (!loaded) throw new Error(`no delivery ${deliveryId}`);
  return t.services.webhooks.recordAttempt(loaded.delivery, t.services.clock.now(), outcome);
}
const failed = (statusCode: number | undefined, error: string, retryAt?: Date): AttemptOutcome => ({
  kind: 'failed',
  statusCode,
  durationMs: 12,
  error,
  retryAt,
  disableReason: undefined,
});
const delivered: AttemptOutcome = { kind: 'delivered', statusCode: 204, durationMs: 8 };

describe('POST /v1/webhooks/:webhookId/test', () => {
  it('answers 202 with the delivery id of a webhook.test message, queued for the endpoint', async () => {
    const token = await t.createPartner(uniqueId('test'));
    const { webhookId } = await register(token);
    const deliveryId = await sendTest(token, webhookId);
    expect(deliveryId).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(await deliveryRow(deliveryId)).toMatchObject({
      webhook_id: webhookId,
      type: 'webhook.test',
      reservation_id: null,
      state: 'pending',
      attempts: 0,
    });
    // One job for it (its key names the delivery: migrations/0006_webhooks.sql).
    const { rows } = await sql<{ task_identifier: string }>`
      SELECT task_identifier FROM graphile_worker.jobs WHERE key = ${`webhook_delivery:${deliveryId}`}`.execute(
      t.database.db,
    );
    expect(rows).toEqual([{ task_identifier: 'ticketboss_webhook_deliver' }]);
    // Each test is a message of its own.
    expect(await sendTest(token, webhookId)).not.toBe(deliveryId);
  });
});

describe('GET /v1/webhooks/:webhookId/deliveries', () => {
  it('lists attempts newest first, a page at a time, and only the failed ones with failed=true', async () => {
    const token = await t.createPartner(uniqueId('log'));
    const { webhookId } = await register(token);
    const first = await sendTest(token, webhookId);
    const second = await sendTest(token, webhookId);
    const retryAt = new Date(t.services.clock.now().getTime() + 60_000);
    await attempt(first, failed(500, 'HTTP 500', retryAt));
    await attempt(first, failed(undefined, 'timed out after 10 s', retryAt));
    await attempt(first, delivered);
    await attempt(second, failed(undefined, 'refused: 10.0.0.1 is a private address'));

    const path = `/v1/webhooks/${webhookId}/deliveries`;
    const all = (await call('GET', path, bearer(token))).json<Page>();
    expect(all.nextCursor).toBeNull();
    expect(all.items.map((a) => [a.deliveryId, a.attempt, a.statusCode, a.error])).toEqual([
      [second, 1, undefined, 'refused: 10.0.0.1 is a private address'],
      [first, 3, 204, undefined],
      [first, 2, undefined, 'timed out after 10 s'],
      [first, 1, 500, 'HTTP 500'],
    ]);
    expect(all.items[3]).toMatchObject({ type: 'webhook.test', durationMs: 12, nextAttemptAt: retryAt.toISOString() });
    expect(all.items[3]).not.toHaveProperty('reservationId');

    const pages: Attempt[][] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? '?limit=3' : `?limit=3&cursor=${cursor}`;
      const page = (await call('GET', `${path}${query}`, bearer(token))).json<Page>();
      pages.push(page.items);
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(pages.map((page) => page.length)).toEqual([3, 1]);
    expect(pages.flat()).toEqual(all.items);

    const failures = (await call('GET', `${path}?failed=true`, bearer(token))).json<Page>();
    expect(failures.items.map((a) => a.error)).toEqual([
      'refused: 10.0.0.1 is a private address',
      'timed out after 10 s',
      'HTTP 500',
    ]);
    expect((await call('GET', `${path}?failed=false`, bearer(token))).json<Page>().items).toHaveLength(4);
  });

  it('lists nothing for a new endpoint', async () => {
    const token = await t.createPartner(uniqueId('empty'));
    const { webhookId } = await register(token);
    const page = await call('GET', `/v1/webhooks/${webhookId}/deliveries`, bearer(token));
    expect(page.json()).toEqual({ items: [], nextCursor: null });
  });

  it.each([
    ['?failed=yes', 'failed must be true or false'],
    ['?limit=0', /^limit must be/],
    ['?cursor=garbage', /^cursor is invalid/],
  ])('refuses %s with 400 naming the parameter', async (query, message) => {
    const token = await t.createPartner(uniqueId('badq'));
    const { webhookId } = await register(token);
    const response = await call('GET', `/v1/webhooks/${webhookId}/deliveries${query}`, bearer(token));
    expectError(response, 400, 'VALIDATION_ERROR', message);
  });
});

describe('POST /v1/webhooks/:webhookId/deliveries/:deliveryId/redeliver', () => {
  it('queues a failed delivery again with the same id (202): pending, with a new retry window', async () => {
    const token = await t.createPartner(uniqueId('again'));
    const { webhookId } = await register(token);
    const deliveryId = await sendTest(token, webhookId);
    await attempt(deliveryId, failed(503, 'HTTP 503'));
    expect(await deliveryRow(deliveryId)).toMatchObject({ state: 'failed', attempts: 1 });

    const response = await call('POST', `/v1/webhooks/${webhookId}/deliveries/${deliveryId}/redeliver`, bearer(token));
    expect(response.statusCode).toBe(202);
    expect(response.json()).toEqual({ deliveryId });
    expect(await deliveryRow(deliveryId)).toMatchObject({ state: 'pending', first_attempt_at: null });
  });

  it('redelivers one that succeeded too', async () => {
    const token = await t.createPartner(uniqueId('again2'));
    const { webhookId } = await register(token);
    const deliveryId = await sendTest(token, webhookId);
    await attempt(deliveryId, delivered);
    const path = `/v1/webhooks/${webhookId}/deliveries/${deliveryId}/redeliver`;
    expect((await call('POST', path, bearer(token))).statusCode).toBe(202);
    expect(await deliveryRow(deliveryId)).toMatchObject({ state: 'pending' });
  });

  it("answers 404 DELIVERY_NOT_FOUND for an unknown delivery or one of another of the partner's webhooks", async () => {
    const token = await t.createPartner(uniqueId('nodel'));
    const a = await register(token);
    const b = await register(token);
    const ofB = await sendTest(token, b.webhookId);
    for (const deliveryId of [`msg_${'f'.repeat(32)}`, 'garbage', ofB]) {
      const path = `/v1/webhooks/${a.webhookId}/deliveries/${deliveryId}/redeliver`;
      expectError(await call('POST', path, bearer(token)), 404, 'DELIVERY_NOT_FOUND');
    }
    const intruder = await t.createPartner(uniqueId('intr'));
    const path = `/v1/webhooks/${b.webhookId}/deliveries/${ofB}/redeliver`;
    expectError(await call('POST', path, bearer(intruder)), 404, 'WEBHOOK_NOT_FOUND');
  });
});

describe('deliveries of reservation changes', () => {
  it("records one for each enabled endpoint subscribed to the change, of the reservation's partner only", async () => {
    const partnerId = uniqueId('res');
    const token = await t.createPartner(partnerId);
    const subscribed = await register(token, { events: ['reservation.created'] });
    const other = await register(token, { events: ['reservation.cancelled'] });
    const disabled = await register(token, { events: ['reservation.created'] });
    await call('PATCH', `/v1/webhooks/${disabled.webhookId}`, bearer(token), { enabled: false });
    const stranger = await register(await t.createPartner(uniqueId('str')), { events: ['reservation.created'] });

    const reservationId = await reserved(token, await newEvent(), 2);
    const rows = await t.database.db
      .selectFrom('webhook_deliveries')
      .select(['webhook_id', 'type'])
      .where('reservation_id', '=', reservationId)
      .execute();
    expect(rows).toEqual([{ webhook_id: subscribed.webhookId, type: 'reservation.created' }]);
    expect([other, disabled, stranger].map((w) => w.webhookId)).not.toContain(rows[0]?.webhook_id);
  });
});

describe('the OpenAPI document', () => {
  it('lists every webhook route for partners, under Webhooks', async () => {
    const app = buildAppWithoutServices();
    try {
      const response = await app.inject({ method: 'GET', url: '/openapi.json' });
      const { paths } = response.json<{
        paths: Record<string, Record<string, { operationId: string; tags: string[]; security: unknown }>>;
      }>();
      const operations = Object.entries(paths)
        .filter(([path]) => path.startsWith('/v1/webhooks'))
        .flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, ...op })));
      expect(operations.map(({ method, path, operationId }) => `${method} ${path} ${operationId}`).sort()).toEqual([
        'delete /v1/webhooks/{webhookId} deleteWebhook',
        'get /v1/webhooks listWebhooks',
        'get /v1/webhooks/{webhookId} getWebhook',
        'get /v1/webhooks/{webhookId}/deliveries listWebhookDeliveries',
        'patch /v1/webhooks/{webhookId} updateWebhook',
        'post /v1/webhooks registerWebhook',
        'post /v1/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver redeliverWebhook',
        'post /v1/webhooks/{webhookId}/rotate-secret rotateWebhookSecret',
        'post /v1/webhooks/{webhookId}/test testWebhook',
      ]);
      for (const operation of operations) {
        expect(operation.tags).toEqual(['Webhooks']);
        expect(operation.security).toEqual([{ partnerApiKey: [] }]);
      }
    } finally {
      await app.close();
    }
  });
});
