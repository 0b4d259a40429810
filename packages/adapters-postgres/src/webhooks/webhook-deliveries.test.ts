import { randomBytes, randomUUID } from 'node:crypto';
import {
  createReservationService,
  InvalidPagePosition,
  WEBHOOK_EVENT_TYPES,
  type Reservation,
  type ReservationService,
  type WebhookDelivery,
  type WebhookEndpoint,
} from '@ticketboss/domain';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPostgresEventRepository, ensureEvent } from '../event-repository.js';
import { addEndpoint, createTestDatabase, insertPartner, queuedJobs, type TestDatabase } from '../testing/index.js';
import { WEBHOOK_DELIVER_TASK } from './job-queue.js';
import { createPostgresWebhookStore } from './webhook-store.js';

// The deliveries' side of the store: what the worker reads and records, and a partner's log, redeliveries, tests.

let database: TestDatabase;
let store: ReturnType<typeof createPostgresWebhookStore>;
let service: ReservationService;
let endpoint: WebhookEndpoint;
const eventId = 'deliveries-event';

beforeAll(async () => {
  database = await createTestDatabase();
  store = createPostgresWebhookStore(database.db);
  for (const partner of ['partner-a', 'partner-b']) await insertPartner(database.db, partner);
  service = createReservationService({
    repository: createPostgresEventRepository(database.db),
    clock: { now: () => new Date() },
    ids: { reservationId: randomUUID },
    maxWaitMs: 5_000,
  });
  await ensureEvent(database.db, { eventId, name: 'Deliveries', totalSeats: 1000, maxSeatsPerReservation: 10 }, 1);
});
afterAll(() => database.drop());
beforeEach(async () => {
  endpoint = await addEndpoint(database.db, 'partner-a', WEBHOOK_EVENT_TYPES);
});

const newDeliveryId = () => `msg_${randomBytes(16).toString('hex')}`;

async function hold(): Promise<Reservation> {
  const outcome = await service.reserveSeats({ eventId, partnerId: 'partner-a', seats: 2, holdSeconds: 600 });
  if (outcome.kind !== 'reserved') throw new Error(outcome.kind);
  return outcome.reservation;
}

/** The endpoint's deliveries of the reservation, in the order they were recorded. */
async function deliveriesOf(reservationId: string): Promise<WebhookDelivery[]> {
  const rows = await database.db
    .selectFrom('webhook_deliveries')
    .select('delivery_id')
    .where('reservation_id', '=', reservationId)
    .where('webhook_id', '=', endpoint.webhookId)
    .orderBy('seq')
    .execute();
  return Promise.all(rows.map(async (row) => (await store.loadForAttempt(row.delivery_id))!.delivery));
}

const jobsOf = async (deliveryId: string) =>
  (await queuedJobs(database.db, WEBHOOK_DELIVER_TASK)).filter((j) => j.payload.deliveryId === deliveryId);

const failure = (retryAt: Date | undefined, disableReason?: string) =>
  ({ kind: 'failed', statusCode: 503, durationMs: 40, error: 'HTTP 503', retryAt, disableReason }) as const;

