import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EventDefinition } from './event.js';
import type { Clock } from './ports.js';
import { createReservationService, type ReserveSeatsOutcome } from './reservation-service.js';
import { createInMemoryEventRepository } from './testing/index.js';

const EVENT: EventDefinition = { eventId: 'gig', name: 'Gig', totalSeats: 20, maxSeatsPerReservation: 10 };

function setup(options: { totalSeats?: number; maxWaitMs?: number; clock?: Clock } = {}) {
  const clock = options.clock ?? { now: () => new Date() };
  const repository = createInMemoryEventRepository(
    [{ ...EVENT, totalSeats: options.totalSeats ?? EVENT.totalSeats }],
    clock,
  );
  let next = 0;
  const service = createReservationService({
    repository,
    clock,
    ids: { reservationId: () => `00000000-0000-4000-8000-${String(++next).padStart(12, '0')}` },
    maxWaitMs: options.maxWaitMs ?? 2000,
  });
  return { repository, service };
}

async function summary(service: ReturnType<typeof setup>['service']) {
  const outcome = await service.getEventSummary(EVENT.eventId);
  if (outcome.kind !== 'found') throw new Error('event missing');
  return outcome.summary;
}

describe('reserveSeats', () => {
  it('when the seats fit, it reserves them and the version grows by one', async () => {
    const { service } = setup();
    const outcome = await service.reserveSeats({ eventId: 'gig', partnerId: 'abc', seats: 3 });
    expect(outcome).toMatchObject({
      kind: 'reserved',
      reservation: { seats: 3, partnerId: 'abc', status: 'confirmed' },
    });
    expect(await summary(service)).toMatchObject({
      availableSeats: 17,
      reservedSeats: 3,
      reservationCount: 1,
      version: 1,
    });
  });

  it('when fewer seats remain than requested, it answers insufficient_seats and changes nothing', async () => {
    const { service } = setup({ totalSeats: 4 });
    await service.reserveSeats({ eventId: 'gig', partnerId: 'abc', seats: 3 });
    expect(await service.reserveSeats({ eventId: 'gig', partnerId: 'abc', seats: 2 })).toEqual({
      kind: 'insufficient_seats',
      availableSeats: 1,
    });
    expect(await summary(service)).toMatchObject({ availableSeats: 1, version: 1 });
  });

  it('takes the last seat exactly', async () => {
    const { service } = setup({ totalSeats: 10 });
    expect((await service.reserveSeats({ eventId: 'gig', partnerId: 'p', seats: 10 })).kind).toBe('reserved');
    expect(await summary(service)).toMatchObject({ availableSeats: 0 });
  });

  it.each([0, 11, -1, 2.5])("refuses %s seats, naming the event's limit, and changes nothing", async (seats) => {
    const { service } = setup();
    expect(await service.reserveSeats({ eventId: 'gig', partnerId: 'p', seats })).toEqual({
      kind: 'invalid_seats',
      maxSeatsPerReservation: 10,
    });
    expect(await summary(service)).toMatchObject({ version: 0 });
  });

  it("applies each event's own limit per reservation", async () => {
    const repository = createInMemoryEventRepository([
      { eventId: 'small', name: 'Small', totalSeats: 50, maxSeatsPerReservation: 4 },
      { eventId: 'large', name: 'Large', totalSeats: 50, maxSeatsPerReservation: 40 },
    ]);
    const service = createReservationService({
      repository,
      clock: { now: () => new Date() },
      ids: { reservationId: () => '00000000-0000-4000-8000-00000000000' + String(repository.allReservations().length) },
      maxWaitMs: 1000,
    });
    expect(await service.reserveSeats({ eventId: 'small', partnerId: 'p', seats: 5 })).toEqual({
      kind: 'invalid_seats',
      maxSeatsPerReservation: 4,
    });
    expect((await service.reserveSeats({ eventId: 'small', partnerId: 'p', seats: 4 })).kind).toBe('reserved');
    expect((await service.reserveSeats({ eventId: 'large', partnerId: 'p', seats: 40 })).kind).toBe('reserved');
    expect(repository.allReservations().map((r) => r.seats)).toEqual([4, 40]);
  });

  it('refuses a blank partner id', async () => {
    const { service } = setup();
    expect(await service.reserveSeats({ eventId: 'gig', partnerId: ' ', seats: 1 })).toEqual({
      kind: 'invalid_partner_id',
    });
  });

  it('answers event_not_found for an unknown event', async () => {
    const { service } = setup();
    expect(await service.reserveSeats({ eventId: 'nope', partnerId: 'p', seats: 1 })).toEqual({
      kind: 'event_not_found',
    });
  });

  it('after version conflicts (another process committing), it re-reads and still reserves', async () => {
    const { service, repository } = setup();
    repository.conflictNext('gig', 5);
    const outcome = await service.reserveSeats({ eventId: 'gig', partnerId: 'p', seats: 2 });
    expect(outcome.kind).toBe('reserved');
    expect(repository.allReservations()).toHaveLength(1);
  });

  it('when conflicts outlast the allowed wait, it answers contended and changes nothing', async () => {
    let now = 0;
    const clock = { now: () => new Date((now += 100)) };
    const { service, repository } = setup({ clock, maxWaitMs: 1000 });
    repository.conflictNext('gig', 1_000_000);
    expect(await service.reserveSeats({ eventId: 'gig', partnerId: 'p', seats: 2 })).toEqual({ kind: 'contended' });
    expect(repository.allReservations()).toHaveLength(0);
    expect(await summary(service)).toMatchObject({ availableSeats: 20 });
  });
});

