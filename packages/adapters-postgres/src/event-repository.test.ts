import { randomUUID } from 'node:crypto';
import { InvalidPagePosition, type Reservation } from '@ticketboss/domain';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPostgresEventRepository, ensureEvent } from './event-repository.js';
import { findInvariantBreaches } from './invariant.js';
import { createTestDatabase, type TestDatabase } from './testing/index.js';

let database: TestDatabase;
let repository: ReturnType<typeof createPostgresEventRepository>;
let eventId: string;

beforeAll(async () => {
  database = await createTestDatabase();
  repository = createPostgresEventRepository(database.db);
});
afterAll(() => database.drop());
beforeEach(async () => {
  eventId = `event-${randomUUID().slice(0, 8)}`;
  // One seat pool: these tests are about the commit statement on a pool, rebalances are tested apart.
  await ensureEvent(database.db, { eventId, name: 'Test event', totalSeats: 10, maxSeatsPerReservation: 10 }, 1);
});

function reservation(seats: number, partnerId = 'partner-a'): Reservation {
  return { reservationId: randomUUID(), eventId, partnerId, seats, status: 'confirmed', createdAt: new Date() };
}

async function event() {
  const found = await repository.findEvent(eventId);
  if (!found) throw new Error('event missing');
  return found;
}

const commit = (version: number, reservations: Reservation[], cancellations: Reservation[] = []) =>
  repository.commitChanges({ eventId, pool: 0, version }, { reservations, cancellations });

describe('commitChanges with new reservations', () => {
  it('takes the seats and records the reservation, growing the version by one', async () => {
    const r = reservation(3);
    const result = await commit(0, [r]);
    expect(result).toEqual({
      kind: 'committed',
      pool: expect.objectContaining({ availableSeats: 7, version: 1 }),
      expired: [],
    });
    expect(await repository.findReservation(r.reservationId)).toEqual({ ...r, createdAt: expect.any(Date) });
    expect(await repository.getEventSummary(eventId)).toMatchObject({
      availableSeats: 7,
      reservedSeats: 3,
      reservationCount: 1,
      version: 1,
    });
  });

  it('records a batch in one statement, growing the version by one per reservation', async () => {
    const batch = [reservation(1), reservation(2, 'partner-b'), reservation(3)];
    expect(await commit(0, batch)).toMatchObject({ kind: 'committed', pool: { availableSeats: 4, version: 3 } });
    for (const r of batch) expect(await repository.findReservation(r.reservationId)).toMatchObject({ seats: r.seats });
    expect(await repository.getEventSummary(eventId)).toMatchObject({ reservationCount: 3, reservedSeats: 6 });
  });

  it('at a stale version, it changes nothing and reports a conflict', async () => {
    await commit(0, [reservation(1)]);
    const late = reservation(2);
    expect(await commit(0, [late])).toEqual({
      kind: 'version_conflict',
      current: expect.objectContaining({ availableSeats: 9, version: 1 }),
    });
    expect(await repository.findReservation(late.reservationId)).toBeUndefined();
    expect(await event()).toMatchObject({ availableSeats: 9, version: 1 });
  });

  it('never takes more seats than are available, even at the right version', async () => {
    expect(await commit(0, [reservation(6), reservation(5)])).toMatchObject({ kind: 'version_conflict' });
    expect(await event()).toMatchObject({ availableSeats: 10, version: 0 });
  });

  it('when a reservation insert fails inside the transaction, seats and version are unchanged', async () => {
    await sql`ALTER TABLE reservations ADD CONSTRAINT test_only_reject CHECK (partner_id <> 'explode')`.execute(
      database.db,
    );
    try {
      await expect(commit(0, [reservation(1), reservation(4, 'explode')])).rejects.toThrow(/test_only_reject/);
      expect(await event()).toMatchObject({ availableSeats: 10, version: 0 });
      expect(await findInvariantBreaches(database.db)).toEqual([]);
    } finally {
      await sql`ALTER TABLE reservations DROP CONSTRAINT test_only_reject`.execute(database.db);
    }
  });
});