describe('the worker side', () => {
  it('loads a delivery with its endpoint and the reservation as the change left it', async () => {
    const r = await hold();
    const [held] = await deliveriesOf(r.reservationId);
    const loaded = await store.loadForAttempt(held!.deliveryId);
    expect(loaded?.endpoint).toEqual(endpoint);
    expect(loaded?.delivery).toEqual({
      deliveryId: held!.deliveryId,
      webhookId: endpoint.webhookId,
      type: 'reservation.held',
      reservationId: r.reservationId,
      occurredAt: expect.any(Date),
      reservation: r,
      state: 'pending',
      attempts: 0,
      firstAttemptAt: undefined,
      nextAttemptAt: undefined,
      deliveredAt: undefined,
    });
    expect(await store.loadForAttempt(newDeliveryId())).toBeUndefined();
  });

  it('finds an earlier pending delivery of the same reservation to the same endpoint, until it is delivered', async () => {
    const r = await hold();
    await service.confirmHold({ reservationId: r.reservationId, partnerId: 'partner-a' });
    const [held, confirmed] = await deliveriesOf(r.reservationId);
    expect(confirmed!.type).toBe('reservation.confirmed');
    expect((await store.findEarlierPending(confirmed!))?.deliveryId).toBe(held!.deliveryId);
    expect(await store.findEarlierPending(held!)).toBeUndefined();
    await store.recordAttempt(held!, new Date(), { kind: 'delivered', statusCode: 204, durationMs: 5 });
    expect(await store.findEarlierPending(confirmed!)).toBeUndefined();
  });

  it('records a success: delivered, the endpoint no longer failing', async () => {
    const [held] = await deliveriesOf((await hold()).reservationId);
    const first = new Date(Date.now() - 1000);
    await store.recordAttempt(held!, first, failure(new Date(Date.now() + 60_000)));
    expect((await store.findEndpoint('partner-a', endpoint.webhookId))?.failingSince).toEqual(first);
    const at = new Date();
    const attempt = await store.recordAttempt(held!, at, { kind: 'delivered', statusCode: 200, durationMs: 7 });
    expect(attempt).toEqual({
      attemptId: expect.stringMatching(/^\d+$/),
      deliveryId: held!.deliveryId,
      webhookId: endpoint.webhookId,
      type: 'reservation.held',
      reservationId: held!.reservationId,
      attempt: 2,
      attemptedAt: at,
      statusCode: 200,
      durationMs: 7,
      error: undefined,
      nextAttemptAt: undefined,
    });
    expect((await store.loadForAttempt(held!.deliveryId))?.delivery).toMatchObject({
      state: 'delivered',
      attempts: 2,
      firstAttemptAt: first,
      deliveredAt: at,
      nextAttemptAt: undefined,
    });
    expect((await store.findEndpoint('partner-a', endpoint.webhookId))?.failingSince).toBeUndefined();
  });

  it('records a failure with a retry: pending, its one job moved to the retry time, in the same transaction', async () => {
    const [held] = await deliveriesOf((await hold()).reservationId);
    expect(await jobsOf(held!.deliveryId)).toHaveLength(1);
    const retryAt = new Date(Date.now() + 120_000);
    const attempt = await store.recordAttempt(held!, new Date(), failure(retryAt));
    expect(attempt).toMatchObject({ attempt: 1, statusCode: 503, error: 'HTTP 503', nextAttemptAt: retryAt });
    expect((await store.loadForAttempt(held!.deliveryId))?.delivery).toMatchObject({
      state: 'pending',
      attempts: 1,
      nextAttemptAt: retryAt,
    });
    expect((await jobsOf(held!.deliveryId)).map((j) => j.runAt)).toEqual([retryAt]);
  });

  it('gives up: the delivery failed, no job queued for it; disabling records the reason', async () => {
    const [held] = await deliveriesOf((await hold()).reservationId);
    const before = await jobsOf(held!.deliveryId);
    await store.recordAttempt(held!, new Date(), failure(undefined, 'failing for 5 days'));
    expect((await store.loadForAttempt(held!.deliveryId))?.delivery).toMatchObject({
      state: 'failed',
      nextAttemptAt: undefined,
    });
    expect(await jobsOf(held!.deliveryId)).toEqual(before); // no new job: only the one that was running
    expect(await store.findEndpoint('partner-a', endpoint.webhookId)).toMatchObject({
      enabled: false,
      disabledReason: 'failing for 5 days',
    });
  });

  it('an attempt of a delivery deleted meanwhile records nothing', async () => {
    const [held] = await deliveriesOf((await hold()).reservationId);
    await store.deleteEndpoint('partner-a', endpoint.webhookId);
    const attempt = await store.recordAttempt(held!, new Date(), failure(new Date(Date.now() + 1000)));
    expect(attempt).toMatchObject({ attemptId: '0', attempt: 1 });
  });

  it('postpones a pending delivery: its job and next attempt move to the given time', async () => {
    const [held] = await deliveriesOf((await hold()).reservationId);
    const at = new Date(Date.now() + 500);
    await store.postpone(held!, at);
    expect((await jobsOf(held!.deliveryId)).map((j) => j.runAt)).toEqual([at]);
    expect((await store.loadForAttempt(held!.deliveryId))?.delivery.nextAttemptAt).toEqual(at);
  });
});

