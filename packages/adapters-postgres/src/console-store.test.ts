import { randomBytes, randomUUID } from 'node:crypto';
import {
  createReservationService,
  InvalidPagePosition,
  type ConsoleStore,
  type EventOverview,
  type PartnerActivityCount,
  type PartnerOverview,
  type Reservation,
  type ReservationService,
} from '@ticketboss/domain';
import { createManualClock, type ManualClock } from '@ticketboss/domain/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleStore, PRUNE_BATCH } from './console-store.js';
import { createDatabase } from './database.js';
import { createPostgresEventRepository, ensureEvent } from './event-repository.js';
import { findInvariantBreaches } from './invariant.js';
import { addEndpoint, createTestDatabase, databaseNow, insertPartner, type TestDatabase } from './testing/index.js';

// The console's figures (migration 0007), written by the real commit path (the reservation service on the Postgres
// repository) and read back through the ConsoleStore. The clocks are manual, so that each change lands in the
// second the test says and the test never waits for time to pass.

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.drop());

/** A manual clock `aheadMs` past the database's time, at `offsetMs` into a second (seconds land where told). */
async function clockAhead(aheadMs: number, offsetMs = 200): Promise<ManualClock> {
  const second = Math.floor(((await databaseNow(database.db)).getTime() + aheadMs) / 1000) * 1000;
  return createManualClock(new Date(second + offsetMs));
}

function system(clock: ManualClock) {
  const repository = createPostgresEventRepository(database.db, { clock });
  const service = createReservationService({ repository, clock, ids: { reservationId: randomUUID }, maxWaitMs: 5_000 });
  return { repository, service, store: createConsoleStore(database.db, clock) };
}

async function reserve(
  service: ReservationService,
  eventId: string,
  seats: number,
  holdSeconds?: number,
): Promise<Reservation> {
  const outcome = await service.reserveSeats({ eventId, partnerId: 'partner-a', seats, holdSeconds });
  if (outcome.kind !== 'reserved') throw new Error(`not reserved: ${outcome.kind}`);
  return outcome.reservation;
}

async function cancel(service: ReservationService, reservation: Reservation): Promise<void> {
  const outcome = await service.cancelReservation({ reservationId: reservation.reservationId, partnerId: 'partner-a' });
  if (outcome.kind !== 'cancelled') throw new Error(`not cancelled: ${outcome.kind}`);
}

async function newEvent(totalSeats: number, pools = 2): Promise<string> {
  const eventId = `console-${randomUUID().slice(0, 8)}`;
  await ensureEvent(database.db, { eventId, name: 'Console', totalSeats, maxSeatsPerReservation: 10 }, pools);
  return eventId;
}

async function poolRow(eventId: string, pool = 0) {
  return database.db
    .selectFrom('event_seat_pools')
    .select(['available_seats', 'active_reservations', 'version', 'last_sale_at'])
    .where('event_id', '=', eventId)
    .where('pool', '=', pool)
    .executeTakeFirstOrThrow()
    .then((row) => ({ ...row, version: Number(row.version) }));
}

async function statusOf(reservationId: string) {
  const row = await database.db
    .selectFrom('reservations')
    .select('status')
    .where('reservation_id', '=', reservationId)
    .executeTakeFirstOrThrow();
  return row.status;
}

/** The event's line of the events list, walking its pages. */
async function overviewOf(store: ConsoleStore, eventId: string): Promise<EventOverview | undefined> {
  let after: string | undefined;
  do {
    const page = await store.listEventOverviews({ limit: 100, after });
    const line = page.items.find((item) => item.summary.eventId === eventId);
    if (line) return line;
    after = page.next;
  } while (after !== undefined);
  return undefined;
}

async function activityRows(eventId: string) {
  return database.db
    .selectFrom('event_activity')
    .selectAll()
    .where('event_id', '=', eventId)
    .orderBy('second')
    .orderBy('pool')
    .execute();
}

