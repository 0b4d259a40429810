import { randomUUID } from 'node:crypto';
import {
  createReservationService,
  WEBHOOK_EVENT_TYPES,
  type Reservation,
  type ReservationService,
  type WebhookEndpoint,
} from '@ticketboss/domain';
import { createManualClock, type ManualClock } from '@ticketboss/domain/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPostgresEventRepository, ensureEvent } from '../event-repository.js';
import { findInvariantBreaches } from '../invariant.js';
import { addEndpoint, createTestDatabase, insertPartner, queuedJobs, type TestDatabase } from '../testing/index.js';
import { HOLD_EXPIRY_TASK, WEBHOOK_DELIVER_TASK } from './job-queue.js';

// The triggers of migrations/0006_webhooks.sql, through the real commit path: the reservation service and the
// Postgres repository, as the API runs them.

let database: TestDatabase;
let clock: ManualClock;
let repository: ReturnType<typeof createPostgresEventRepository>;
let service: ReservationService;
let eventId: string;
/** Partner A: all types; only reservation.created; all types but disabled. */
let all: WebhookEndpoint;
let createdOnly: WebhookEndpoint;
let disabled: WebhookEndpoint;
/** Partner B's endpoint, subscribed to everything. */
let other: WebhookEndpoint;

beforeAll(async () => {
  database = await createTestDatabase();
  for (const partner of ['partner-a', 'partner-b', 'partner-quiet']) await insertPartner(database.db, partner);
  all = await addEndpoint(database.db, 'partner-a', WEBHOOK_EVENT_TYPES);
  createdOnly = await addEndpoint(database.db, 'partner-a', ['reservation.created']);
  disabled = await addEndpoint(database.db, 'partner-a', WEBHOOK_EVENT_TYPES, { enabled: false });
  other = await addEndpoint(database.db, 'partner-b', WEBHOOK_EVENT_TYPES);
});
afterAll(() => database.drop());
beforeEach(async () => {
  clock = createManualClock();
  repository = createPostgresEventRepository(database.db, { clock });
  service = createReservationService({ repository, clock, ids: { reservationId: randomUUID }, maxWaitMs: 5_000 });
  eventId = `hooks-${randomUUID().slice(0, 8)}`;
  await ensureEvent(database.db, { eventId, name: 'Hooks', totalSeats: 10, maxSeatsPerReservation: 10 }, 1);
});

/** The deliveries recorded for the reservation, as (endpoint, type) pairs in the order they were recorded. */
async function deliveriesOf(reservationId: string) {
  const rows = await database.db
    .selectFrom('webhook_deliveries')
    .select(['delivery_id', 'webhook_id', 'type', 'reservation', 'state'])
    .where('reservation_id', '=', reservationId)
    .orderBy('seq')
    .execute();
  return rows;
}
const pairs = async (reservationId: string) =>
  (await deliveriesOf(reservationId)).map((d) => [d.webhook_id, d.type] as const);

async function reserve(partnerId: string, seats: number, holdSeconds?: number): Promise<Reservation> {
  const outcome = await service.reserveSeats({ eventId, partnerId, seats, holdSeconds });
  if (outcome.kind !== 'reserved') throw new Error(`not reserved: ${outcome.kind}`);
  return outcome.reservation;
}