describe('commitChanges with cancellations', () => {
  async function reserved(seats: number) {
    const r = reservation(seats);
    expect((await commit((await event()).version, [r])).kind).toBe('committed');
    return r;
  }

  it('marks the reservation cancelled and returns its seats, growing the version by one', async () => {
    const r = await reserved(4);
    const result = await commit(1, [], [r]);
    expect(result).toEqual({
      kind: 'committed',
      pool: expect.objectContaining({ availableSeats: 10, version: 2 }),
      expired: [],
    });
    expect(await repository.findReservation(r.reservationId)).toMatchObject({ status: 'cancelled' });
    expect(await repository.getEventSummary(eventId)).toMatchObject({ reservedSeats: 0, reservationCount: 0 });
  });

  it('cancels and reserves in one commit, the returned seats usable by the new reservation', async () => {
    const old = await reserved(10);
    const fresh = reservation(7);
    expect(await commit(1, [fresh], [old])).toMatchObject({
      kind: 'committed',
      pool: { availableSeats: 3, version: 3 },
    });
    expect(await repository.findReservation(old.reservationId)).toMatchObject({ status: 'cancelled' });
    expect(await repository.findReservation(fresh.reservationId)).toMatchObject({ status: 'confirmed' });
    expect(await findInvariantBreaches(database.db)).toEqual([]);
  });

  it('refuses to cancel a reservation that is no longer active, naming it, and applies nothing', async () => {
    const r = await reserved(4);
    const other = await reserved(2);
    await commit(2, [], [r]);
    const result = await commit(3, [reservation(1)], [r, other]);
    expect(result).toEqual({ kind: 'not_active', reservationIds: [r.reservationId] });
    expect(await repository.findReservation(other.reservationId)).toMatchObject({ status: 'confirmed' });
    expect(await event()).toMatchObject({ availableSeats: 8, version: 3 });
  });

  it('at a stale version, it rolls back: the reservation stays active', async () => {
    const r = await reserved(4);
    await reserved(1);
    expect(await commit(1, [], [r])).toMatchObject({ kind: 'version_conflict', current: { version: 2 } });
    expect(await repository.findReservation(r.reservationId)).toMatchObject({ status: 'confirmed' });
    expect(await event()).toMatchObject({ availableSeats: 5, version: 2 });
  });
});

describe('commitChanges when the answer is lost', () => {
  /** A handle whose next statement fails without a server answer: before it is sent, or after it ran. */
  function losing(when: 'before' | 'after') {
    let armed = true;
    const lost = () => {
      armed = false;
      return new Error('Connection terminated unexpectedly');
    };
    return createPostgresEventRepository(
      database.db.withPlugin({
        transformQuery: (args) => {
          if (armed && when === 'before') throw lost();
          return args.node;
        },
        transformResult: async (args) => {
          if (armed && when === 'after') throw lost();
          return args.result;
        },
      }),
    );
  }

  it('after the commit ran, finds the reservations and reports it committed', async () => {
    const r = reservation(2);
    expect(
      await losing('after').commitChanges({ eventId, pool: 0, version: 0 }, { reservations: [r], cancellations: [] }),
    ).toMatchObject({
      kind: 'committed',
      pool: { availableSeats: 8, version: 1 },
    });
    expect(await repository.findReservation(r.reservationId)).toMatchObject({ status: 'confirmed' });
  });

  it('when it never ran, reports a conflict so that it is planned again, with nothing applied', async () => {
    const r = reservation(2);
    expect(
      await losing('before').commitChanges({ eventId, pool: 0, version: 0 }, { reservations: [r], cancellations: [] }),
    ).toEqual({
      kind: 'version_conflict',
    });
    expect(await event()).toMatchObject({ availableSeats: 10, version: 0 });
  });
});

describe('createEvent and updateEvent', () => {
  it('creates an event once, with its own limit per reservation', async () => {
    const definition = { eventId: `new-${eventId}`, name: 'New', totalSeats: 30, maxSeatsPerReservation: 4 };
    expect(await repository.createEvent(definition)).toEqual({
      kind: 'created',
      event: {
        ...definition,
        availableSeats: 30,
        expiredHolds: 0,
        reservedSeats: 0,
        heldSeats: 0,
        reservationCount: 0,
        version: 0,
      },
    });
    expect(await repository.createEvent({ ...definition, name: 'Again' })).toEqual({ kind: 'already_exists' });
    expect(await repository.findEvent(definition.eventId)).toMatchObject({ name: 'New', maxSeatsPerReservation: 4 });
  });

  it('moves available seats with the total, keeps reserved seats, and counts the update in the version', async () => {
    await commit(0, [reservation(3)]);
    const result = await repository.updateEvent(eventId, { totalSeats: 20, name: 'Bigger' });
    expect(result).toEqual({
      kind: 'updated',
      event: expect.objectContaining({
        name: 'Bigger',
        totalSeats: 20,
        availableSeats: 17,
        reservedSeats: 3,
        version: 2,
      }),
    });
    expect(await findInvariantBreaches(database.db)).toEqual([]);
  });

  it('refuses a total below the reserved seats, or a stale expected version, changing nothing', async () => {
    await commit(0, [reservation(6)]);
    expect(await repository.updateEvent(eventId, { totalSeats: 5 })).toEqual({
      kind: 'below_reserved',
      reservedSeats: 6,
    });
    expect(await repository.updateEvent(eventId, { name: 'X' }, 0)).toEqual({
      kind: 'version_mismatch',
      currentVersion: 1,
    });
    expect(await repository.updateEvent(eventId, { totalSeats: 6 }, 1)).toMatchObject({
      kind: 'updated',
      event: { totalSeats: 6, availableSeats: 0, version: 2 },
    });
    expect(await repository.updateEvent('no-such-event', { name: 'X' })).toEqual({ kind: 'event_not_found' });
    expect(await event()).toMatchObject({ name: 'Test event', totalSeats: 6, availableSeats: 0 });
  });

  it('an update between a plan and its commit makes the commit conflict rather than use old seats', async () => {
    const planned = (await repository.findSeatPool(eventId, { pool: 0 }))!;
    await repository.updateEvent(eventId, { totalSeats: 2 });
    expect((await repository.commitChanges(planned, { reservations: [reservation(5)], cancellations: [] })).kind).toBe(
      'version_conflict',
    );
    expect(await findInvariantBreaches(database.db)).toEqual([]);
  });
});