describe('an event’s activity', () => {
  it('counts each change in its second, and the available seats of each second are what the summary said then', async () => {
    // Two minutes ahead of the database, so that the window also shows seconds before the event was created.
    const clock = await clockAhead(120_000);
    const { repository, service, store } = system(clock);
    const eventId = await newEvent(20);
    const t = clock.now().getTime() - 200;
    const at = (k: number, ms = 200) => clock.advance(t + k * 1000 + ms - clock.now().getTime());
    const partner = { partnerId: 'partner-a' };
    const available: number[] = [];
    const endOfSecond = async (k: number) => {
      at(k, 900);
      available[k] = (await repository.getEventSummary(eventId))!.availableSeats;
    };

    at(0);
    const r1 = await reserve(service, eventId, 2);
    await reserve(service, eventId, 3, 5); // A: expires in second 5, marked by the commit then
    await endOfSecond(0);
    at(1);
    await reserve(service, eventId, 1, 2); // B: expires in second 3, marked by the update in second 4
    const c = await reserve(service, eventId, 4, 30);
    await endOfSecond(1);
    at(2);
    expect(await service.confirmHold({ reservationId: c.reservationId, ...partner })).toMatchObject({
      kind: 'confirmed',
    });
    expect(await service.cancelReservation({ reservationId: r1.reservationId, ...partner })).toMatchObject({
      kind: 'cancelled',
    });
    await endOfSecond(2);
    await endOfSecond(3);
    at(4);
    expect(await repository.updateEvent(eventId, { totalSeats: 25 })).toMatchObject({ kind: 'updated' });
    await endOfSecond(4);
    at(5);
    await reserve(service, eventId, 1);
    await endOfSecond(5);
    at(6);
    await reserve(service, eventId, 2, 1); // D: expires in second 7, marked by the sweep in second 8
    const f = await reserve(service, eventId, 1, 60);
    expect(await service.cancelReservation({ reservationId: f.reservationId, ...partner })).toMatchObject({
      kind: 'cancelled',
    });
    await endOfSecond(6);
    await endOfSecond(7);
    at(8);
    expect((await service.sweepExpiredHolds()).expired).toHaveLength(1);
    await reserve(service, eventId, 3, 1); // G: expires in second 9, never marked
    await endOfSecond(8);
    at(9, 100); // before G expires: this commit must not mark it
    await reserve(service, eventId, 1, 600); // H: still held at the end
    await endOfSecond(9);

    expect(available).toEqual([15, 10, 12, 13, 18, 20, 18, 20, 17, 19]);
    const activity = (await store.eventActivity(eventId, 900))!;
    const summary = (await repository.getEventSummary(eventId))!;
    expect(activity.summary).toEqual(summary);
    expect(activity.asOf).toEqual(clock.now());
    expect(activity.at).toHaveLength(900);
    expect(activity.at.at(-1)).toBe(t / 1000 + 9);
    expect(activity.availableSeats.at(-1)).toBe(summary.availableSeats);

    const last10 = (series: readonly (number | null)[]) => series.slice(-10);
    expect(last10(activity.availableSeats)).toEqual(available);
    expect(last10(activity.reservations)).toEqual([1, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    expect(last10(activity.holdsTaken)).toEqual([1, 2, 0, 0, 0, 0, 2, 0, 1, 1]);
    expect(last10(activity.holdsConfirmed)).toEqual([0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect(last10(activity.cancellations)).toEqual([0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
    expect(last10(activity.holdsExpired)).toEqual([0, 0, 0, 1, 0, 1, 0, 1, 0, 1]);
    // Before the changes, the seats the event was created with; before it was created, nothing.
    const { created_at } = await database.db
      .selectFrom('events')
      .select('created_at')
      .where('event_id', '=', eventId)
      .executeTakeFirstOrThrow();
    const createdSecond = Math.floor(created_at.getTime() / 1000);
    activity.at.slice(0, -10).forEach((second, i) => {
      expect(activity.availableSeats[i], `at ${second}`).toBe(second < createdSecond ? null : 20);
    });
    expect(activity.availableSeats[0]).toBeNull();

    // Over the last minute: sold 2 + 4 (confirmed hold) + 1; taken 3 + 15 held, less 3 cancelled and 9 expired.
    // The last sale: the reservation at once in second 5 (the holds after it sold nothing), to the millisecond.
    expect(activity).toMatchObject({ seatsPerMinute: 7, netSeatsPerMinute: 6, lastSaleAt: new Date(t + 5200) });
    expect(activity.estimatedSellOutAt).toEqual(new Date(clock.now().getTime() + Math.round((19 / 6) * 60_000)));

    // The event's update wrote pool -1: the new total in its second, the hold it expired in the hold's.
    const updates = (await activityRows(eventId)).filter((row) => row.pool === -1);
    expect(updates).toEqual([
      expect.objectContaining({ second: new Date(t + 3000), expiries: 1, expired_seats: 1, capacity_change: 0 }),
      expect.objectContaining({ second: new Date(t + 4000), expiries: 0, expired_seats: 0, capacity_change: 5 }),
    ]);

    // A shorter window ends on the same second with the same figures.
    const short = (await store.eventActivity(eventId, 5))!;
    expect(short.at).toEqual(activity.at.slice(-5));
    expect(short.availableSeats).toEqual(available.slice(-5));
    expect(short).toMatchObject({ seatsPerMinute: 7, netSeatsPerMinute: 6 });
    expect(await findInvariantBreaches(database.db)).toEqual([]);
  });

  it('a commit that does not apply records nothing, not even the expired holds it would have marked', async () => {
    const clock = await clockAhead(0);
    const { repository, service } = system(clock);
    const eventId = await newEvent(10, 1);
    await reserve(service, eventId, 2);
    const gone = await reserve(service, eventId, 1);
    await cancel(service, gone);
    // A sweep with nothing to expire applies, and records nothing.
    const sweep = await repository.commitChanges(
      { eventId, pool: 0, version: (await poolRow(eventId)).version },
      { reservations: [], cancellations: [] },
    );
    expect(sweep.kind).toBe('committed');
    const hold = await reserve(service, eventId, 3, 1);
    const rows = await activityRows(eventId);
    expect(rows).toEqual([
      expect.objectContaining({
        pool: 0,
        reservations: 2,
        reserved_seats: 3,
        cancellations: 1,
        holds: 1,
        held_seats: 3,
      }),
    ]);
    const pool = await poolRow(eventId);
    // Later seconds, the hold past its expiry and not marked: anything recorded would be a row of its own.
    clock.advance(2000);
    const late: Reservation = {
      reservationId: randomUUID(),
      eventId,
      partnerId: 'partner-a',
      seats: 1,
      status: 'confirmed',
      createdAt: clock.now(),
    };
    const stale = await repository.commitChanges(
      { eventId, pool: 0, version: 0 },
      { reservations: [late], cancellations: [] },
    );
    expect(stale.kind).toBe('version_conflict');
    const notActive = await repository.commitChanges(
      { eventId, pool: 0, version: pool.version },
      { reservations: [late], cancellations: [gone] },
    );
    expect(notActive).toEqual({ kind: 'not_active', reservationIds: [gone.reservationId] });
    expect(await activityRows(eventId)).toEqual(rows);
    expect(await poolRow(eventId)).toEqual(pool);
    expect(await statusOf(hold.reservationId)).toBe('held');

    // The same commit at the current version applies: it sells, and marks the hold, expired in a second of its own.
    const applied = await repository.commitChanges(
      { eventId, pool: 0, version: pool.version },
      { reservations: [late], cancellations: [] },
    );
    expect(applied.kind).toBe('committed');
    expect(await statusOf(hold.reservationId)).toBe('expired');
    expect(await activityRows(eventId)).toEqual([
      ...rows,
      expect.objectContaining({ second: new Date(Math.floor(hold.expiresAt!.getTime() / 1000) * 1000), expiries: 1 }),
      expect.objectContaining({ second: new Date(Math.floor(clock.now().getTime() / 1000) * 1000), reservations: 1 }),
    ]);
    expect(await poolRow(eventId)).toMatchObject({ last_sale_at: clock.now() });
  });

  it('keeps the last sale beyond the rollup’s retention, and never puts it after the reading’s time', async () => {
    const clock = await clockAhead(0);
    const { service } = system(clock);
    const eventId = await newEvent(10, 2);
    await reserve(service, eventId, 2);
    const hold = await reserve(service, eventId, 1, 600);
    clock.advance(1500);
    const confirmedAt = clock.now();
    expect(await service.confirmHold({ reservationId: hold.reservationId, partnerId: 'partner-a' })).toMatchObject({
      kind: 'confirmed',
    });
    // Neither a hold nor a cancellation is a sale.
    clock.advance(1000);
    const later = await reserve(service, eventId, 1, 600);
    await cancel(service, later);

    // Two hours on, its rollup rows are pruned: the last sale is still known.
    clock.advance(2 * 3_600_000);
    const { store } = system(clock);
    await store.pruneActivity(clock.now());
    expect(await activityRows(eventId)).toEqual([]);
    expect(await store.eventActivity(eventId, 60)).toMatchObject({ lastSaleAt: confirmedAt, seatsPerMinute: 0 });
    expect(await overviewOf(store, eventId)).toMatchObject({ lastSaleAt: confirmedAt, seatsPerMinute: 0 });

    // A sale by a process whose clock runs ahead is already in a reading's snapshot: it counts as at that reading.
    const ahead = system(await clockAhead(5000));
    const sold = await reserve(ahead.service, eventId, 1);
    const reader = await clockAhead(0);
    expect(reader.now().getTime()).toBeLessThan(sold.createdAt.getTime());
    const { store: reading } = system(reader);
    expect(await reading.eventActivity(eventId, 60)).toMatchObject({ lastSaleAt: reader.now() });
    expect(await overviewOf(reading, eventId)).toMatchObject({ lastSaleAt: reader.now() });
  });

  it('is undefined for an unknown event, and for an id no event can have', async () => {
    const { store } = system(await clockAhead(0));
    expect(await store.eventActivity('no-such-event', 60)).toBeUndefined();
    expect(await store.eventActivity('\0', 60)).toBeUndefined();
    expect(await store.eventActivity('a\0b', 60)).toBeUndefined();
  });
});

describe('the events list', () => {
  it('ranks every event by its sales over the last minute, then its net seats taken, then its id, page by page', async () => {
    // An hour on, every earlier event of this file has sold nothing in the last minute.
    const clock = await clockAhead(3_600_000);
    const { repository, service, store } = system(clock);
    const [quiet, busy, busier, holding] = await Promise.all([newEvent(50), newEvent(50), newEvent(50), newEvent(50)]);
    await reserve(service, busy, 3);
    await reserve(service, busier, 5);
    await reserve(service, busier, 2, 1); // expires unmarked: counts against the net
    await reserve(service, holding, 4, 60);
    clock.advance(1500);

    const all: EventOverview[] = [];
    let after: string | undefined;
    do {
      const page = await store.listEventOverviews({ limit: 2, after });
      expect(page.items.length).toBeLessThanOrEqual(2);
      all.push(...page.items);
      after = page.next;
    } while (after !== undefined);
    const ids = all.map((item) => item.summary.eventId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.slice(0, 3)).toEqual([busier, busy, holding]);
    expect(all.slice(0, 3).map((item) => [item.seatsPerMinute, item.netSeatsPerMinute])).toEqual([
      [5, 5],
      [3, 3],
      [0, 4],
    ]);
    expect(all[0]!.lastSaleAt).toEqual(new Date(clock.now().getTime() - 1500));
    expect(all[2]!.lastSaleAt).toBeNull();
    // The rest sold nothing lately: by id.
    const rest = ids.slice(3);
    expect(rest).toContain(quiet);
    expect(rest).toEqual([...rest].sort());
    for (const item of all) expect(item.summary).toEqual(await repository.getEventSummary(item.summary.eventId));
  });

  it('refuses a position it did not make', async () => {
    const { store } = system(await clockAhead(0));
    for (const after of ['x', '1|2', '1|2|Bad Id', '-1|0|event', '1|2|event|4', '99999999999|0|event']) {
      await expect(store.listEventOverviews({ limit: 2, after }), after).rejects.toThrow(InvalidPagePosition);
    }
  });
});

describe('partner activity', () => {
  const count = (partnerId: string, minute: Date, requests: number, extra: Partial<PartnerActivityCount> = {}) => ({
    partnerId,
    minute,
    requests,
    reservations: 0,
    seats: 0,
    refusals: 0,
    rateLimited: 0,
    lastRequestAt: new Date(minute.getTime() + 1000),
    ...extra,
  });

  it('adds what two processes count, lists every partner busiest first over the window, with failing webhooks', async () => {
    const clock = await clockAhead(0);
    const minute = new Date(Math.floor(clock.now().getTime() / 60_000) * 60_000);
    const minutesAgo = (n: number) => new Date(minute.getTime() - n * 60_000);
    const suffix = randomBytes(3).toString('hex');
    const [a, b, c] = ['a', 'b', 'c'].map((p) => `${p}-${suffix}`) as [string, string, string];
    for (const partner of [c, b, a]) await insertPartner(database.db, partner);

    // Two processes flushing at once, each with its rows in its own order.
    const other = createDatabase({ connectionString: database.url, poolSize: 2 });
    try {
      const first = createConsoleStore(database.db, clock);
      const second = createConsoleStore(other, clock);
      const late = new Date(minute.getTime() + 30_000);
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          (i % 2 ? first : second).addPartnerActivity(
            i % 2
              ? [count(a, minute, 1, { reservations: 1, seats: 2 }), count(b, minute, 1, { rateLimited: 1 })]
              : [count(b, minute, 1, { refusals: 1 }), count(a, minute, 1, i === 4 ? { lastRequestAt: late } : {})],
          ),
        ),
      );
      // Older minutes: one inside the hour, one before it.
      await first.addPartnerActivity([count(c, minutesAgo(20), 50), count(c, minutesAgo(70), 1000)]);
    } finally {
      await other.destroy();
    }

    const failing = await addEndpoint(database.db, a, ['reservation.created']);
    const disabledByUs = await addEndpoint(database.db, a, ['reservation.created']);
    await addEndpoint(database.db, a, ['reservation.created'], { enabled: false }); // by the partner: not listed
    await addEndpoint(database.db, b, ['reservation.created']); // healthy: not listed
    const since = minutesAgo(30);
    await database.db
      .updateTable('webhook_endpoints')
      .set({ failing_since: since })
      .where('webhook_id', '=', failing.webhookId)
      .execute();
    await database.db
      .updateTable('webhook_endpoints')
      .set({ enabled: false, disabled_reason: 'failing for 3 days' })
      .where('webhook_id', '=', disabledByUs.webhookId)
      .execute();
    const attempted = await attempts(failing.webhookId, [
      { status_code: null, error: 'connect ECONNREFUSED' },
      { status_code: 503, error: null },
    ]);

    const { store } = system(clock);
    const ours = (items: readonly PartnerOverview[]) => items.filter((p) => p.partnerId.endsWith(suffix));
    const quarter = ours(await listAll(store, '15m'));
    expect(quarter.map((p) => p.partnerId)).toEqual([a, b, c]);
    expect(quarter[0]).toEqual({
      partnerId: a,
      name: a,
      requests: 10,
      reservations: 5,
      seats: 10,
      refusals: 0,
      rateLimited: 0,
      lastRequestAt: new Date(minute.getTime() + 30_000),
      failingWebhooks: [
        {
          webhookId: failing.webhookId,
          url: failing.url,
          enabled: true,
          failingSince: since,
          disabledReason: null,
          lastError: 'HTTP 503',
          lastAttemptAt: attempted,
        },
        {
          webhookId: disabledByUs.webhookId,
          url: disabledByUs.url,
          enabled: false,
          failingSince: null,
          disabledReason: 'failing for 3 days',
          lastError: null,
          lastAttemptAt: null,
        },
      ],
    });
    expect(quarter[1]).toMatchObject({ requests: 10, refusals: 5, rateLimited: 5, failingWebhooks: [] });
    expect(quarter[2]).toMatchObject({ requests: 0, lastRequestAt: null, failingWebhooks: [] });
    const hour = ours(await listAll(store, '1h'));
    expect(hour.map((p) => [p.partnerId, p.requests])).toEqual([
      [c, 50],
      [a, 10],
      [b, 10],
    ]);
    const day = ours(await listAll(store, '24h'));
    expect(day[0]).toMatchObject({ partnerId: c, requests: 1050 });
    await expect(store.listPartnerOverviews({ window: '15m', limit: 1, after: '1|Bad id' })).rejects.toThrow(
      InvalidPagePosition,
    );
  });

  /** Records a delivery to the endpoint and its attempts, one second apart; returns the last attempt's time. */
  async function attempts(webhookId: string, made: { status_code: number | null; error: string | null }[]) {
    const deliveryId = `msg_${randomBytes(16).toString('hex')}`;
    await database.db
      .insertInto('webhook_deliveries')
      .values({ delivery_id: deliveryId, webhook_id: webhookId, type: 'webhook.test', occurred_at: new Date() })
      .execute();
    const start = Math.floor(Date.now() / 1000) * 1000;
    const times = made.map((_, i) => new Date(start + i * 1000));
    await database.db
      .insertInto('webhook_attempts')
      .values(
        made.map((m, i) => ({
          delivery_id: deliveryId,
          webhook_id: webhookId,
          attempt: i + 1,
          attempted_at: times[i]!,
          duration_ms: 10,
          ...m,
        })),
      )
      .execute();
    return times.at(-1)!;
  }

  async function listAll(store: ConsoleStore, window: '15m' | '1h' | '24h') {
    const all: PartnerOverview[] = [];
    let after: string | undefined;
    do {
      const page = await store.listPartnerOverviews({ window, limit: 2, after });
      all.push(...page.items);
      after = page.next;
    } while (after !== undefined);
    return all;
  }
});

describe('pruneActivity', () => {
  it('deletes the rows older than their retention, in batches, and no others', async () => {
    const now = new Date(Math.floor(Date.now() / 1000) * 1000 + 10 * 86_400_000);
    const eventId = `prune-${randomUUID().slice(0, 8)}`;
    const partnerId = `prune-${randomUUID().slice(0, 8)}`;
    const ago = (ms: number) => new Date(now.getTime() - ms);
    // More old seconds than one batch deletes, one just inside the hour.
    await sql`
      INSERT INTO event_activity (event_id, second, pool, reservations)
      SELECT ${eventId}, ${ago(3_600_000)}::timestamptz - s * interval '1 second', 0, 1
        FROM generate_series(1, ${PRUNE_BATCH + 2}) AS s`.execute(database.db);
    await database.db
      .insertInto('event_activity')
      .values({ event_id: eventId, second: ago(3_599_000), pool: 0, reservations: 1 })
      .execute();
    await database.db
      .insertInto('partner_activity')
      .values([
        { partner_id: partnerId, minute: ago(86_460_000), requests: 1, last_request_at: ago(86_460_000) },
        { partner_id: partnerId, minute: ago(86_340_000), requests: 1, last_request_at: ago(86_340_000) },
      ])
      .execute();
    const store = createConsoleStore(database.db, { now: () => now });
    // Earlier tests' rows, hours before `now`, go too.
    const pruned = await store.pruneActivity(now);
    expect(pruned).toBeGreaterThanOrEqual(PRUNE_BATCH + 3);
    expect(await activityRows(eventId)).toEqual([expect.objectContaining({ second: ago(3_599_000) })]);
    const partnerRows = await database.db
      .selectFrom('partner_activity')
      .select('minute')
      .where('partner_id', '=', partnerId)
      .execute();
    expect(partnerRows).toEqual([{ minute: ago(86_340_000) }]);
    expect(await store.pruneActivity(now)).toBe(0);
  });

  it('deletes at most maxBatches batches per rollup, leaving the rest to the next call', async () => {
    const now = new Date(Math.floor(Date.now() / 1000) * 1000 + 20 * 86_400_000);
    const eventId = `prune-${randomUUID().slice(0, 8)}`;
    const old = new Date(now.getTime() - 2 * 3_600_000);
    await sql`
      INSERT INTO event_activity (event_id, second, pool, reservations)
      SELECT ${eventId}, ${old}::timestamptz - s * interval '1 second', 0, 1
        FROM generate_series(1, ${2 * PRUNE_BATCH + 1}) AS s`.execute(database.db);
    const store = createConsoleStore(database.db, { now: () => now });
    // Earlier tests' rows may be among the old ones: the whole table's are counted.
    const oldRows = async () => {
      const { count } = await database.db
        .selectFrom('event_activity')
        .select((eb) => eb.fn.countAll<string>().as('count'))
        .where('second', '<', new Date(now.getTime() - 3_600_000))
        .executeTakeFirstOrThrow();
      return Number(count);
    };
    const before = await oldRows();
    expect(before).toBeGreaterThan(2 * PRUNE_BATCH);
    expect(await store.pruneActivity(now, 1)).toBeGreaterThanOrEqual(PRUNE_BATCH);
    expect(await oldRows()).toBe(before - PRUNE_BATCH);
    await store.pruneActivity(now, 1);
    expect(await oldRows()).toBe(before - 2 * PRUNE_BATCH);
    await store.pruneActivity(now);
    expect(await oldRows()).toBe(0);
    expect(await activityRows(eventId)).toEqual([]);
  });
});
