import { randomUUID } from 'node:crypto';
import type { Reservation } from '@ticketboss/domain';
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
  await ensureEvent(database.db, { eventId, name: 'Test event', totalSeats: 10 });
});

function reservation(seats: number, partnerId = 'partner-a'): Reservation {
  return { reservationId: randomUUID(), eventId, partnerId, seats, status: 'confirmed', createdAt: new Date() };
}

async function event() {
  const found = await repository.findEvent(eventId);
  if (!found) throw new Error('event missing');
  return found;
}

describe('commitReservation', () => {
  it('takes the seats and records the reservation, growing the version by one', async () => {
    const r = reservation(3);
    const result = await repository.commitReservation({ eventId, version: 0 }, r);
    expect(result).toEqual({ kind: 'committed', event: expect.objectContaining({ availableSeats: 7, version: 1 }) });
    expect(await repository.findReservation(r.reservationId)).toEqual({ ...r, createdAt: expect.any(Date) });
    expect(await repository.getEventSummary(eventId)).toMatchObject({
      availableSeats: 7,
      reservedSeats: 3,
      reservationCount: 1,
      version: 1,
    });
  });

  it('at a stale version, it changes nothing and reports a conflict', async () => {
    await repository.commitReservation({ eventId, version: 0 }, reservation(1));
    const late = reservation(2);
    expect(await repository.commitReservation({ eventId, version: 0 }, late)).toEqual({ kind: 'version_conflict' });
    expect(await repository.findReservation(late.reservationId)).toBeUndefined();
    expect(await event()).toMatchObject({ availableSeats: 9, version: 1 });
  });

  it('never takes more seats than are available, even at the right version', async () => {
    const tooMany = reservation(11);
    expect(await repository.commitReservation({ eventId, version: 0 }, tooMany)).toEqual({ kind: 'version_conflict' });
    expect(await event()).toMatchObject({ availableSeats: 10, version: 0 });
  });

  it('when the reservation insert fails inside the transaction, seats and version are unchanged', async () => {
    await sql`ALTER TABLE reservations ADD CONSTRAINT test_only_reject CHECK (partner_id <> 'explode')`.execute(
      database.db,
    );
    try {
      await expect(repository.commitReservation({ eventId, version: 0 }, reservation(4, 'explode'))).rejects.toThrow(
        /test_only_reject/,
      );
      expect(await event()).toMatchObject({ availableSeats: 10, version: 0 });
      expect(await findInvariantBreaches(database.db)).toEqual([]);
    } finally {
      await sql`ALTER TABLE reservations DROP CONSTRAINT test_only_reject`.execute(database.db);
    }
  });
});

describe('commitCancellation', () => {
  async function reserved(seats: number) {
    const r = reservation(seats);
    const current = await event();
    expect((await repository.commitReservation(current, r)).kind).toBe('committed');
    return r;
  }

  it('marks the reservation cancelled and returns its seats, growing the version by one', async () => {
    const r = await reserved(4);
    const result = await repository.commitCancellation(await event(), r);
    expect(result).toEqual({ kind: 'committed', event: expect.objectContaining({ availableSeats: 10, version: 2 }) });
    expect(await repository.findReservation(r.reservationId)).toMatchObject({ status: 'cancelled' });
    expect(await repository.getEventSummary(eventId)).toMatchObject({ reservedSeats: 0, reservationCount: 0 });
  });

  it('a second cancellation is refused and returns nothing', async () => {
    const r = await reserved(4);
    await repository.commitCancellation(await event(), r);
    expect(await repository.commitCancellation(await event(), r)).toEqual({ kind: 'already_cancelled' });
    expect(await event()).toMatchObject({ availableSeats: 10, version: 2 });
  });

  it('at a stale version, it rolls back: the reservation stays active', async () => {
    const r = await reserved(4);
    await reserved(1);
    expect(await repository.commitCancellation({ eventId, version: 1 }, r)).toEqual({ kind: 'version_conflict' });
    expect(await repository.findReservation(r.reservationId)).toMatchObject({ status: 'confirmed' });
    expect(await event()).toMatchObject({ availableSeats: 5, version: 2 });
  });
});

describe('ensureEvent', () => {
  it('creates a missing event once and never resets an existing one', async () => {
    await repository.commitReservation({ eventId, version: 0 }, reservation(2));
    expect(await ensureEvent(database.db, { eventId, name: 'Other name', totalSeats: 99 })).toBe(false);
    expect(await event()).toMatchObject({ name: 'Test event', totalSeats: 10, availableSeats: 8, version: 1 });
  });
});

describe('findInvariantBreaches', () => {
  it('is empty for a healthy database and names an event whose seats disagree with its reservations', async () => {
    await repository.commitReservation({ eventId, version: 0 }, reservation(2));
    expect(await findInvariantBreaches(database.db)).toEqual([]);
    await sql`UPDATE events SET available_seats = available_seats + 1 WHERE event_id = ${eventId}`.execute(database.db);
    expect(await findInvariantBreaches(database.db)).toEqual([
      {
        eventId,
        totalSeats: 10,
        availableSeats: 9,
        reservedSeats: 2,
        confirmedReservations: 1,
        recordedReservationCount: 1,
      },
    ]);
    await sql`UPDATE events SET available_seats = available_seats - 1 WHERE event_id = ${eventId}`.execute(database.db);
  });
});