describe('listReservations', () => {
  it("pages through one partner's reservations of one event, oldest first, each exactly once", async () => {
    const mine = Array.from({ length: 7 }, (_, i) => ({ ...reservation(1, 'mine'), createdAt: new Date(1_000 + i) }));
    // Same instant: the id breaks the tie.
    mine.push({ ...reservation(1, 'mine'), createdAt: new Date(1_006) });
    await commit(0, [...mine, reservation(1, 'theirs')]);
    const seen: string[] = [];
    let after: string | undefined;
    do {
      const page = await repository.listReservations({ partnerId: 'mine', eventId, limit: 3, after });
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((r) => r.reservationId));
      after = page.next;
    } while (after);
    const expected = [...mine]
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.reservationId.localeCompare(b.reservationId))
      .map((r) => r.reservationId);
    expect(seen).toEqual(expected);
  });

  it('filters by status and refuses a position it did not make', async () => {
    const [a, b] = [reservation(1, 'mine'), reservation(1, 'mine')];
    await commit(0, [a, b]);
    await commit(2, [], [a]);
    const cancelled = await repository.listReservations({ partnerId: 'mine', eventId, status: 'cancelled', limit: 10 });
    expect(cancelled.items.map((r) => r.reservationId)).toEqual([a.reservationId]);
    expect(cancelled.next).toBeUndefined();
    await expect(
      repository.listReservations({ partnerId: 'mine', eventId, limit: 10, after: 'garbage' }),
    ).rejects.toThrow(InvalidPagePosition);
  });
});

describe('listEventSummaries', () => {
  it('pages through events in id order', async () => {
    const all: string[] = [];
    let after: string | undefined;
    do {
      const page = await repository.listEventSummaries({ limit: 2, after });
      all.push(...page.items.map((e) => e.eventId));
      after = page.next;
    } while (after);
    expect(all).toEqual([...all].sort());
    expect(all).toContain(eventId);
    expect(new Set(all).size).toBe(all.length);
  });
});

describe('ensureEvent', () => {
  it('creates a missing event once and never resets an existing one', async () => {
    await commit(0, [reservation(2)]);
    expect(
      await ensureEvent(database.db, { eventId, name: 'Other name', totalSeats: 99, maxSeatsPerReservation: 10 }),
    ).toBe(false);
    expect(await event()).toMatchObject({ name: 'Test event', totalSeats: 10, availableSeats: 8, version: 1 });
  });
});

describe('findInvariantBreaches', () => {
  it('is empty for a healthy database and names an event whose seats disagree with its reservations', async () => {
    await commit(0, [reservation(2)]);
    expect(await findInvariantBreaches(database.db)).toEqual([]);
    await sql`UPDATE events SET available_seats = available_seats + 1 WHERE event_id = ${eventId}`.execute(database.db);
    expect(await findInvariantBreaches(database.db)).toEqual([
      {
        eventId,
        totalSeats: 10,
        availableSeats: 9,
        reservedSeats: 2,
        heldSeats: 0,
        confirmedReservations: 1,
        heldReservations: 0,
        unmarkedExpiredHolds: 0,
        recordedReservationCount: 1,
      },
    ]);
    await sql`UPDATE events SET available_seats = available_seats - 1 WHERE event_id = ${eventId}`.execute(database.db);
  });
});
