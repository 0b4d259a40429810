import { randomUUID } from 'node:crypto';
import { createReservationService, WEBHOOK_EVENT_TYPES, type ReservationService } from '@ticketboss/domain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresEventRepository, ensureEvent } from '../event-repository.js';
import { addEndpoint, createTestDatabase, insertPartner, queuedJobs, type TestDatabase } from '../testing/index.js';
import { createPostgresWebhookStore } from './webhook-store.js';

// The endpoints' side of the store: registration, changes, scoping by partner.

let database: TestDatabase;
let store: ReturnType<typeof createPostgresWebhookStore>;
let service: ReservationService;
const eventId = 'store-event';

beforeAll(async () => {
  database = await createTestDatabase();
  store = createPostgresWebhookStore(database.db);
  for (const partner of ['partner-a', 'partner-b', 'partner-c']) await insertPartner(database.db, partner);
  const repository = createPostgresEventRepository(database.db);
  service = createReservationService({
    repository,
    clock: { now: () => new Date() },
    ids: { reservationId: randomUUID },
    maxWaitMs: 5_000,
  });
  await ensureEvent(database.db, { eventId, name: 'Store', totalSeats: 1000, maxSeatsPerReservation: 10 }, 1);
});
afterAll(() => database.drop());

const newEndpoint = (partnerId: string) => ({
  webhookId: randomUUID(),
  partnerId,
  url: 'https://partner.example/a',
  description: 'orders',
  events: ['reservation.cancelled', 'reservation.created', 'reservation.cancelled'] as const,
  secret: 'whsec_one',
  createdAt: new Date('2030-01-01T00:00:00Z'),
});