describe("the partner's side", () => {
  it('records a test delivery to the endpoint and queues it now; not for another partner', async () => {
    const deliveryId = newDeliveryId();
    const test = await store.addTestDelivery('partner-a', endpoint.webhookId, deliveryId);
    expect(test).toMatchObject({ deliveryId, type: 'webhook.test', reservationId: undefined, state: 'pending' });
    const jobs = await jobsOf(deliveryId);
    expect(jobs).toHaveLength(1);
    expect(Math.abs(jobs[0]!.runAt.getTime() - Date.now())).toBeLessThan(60_000);
    expect(await store.addTestDelivery('partner-b', endpoint.webhookId, newDeliveryId())).toBeUndefined();
    expect(await store.addTestDelivery('partner-a', randomUUID(), newDeliveryId())).toBeUndefined();
  });

  it('redelivers a failed delivery: pending again, a new retry window, queued now; not for another partner', async () => {
    const [held] = await deliveriesOf((await hold()).reservationId);
    await store.recordAttempt(held!, new Date(), failure(undefined));
    expect(await store.redeliver('partner-b', endpoint.webhookId, held!.deliveryId)).toBeUndefined();
    expect(await store.redeliver('partner-a', randomUUID(), held!.deliveryId)).toBeUndefined();
    expect(await store.redeliver('partner-a', endpoint.webhookId, newDeliveryId())).toBeUndefined();
    const again = await store.redeliver('partner-a', endpoint.webhookId, held!.deliveryId);
    // A new window: its retries start again at the shortest delay.
    expect(again).toMatchObject({ deliveryId: held!.deliveryId, state: 'pending', attempts: 0 });
    expect(again?.firstAttemptAt).toBeUndefined();
    const jobs = await jobsOf(held!.deliveryId);
    expect(jobs).toHaveLength(1);
    expect(Math.abs(jobs[0]!.runAt.getTime() - Date.now())).toBeLessThan(60_000);
  });

  it("pages the endpoint's attempts newest first, each exactly once; failed ones alone when asked", async () => {
    const test = (await store.addTestDelivery('partner-a', endpoint.webhookId, newDeliveryId()))!;
    const made = [];
    for (let i = 0; i < 5; i += 1) {
      const outcome =
        i % 2 === 0
          ? failure(new Date(Date.now() + 1000))
          : ({ kind: 'delivered', statusCode: 200, durationMs: 3 } as const);
      made.push(await store.recordAttempt(test, new Date(), outcome));
    }
    const newestFirst = made.map((a) => a.attemptId).reverse();
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.listAttempts('partner-a', endpoint.webhookId, { limit: 2, cursor });
      seen.push(...page!.items.map((a) => a.attemptId));
      cursor = page!.next;
      pages += 1;
    } while (cursor !== undefined);
    expect(seen).toEqual(newestFirst);
    expect(pages).toBe(3);
    const failed = await store.listAttempts('partner-a', endpoint.webhookId, {
      limit: 10,
      cursor: undefined,
      failedOnly: true,
    });
    expect(failed!.items.map((a) => a.attempt)).toEqual([5, 3, 1]);
    expect(failed!.items[0]).toMatchObject({ type: 'webhook.test', error: 'HTTP 503', statusCode: 503 });
    expect(failed!.next).toBeUndefined();
  });

  it("answers undefined for another partner's endpoint, and refuses a position it did not make", async () => {
    const page = { limit: 10, cursor: undefined };
    expect(await store.listAttempts('partner-b', endpoint.webhookId, page)).toBeUndefined();
    expect(await store.listAttempts('partner-a', 'nope', page)).toBeUndefined();
    expect(await store.listAttempts('partner-a', endpoint.webhookId, page)).toEqual({ items: [], next: undefined });
    await expect(store.listAttempts('partner-a', endpoint.webhookId, { limit: 10, cursor: 'abc' })).rejects.toThrow(
      InvalidPagePosition,
    );
  });
});