describe('cancelReservation', () => {
  it('cancels an active reservation and returns its seats', async () => {
    const { service } = setup();
    const reserved = await service.reserveSeats({ eventId: 'gig', partnerId: 'p', seats: 4 });
    if (reserved.kind !== 'reserved') throw new Error('not reserved');
    const outcome = await service.cancelReservation({ reservationId: reserved.reservation.reservationId });
    expect(outcome).toMatchObject({ kind: 'cancelled', reservation: { status: 'cancelled', seats: 4 } });
    expect(await summary(service)).toMatchObject({
      availableSeats: 20,
      reservedSeats: 0,
      reservationCount: 0,
      version: 2,
    });
  });

  it('answers already_cancelled the second time, and returns the seats once', async () => {
    const { service } = setup();
    const reserved = await service.reserveSeats({ eventId: 'gig', partnerId: 'p', seats: 4 });
    if (reserved.kind !== 'reserved') throw new Error('not reserved');
    const id = reserved.reservation.reservationId;
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, () => service.cancelReservation({ reservationId: id })),
    );
    expect(outcomes.filter((o) => o.kind === 'cancelled')).toHaveLength(1);
    expect(outcomes.filter((o) => o.kind === 'already_cancelled')).toHaveLength(7);
    expect(await summary(service)).toMatchObject({ availableSeats: 20, version: 2 });
  });

  it("does not cancel another partner's reservation, or one of another event, when told whose it must be", async () => {
    const { service, repository } = setup();
    const reserved = await service.reserveSeats({ eventId: 'gig', partnerId: 'owner', seats: 4 });
    if (reserved.kind !== 'reserved') throw new Error('not reserved');
    const reservationId = reserved.reservation.reservationId;
    expect(await service.cancelReservation({ reservationId, partnerId: 'someone-else' })).toEqual({
      kind: 'not_found',
    });
    expect(await service.cancelReservation({ reservationId, eventId: 'other-event' })).toEqual({ kind: 'not_found' });
    expect(await service.getReservation(reservationId, 'someone-else')).toBeUndefined();
    expect(repository.allReservations()[0]).toMatchObject({ status: 'confirmed' });
    expect(await summary(service)).toMatchObject({ availableSeats: 16, version: 1 });
    expect((await service.cancelReservation({ reservationId, partnerId: 'owner', eventId: 'gig' })).kind).toBe(
      'cancelled',
    );
    expect(await service.getReservation(reservationId, 'owner')).toMatchObject({ status: 'cancelled' });
  });

  it('answers not_found for an unknown id and for something that is not a UUID', async () => {
    const { service } = setup();
    expect(await service.cancelReservation({ reservationId: '00000000-0000-4000-8000-999999999999' })).toEqual({
      kind: 'not_found',
    });
    expect(await service.cancelReservation({ reservationId: 'abc' })).toEqual({ kind: 'not_found' });
  });

  it('after version conflicts, it re-reads and still cancels', async () => {
    const { service, repository } = setup();
    const reserved = await service.reserveSeats({ eventId: 'gig', partnerId: 'p', seats: 4 });
    if (reserved.kind !== 'reserved') throw new Error('not reserved');
    repository.conflictNext('gig', 3);
    expect((await service.cancelReservation({ reservationId: reserved.reservation.reservationId })).kind).toBe(
      'cancelled',
    );
  });
});