describe('endpoints', () => {
  it('creates an endpoint, its event types distinct and in the canonical order, found only by its partner', async () => {
    const created = await store.createEndpoint(newEndpoint('partner-a'));
    expect(created).toEqual({
      webhookId: created.webhookId,
      partnerId: 'partner-a',
      url: 'https://partner.example/a',
      description: 'orders',
      events: ['reservation.created', 'reservation.cancelled'],
      enabled: true,
      secret: 'whsec_one',
      previousSecret: undefined,
      previousSecretUntil: undefined,
      failingSince: undefined,
      disabledReason: undefined,
      createdAt: new Date('2030-01-01T00:00:00Z'),
    });
    expect(await store.findEndpoint('partner-a', created.webhookId)).toEqual(created);
    expect(await store.findEndpoint('partner-b', created.webhookId)).toBeUndefined();
    expect(await store.findEndpoint('partner-a', randomUUID())).toBeUndefined();
    expect(await store.findEndpoint('partner-a', 'not-a-uuid')).toBeUndefined();
  });

  it("lists and counts a partner's own endpoints, oldest first", async () => {
    const first = await store.createEndpoint({ ...newEndpoint('partner-c'), createdAt: new Date('2030-01-01') });
    const second = await store.createEndpoint({ ...newEndpoint('partner-c'), createdAt: new Date('2030-01-02') });
    await store.createEndpoint(newEndpoint('partner-b'));
    expect((await store.listEndpoints('partner-c')).map((e) => e.webhookId)).toEqual([
      first.webhookId,
      second.webhookId,
    ]);
    expect(await store.countEndpoints('partner-c')).toBe(2);
    expect(await store.countEndpoints('nobody')).toBe(0);
    expect(await store.listEndpoints('nobody')).toEqual([]);
  });

  it('updates url, events and description (null clears it); not for another partner', async () => {
    const { webhookId } = await store.createEndpoint(newEndpoint('partner-a'));
    const updated = await store.updateEndpoint('partner-a', webhookId, {
      url: 'https://partner.example/b',
      events: ['reservation.expired', 'reservation.held'],
      description: null,
    });
    expect(updated).toMatchObject({
      url: 'https://partner.example/b',
      events: ['reservation.held', 'reservation.expired'],
      description: undefined,
      enabled: true,
    });
    expect(await store.updateEndpoint('partner-a', webhookId, { description: 'back' })).toMatchObject({
      description: 'back',
      url: 'https://partner.example/b',
    });
    expect(await store.updateEndpoint('partner-b', webhookId, { url: 'https://evil.example' })).toBeUndefined();
    expect(await store.updateEndpoint('partner-a', 'nope', { enabled: false })).toBeUndefined();
    expect((await store.findEndpoint('partner-a', webhookId))?.url).toBe('https://partner.example/b');
  });

  it('enabling an endpoint TicketBoss disabled clears its failure state and queues its pending deliveries now', async () => {
    const endpoint = await addEndpoint(database.db, 'partner-b', WEBHOOK_EVENT_TYPES);
    const outcome = await service.reserveSeats({ eventId, partnerId: 'partner-b', seats: 1 });
    if (outcome.kind !== 'reserved') throw new Error(outcome.kind);
    const found = await store.loadForAttempt(
      (
        await database.db
          .selectFrom('webhook_deliveries')
          .select('delivery_id')
          .where('reservation_id', '=', outcome.reservation.reservationId)
          .where('webhook_id', '=', endpoint.webhookId)
          .executeTakeFirstOrThrow()
      ).delivery_id,
    );
    const delivery = found!.delivery;
    const retryAt = new Date(Date.now() + 3_600_000);
    await store.recordAttempt(delivery, new Date(), {
      kind: 'failed',
      statusCode: 500,
      durationMs: 12,
      error: 'HTTP 500',
      retryAt,
      disableReason: 'failing for 5 days',
    });
    expect(await store.findEndpoint('partner-b', endpoint.webhookId)).toMatchObject({
      enabled: false,
      disabledReason: 'failing for 5 days',
      failingSince: expect.any(Date),
    });
    const jobOf = async () =>
      (await queuedJobs(database.db)).filter((j) => j.key === `webhook_delivery:${delivery.deliveryId}`);
    expect((await jobOf()).map((j) => j.runAt)).toEqual([retryAt]);

    const enabled = await store.updateEndpoint('partner-b', endpoint.webhookId, { enabled: true });
    expect(enabled).toMatchObject({ enabled: true, disabledReason: undefined, failingSince: undefined });
    const jobs = await jobOf();
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.runAt.getTime()).toBeLessThan(retryAt.getTime() - 3_000_000);
    expect((await store.loadForAttempt(delivery.deliveryId))?.delivery).toMatchObject({
      state: 'pending',
      nextAttemptAt: expect.any(Date),
    });
  });

  it('disabling by the partner keeps no TicketBoss reason; enabling an enabled endpoint queues nothing', async () => {
    const endpoint = await addEndpoint(database.db, 'partner-c', ['reservation.created']);
    const before = (await queuedJobs(database.db)).length;
    expect(await store.updateEndpoint('partner-c', endpoint.webhookId, { enabled: true })).toMatchObject({
      enabled: true,
    });
    expect(await queuedJobs(database.db)).toHaveLength(before);
    expect(await store.updateEndpoint('partner-c', endpoint.webhookId, { enabled: false })).toMatchObject({
      enabled: false,
      disabledReason: undefined,
    });
  });

  it('rotates the secret, keeping the previous one until the given time; not for another partner', async () => {
    const { webhookId } = await store.createEndpoint(newEndpoint('partner-a'));
    const until = new Date('2030-02-01T00:00:00Z');
    expect(await store.rotateSecret('partner-a', webhookId, 'whsec_two', until)).toMatchObject({
      secret: 'whsec_two',
      previousSecret: 'whsec_one',
      previousSecretUntil: until,
    });
    expect(await store.rotateSecret('partner-b', webhookId, 'whsec_evil', until)).toBeUndefined();
    expect((await store.findEndpoint('partner-a', webhookId))?.secret).toBe('whsec_two');
  });

  it('deletes an endpoint with its deliveries; another partner cannot', async () => {
    const endpoint = await addEndpoint(database.db, 'partner-a', WEBHOOK_EVENT_TYPES);
    const test = await store.addTestDelivery('partner-a', endpoint.webhookId, `msg_${'d'.repeat(32)}`);
    expect(test).toBeDefined();
    expect(await store.deleteEndpoint('partner-b', endpoint.webhookId)).toBe(false);
    expect(await store.deleteEndpoint('partner-a', endpoint.webhookId)).toBe(true);
    expect(await store.deleteEndpoint('partner-a', endpoint.webhookId)).toBe(false);
    expect(await store.deleteEndpoint('partner-a', 'not-a-uuid')).toBe(false);
    expect(await store.findEndpoint('partner-a', endpoint.webhookId)).toBeUndefined();
    expect(await store.loadForAttempt(test!.deliveryId)).toBeUndefined();
  });
});