async function countDeliveries(): Promise<number> {
  const row = await database.db
    .selectFrom('webhook_deliveries')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describe('the triggers on reservations', () => {
  it('a reservation made confirmed records reservation.created for each subscribed enabled endpoint of its partner, each with a job', async () => {
    const r = await reserve('partner-a', 2);
    const recorded = await deliveriesOf(r.reservationId);
    expect(recorded.map((d) => [d.webhook_id, d.type]).sort()).toEqual(
      [
        [all.webhookId, 'reservation.created'],
        [createdOnly.webhookId, 'reservation.created'],
      ].sort(),
    );
    expect(recorded.map((d) => d.state)).toEqual(['pending', 'pending']);
    expect(recorded[0]!.delivery_id).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(recorded[0]!.reservation).toMatchObject({ reservation_id: r.reservationId, status: 'confirmed', seats: 2 });
    const jobs = await queuedJobs(database.db, WEBHOOK_DELIVER_TASK);
    for (const d of recorded) {
      expect(jobs.filter((j) => j.payload.deliveryId === d.delivery_id)).toHaveLength(1);
    }
    expect(await findInvariantBreaches(database.db)).toEqual([]);
  });

  it('a hold records reservation.held for the subscribed endpoints only, and gets an expiry job at its expiry', async () => {
    const hold = await reserve('partner-a', 1, 60);
    expect(await pairs(hold.reservationId)).toEqual([[all.webhookId, 'reservation.held']]);
    const expiry = (await queuedJobs(database.db, HOLD_EXPIRY_TASK)).filter(
      (j) => j.payload.reservationId === hold.reservationId,
    );
    expect(expiry).toEqual([
      expect.objectContaining({
        payload: { eventId, reservationId: hold.reservationId },
        runAt: hold.expiresAt,
        key: `hold_expiry:${hold.reservationId}`,
      }),
    ]);
  });

  it('confirming and cancelling record reservation.confirmed then reservation.cancelled, in that order', async () => {
    const hold = await reserve('partner-a', 1, 60);
    expect(await service.confirmHold({ reservationId: hold.reservationId, partnerId: 'partner-a' })).toMatchObject({
      kind: 'confirmed',
    });
    expect(
      await service.cancelReservation({ reservationId: hold.reservationId, partnerId: 'partner-a' }),
    ).toMatchObject({ kind: 'cancelled' });
    const recorded = await deliveriesOf(hold.reservationId);
    expect(recorded.map((d) => d.type)).toEqual(['reservation.held', 'reservation.confirmed', 'reservation.cancelled']);
    expect(new Set(recorded.map((d) => d.webhook_id))).toEqual(new Set([all.webhookId]));
    expect(recorded.map((d) => (d.reservation as { status: string }).status)).toEqual([
      'held',
      'confirmed',
      'cancelled',
    ]);
  });

  it('an expiry by the sweeper records reservation.expired once, however often it sweeps', async () => {
    const hold = await reserve('partner-a', 3, 1);
    clock.advance(1_500);
    const swept = await service.sweepExpiredHolds();
    expect(swept.expired.map((r) => r.reservationId)).toEqual([hold.reservationId]);
    await service.sweepExpiredHolds();
    expect(await pairs(hold.reservationId)).toEqual([
      [all.webhookId, 'reservation.held'],
      [all.webhookId, 'reservation.expired'],
    ]);
    expect(await findInvariantBreaches(database.db)).toEqual([]);
  });

  it("an expiry by a commit's reclaim records reservation.expired once", async () => {
    const hold = await reserve('partner-a', 3, 1);
    clock.advance(1_500);
    const later = await reserve('partner-b', 9); // fits only with the expired hold's seats back
    expect(await repository.findEventsWithExpiredHolds(10)).toEqual([]); // the commit marked it, not a sweep
    expect(await pairs(hold.reservationId)).toEqual([
      [all.webhookId, 'reservation.held'],
      [all.webhookId, 'reservation.expired'],
    ]);
    expect(await pairs(later.reservationId)).toEqual([[other.webhookId, 'reservation.created']]);
  });

  it("a batch of two partners' reservations records each for its own partner's endpoints only", async () => {
    const mine = { reservationId: randomUUID(), eventId, partnerId: 'partner-a', seats: 1, createdAt: clock.now() };
    const theirs = { ...mine, reservationId: randomUUID(), partnerId: 'partner-b' };
    const pool = await repository.findSeatPool(eventId, { pool: 0 });
    const result = await repository.commitChanges(
      { eventId, pool: 0, version: pool!.version },
      {
        reservations: [
          { ...mine, status: 'confirmed' },
          { ...theirs, status: 'held', expiresAt: clock.now() },
        ],
        cancellations: [],
      },
    );
    expect(result.kind).toBe('committed');
    expect((await pairs(mine.reservationId)).sort()).toEqual(
      [
        [all.webhookId, 'reservation.created'],
        [createdOnly.webhookId, 'reservation.created'],
      ].sort(),
    );
    expect(await pairs(theirs.reservationId)).toEqual([[other.webhookId, 'reservation.held']]);
  });

  it('a partner without endpoints records nothing and queues no job', async () => {
    const jobsBefore = (await queuedJobs(database.db)).length;
    const before = await countDeliveries();
    const hold = await reserve('partner-quiet', 1, 60);
    await service.confirmHold({ reservationId: hold.reservationId, partnerId: 'partner-quiet' });
    await service.cancelReservation({ reservationId: hold.reservationId, partnerId: 'partner-quiet' });
    expect(await countDeliveries()).toBe(before);
    expect(await queuedJobs(database.db)).toHaveLength(jobsBefore);
  });

  it('a commit that fails (a version conflict, or not enough seats) records nothing', async () => {
    const before = await countDeliveries();
    const jobsBefore = (await queuedJobs(database.db)).length;
    const stale = { reservationId: randomUUID(), eventId, partnerId: 'partner-a', seats: 1, createdAt: clock.now() };
    const result = await repository.commitChanges(
      { eventId, pool: 0, version: 999 },
      { reservations: [{ ...stale, status: 'confirmed' }], cancellations: [] },
    );
    expect(result.kind).toBe('version_conflict');
    expect(await service.reserveSeats({ eventId, partnerId: 'partner-a', seats: 11 })).toMatchObject({
      kind: 'invalid_seats',
    });
    await reserve('partner-b', 8);
    expect(await service.reserveSeats({ eventId, partnerId: 'partner-a', seats: 3 })).toMatchObject({
      kind: 'insufficient_seats',
    });
    expect(await countDeliveries()).toBe(before + 1); // partner B's reservation only
    expect((await queuedJobs(database.db)).length).toBe(jobsBefore + 1);
    expect(await deliveriesOf(stale.reservationId)).toEqual([]);
  });

  it('records nothing for a disabled endpoint, and again for it once enabled', async () => {
    const before = await deliveriesOf((await reserve('partner-a', 1)).reservationId);
    expect(before.map((d) => d.webhook_id)).not.toContain(disabled.webhookId);
    await database.db
      .updateTable('webhook_endpoints')
      .set({ enabled: true })
      .where('webhook_id', '=', disabled.webhookId)
      .execute();
    try {
      const after = await deliveriesOf((await reserve('partner-a', 1)).reservationId);
      expect(after.map((d) => d.webhook_id)).toContain(disabled.webhookId);
    } finally {
      await database.db
        .updateTable('webhook_endpoints')
        .set({ enabled: false })
        .where('webhook_id', '=', disabled.webhookId)
        .execute();
    }
  });
});