describe('under any interleaving of concurrent reserves and cancels', () => {
  it('never oversells, keeps the invariant, and denies only when the seats did not fit', async () => {
    const command = fc.oneof(
      fc.record({ op: fc.constant('reserve' as const), seats: fc.integer({ min: 1, max: 10 }) }),
      fc.record({ op: fc.constant('cancel' as const), index: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(command, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 3 }),
        async (waves, conflicts) => {
          const { service, repository } = setup({ totalSeats: 25 });
          const reservedIds: string[] = [];
          const denials: Extract<ReserveSeatsOutcome, { kind: 'insufficient_seats' }>[] = [];
          const deniedSeats: number[] = [];
          for (const wave of waves) {
            repository.conflictNext('gig', conflicts);
            await Promise.all(
              wave.map(async (c) => {
                if (c.op === 'reserve') {
                  const outcome = await service.reserveSeats({ eventId: 'gig', partnerId: 'p', seats: c.seats });
                  if (outcome.kind === 'reserved') reservedIds.push(outcome.reservation.reservationId);
                  else if (outcome.kind === 'insufficient_seats') {
                    denials.push(outcome);
                    deniedSeats.push(c.seats);
                  } else throw new Error(`unexpected ${outcome.kind}`);
                } else if (reservedIds.length > 0) {
                  const outcome = await service.cancelReservation({
                    reservationId: reservedIds[c.index % reservedIds.length]!,
                  });
                  expect(['cancelled', 'already_cancelled']).toContain(outcome.kind);
                }
              }),
            );
          }
          const active = repository.allReservations().filter((r) => r.status === 'confirmed');
          const activeSeats = active.reduce((sum, r) => sum + r.seats, 0);
          const s = await summary(service);
          expect(s.availableSeats).toBeGreaterThanOrEqual(0);
          expect(s.availableSeats + activeSeats).toBe(25);
          expect(s.reservationCount).toBe(active.length);
          denials.forEach((d, i) => expect(deniedSeats[i]!).toBeGreaterThan(d.availableSeats));
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('expireHold', () => {
  const at = (ms: number) => new Date(Date.UTC(2025, 0, 1) + ms);

  it('waits for the expiry, then marks the hold expired and returns its seats', async () => {
    let now = at(0);
    const { service } = setup({ clock: { now: () => now } });
    const held = await service.reserveSeats({ eventId: 'gig', partnerId: 'p', seats: 4, holdSeconds: 5 });
    if (held.kind !== 'reserved') throw new Error(held.kind);
    const { reservationId, expiresAt } = held.reservation;
    expect(await service.expireHold(reservationId)).toEqual({ kind: 'not_yet', expiresAt });
    now = expiresAt!;
    const outcome = await service.expireHold(reservationId);
    expect(outcome).toMatchObject({ kind: 'swept', expired: [{ reservationId, status: 'expired' }] });
    expect(await summary(service)).toMatchObject({ availableSeats: 20, heldSeats: 0 });
    // Once marked, there is nothing left to expire.
    expect(await service.expireHold(reservationId)).toEqual({ kind: 'swept', expired: [] });
  });

  it('does nothing for a confirmed or cancelled hold, or an unknown id', async () => {
    let now = at(0);
    const { service } = setup({ clock: { now: () => now } });
    const hold = async () => {
      const outcome = await service.reserveSeats({ eventId: 'gig', partnerId: 'p', seats: 1, holdSeconds: 5 });
      if (outcome.kind !== 'reserved') throw new Error(outcome.kind);
      return outcome.reservation.reservationId;
    };
    const [confirmed, cancelled] = [await hold(), await hold()];
    expect(await service.confirmHold({ reservationId: confirmed, partnerId: 'p' })).toMatchObject({
      kind: 'confirmed',
    });
    expect(await service.cancelReservation({ reservationId: cancelled })).toMatchObject({ kind: 'cancelled' });
    now = at(10_000);
    expect(await service.expireHold(confirmed)).toEqual({ kind: 'not_held' });
    expect(await service.expireHold(cancelled)).toEqual({ kind: 'not_held' });
    expect(await service.expireHold('00000000-0000-4000-8000-999999999999')).toEqual({ kind: 'not_held' });
    expect(await service.expireHold('not-a-uuid')).toEqual({ kind: 'not_held' });
    expect(await summary(service)).toMatchObject({ availableSeats: 19 });
  });
});
