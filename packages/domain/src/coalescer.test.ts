import { describe, expect, it, vi } from 'vitest';
import { createCoalescer, REMEMBERED_EVENTS } from './coalescer.js';
import { TransientFailure } from './ports.js';
import type { Reservation } from './reservation.js';
import type { Clock } from './ports.js';
import { createInMemoryEventRepository } from './testing/index.js';

let counter = 0;
function reservation(seats: number, eventId = 'gig'): Reservation {
  counter += 1;
  return {
    reservationId: `00000000-0000-4000-8000-${String(counter).padStart(12, '0')}`,
    eventId,
    partnerId: 'p',
    seats,
    status: 'confirmed',
    createdAt: new Date(),
  };
}

function setup(totalSeats = 20, clock: Clock = { now: () => new Date() }) {
  const repository = createInMemoryEventRepository(
    [
      { eventId: 'gig', name: 'Gig', totalSeats, maxSeatsPerReservation: 10 },
      { eventId: 'other', name: 'Other', totalSeats, maxSeatsPerReservation: 10 },
    ],
    clock,
  );
  return { repository, coalescer: createCoalescer({ repository, clock }) };
}

const FAR = Number.MAX_SAFE_INTEGER;

/** Lets the coalescer's promises run until `condition` holds (no real time: the in-memory repository only yields). */
async function until(condition: () => boolean): Promise<void> {
  for (let turns = 0; !condition(); turns += 1) {
    if (turns > 1000) throw new Error('condition not reached');
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

describe('coalescer', () => {
  it('commits a lone request at once, and everything that queued behind a commit in the next one', async () => {
    const { repository, coalescer } = setup();
    const first = coalescer.reserve(reservation(1), FAR);
    const queued = Array.from({ length: 10 }, () => coalescer.reserve(reservation(1), FAR));
    const outcomes = await Promise.all([first, ...queued]);
    expect(outcomes.every((o) => o.kind === 'reserved')).toBe(true);
    expect(repository.commitCalls()).toEqual([
      { reservations: 1, cancellations: 0 },
      { reservations: 10, cancellations: 0 },
    ]);
    // The version counts changes, not commits.
    expect(await repository.findEvent('gig')).toMatchObject({ availableSeats: 9, version: 11 });
    expect(coalescer.stats()).toMatchObject({ commits: 2, changesCommitted: 11, largestBatch: 10 });
  });

  it('tells its observer the size of every commit and every version conflict, as they happen', async () => {
    const repository = createInMemoryEventRepository([
      { eventId: 'gig', name: 'Gig', totalSeats: 20, maxSeatsPerReservation: 10 },
    ]);
    const sizes: number[] = [];
    let conflicts = 0;
    const coalescer = createCoalescer({
      repository,
      clock: { now: () => new Date() },
      observer: { committed: (changes) => sizes.push(changes), conflicted: () => (conflicts += 1) },
    });
    repository.conflictNext('gig', 2);
    await Promise.all([
      coalescer.reserve(reservation(1), FAR),
      ...Array.from({ length: 4 }, () => coalescer.reserve(reservation(1), FAR)),
    ]);
    expect(sizes).toEqual([1, 4]);
    expect(conflicts).toBe(2);
    expect(coalescer.stats()).toMatchObject({ commits: 2, changesCommitted: 5, versionConflicts: 2 });
  });

  it('keeps events apart: a busy event does not hold up another', async () => {
    const { repository, coalescer } = setup();
    await Promise.all([coalescer.reserve(reservation(2, 'gig'), FAR), coalescer.reserve(reservation(3, 'other'), FAR)]);
    expect(repository.commitCalls()).toHaveLength(2);
    expect(await repository.findEvent('other')).toMatchObject({ availableSeats: 17 });
  });

  it('cancels and reserves in one commit, the freed seats going to the reservation', async () => {
    const { repository, coalescer } = setup(5);
    const held = reservation(5);
    await coalescer.reserve(held, FAR);
    const [wanted, cancelled] = await Promise.all([
      coalescer.reserve(reservation(4), FAR),
      coalescer.cancel(held, FAR),
    ]);
    expect(wanted.kind).toBe('reserved');
    expect(cancelled.kind).toBe('cancelled');
    expect(await repository.findEvent('gig')).toMatchObject({ availableSeats: 1, version: 3 });
  });

  it('answers one of several cancellations of the same reservation, and "already cancelled" to the rest', async () => {
    const { repository, coalescer } = setup();
    const held = reservation(3);
    await coalescer.reserve(held, FAR);
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => coalescer.cancel(held, FAR)));
    expect(outcomes.filter((o) => o.kind === 'cancelled')).toHaveLength(1);
    expect(outcomes.filter((o) => o.kind === 'already_cancelled')).toHaveLength(7);
    expect(await repository.findEvent('gig')).toMatchObject({ availableSeats: 20, version: 2 });
  });

  it('does not refuse on its own stale picture: seats freed by another process are found by a fresh read', async () => {
    const { repository, coalescer } = setup(10);
    const held = reservation(10);
    await coalescer.reserve(held, FAR);
    repository.cancelElsewhere(held.reservationId);
    expect((await coalescer.reserve(reservation(6), FAR)).kind).toBe('reserved');
  });

  it('refuses when a fresh read shows the seats do not fit, reporting what is left', async () => {
    const { coalescer } = setup(10);
    await coalescer.reserve(reservation(8), FAR);
    expect(await coalescer.reserve(reservation(3), FAR)).toEqual({ kind: 'insufficient_seats', availableSeats: 2 });
  });

  it('re-plans after a version conflict', async () => {
    const { repository, coalescer } = setup();
    repository.conflictNext('gig', 3);
    expect((await coalescer.reserve(reservation(2), FAR)).kind).toBe('reserved');
    expect(coalescer.stats().versionConflicts).toBe(3);
  });

  it('a cancellation another process got to first is answered "already cancelled"; the rest still commit', async () => {
    const { repository, coalescer } = setup();
    const held = reservation(3);
    await coalescer.reserve(held, FAR);
    repository.cancelElsewhere(held.reservationId);
    const [cancelled, reserved] = await Promise.all([
      coalescer.cancel(held, FAR),
      coalescer.reserve(reservation(2), FAR),
    ]);
    expect(cancelled).toEqual({ kind: 'already_cancelled' });
    expect(reserved.kind).toBe('reserved');
    expect(await repository.findEvent('gig')).toMatchObject({ availableSeats: 18 });
  });

  it('past its deadline a request answers contended and nothing is applied for it', async () => {
    let now = 0;
    const { repository, coalescer } = setup(20, { now: () => new Date((now += 10)) });
    repository.conflictNext('gig', Number.MAX_SAFE_INTEGER);
    expect(await coalescer.reserve(reservation(2), 500)).toEqual({ kind: 'contended' });
    expect(repository.allReservations()).toEqual([]);
  });

  it('forgets an unknown event once it is answered: ids nobody has do not grow its memory', async () => {
    const { coalescer } = setup();
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, (_, n) => coalescer.reserve(reservation(1, `no-such-event-${n}`), FAR)),
    );
    expect(outcomes.every((o) => o.kind === 'event_not_found')).toBe(true);
    expect(coalescer.stats().queuedEvents).toBe(0);
  });

  it('holds a queue per event only while it has requests waiting or a commit in flight', async () => {
    const { repository, coalescer } = setup();
    const original = repository.commitChanges.bind(repository);
    const releases: (() => void)[] = [];
    repository.commitChanges = async (expected, changes) => {
      await new Promise<void>((resolve) => releases.push(resolve));
      return original(expected, changes);
    };
    const gig = Promise.all([coalescer.reserve(reservation(1, 'gig'), FAR), coalescer.reserve(reservation(1), FAR)]);
    const other = coalescer.reserve(reservation(1, 'other'), FAR);
    await until(() => releases.length === 2);
    expect(coalescer.stats().queuedEvents).toBe(2);
    releases.splice(0).forEach((release) => release());
    await until(() => releases.length === 1); // the request that queued behind gig's first commit
    expect(coalescer.stats().queuedEvents).toBe(1);
    releases.splice(0).forEach((release) => release());
    expect((await gig).map((o) => o.kind)).toEqual(['reserved', 'reserved']);
    expect((await other).kind).toBe('reserved');
    expect(coalescer.stats().queuedEvents).toBe(0);
    // A forgotten queue's event commits on its next request as before.
    repository.commitChanges = original;
    expect((await coalescer.reserve(reservation(1), FAR)).kind).toBe('reserved');
    expect(await repository.findEvent('gig')).toMatchObject({ availableSeats: 17, version: 3 });
    expect(coalescer.stats().queuedEvents).toBe(0);
  });

  it('a client sending one request after another commits without a read first, as before queues were forgotten', async () => {
    const { repository, coalescer } = setup();
    const read = vi.spyOn(repository, 'findSeatPool');
    for (let i = 0; i < 5; i += 1) expect((await coalescer.reserve(reservation(1), FAR)).kind).toBe('reserved');
    expect(read).toHaveBeenCalledTimes(1);
    await until(() => coalescer.stats().queuedEvents === 0);
  });

  it('remembers the last known state of a bounded number of idle events, the least recent forgotten first', async () => {
    const ids = Array.from({ length: REMEMBERED_EVENTS + 1 }, (_, n) => `event-${n}`);
    const repository = createInMemoryEventRepository(
      ids.map((eventId) => ({ eventId, name: eventId, totalSeats: 5, maxSeatsPerReservation: 5 })),
    );
    const coalescer = createCoalescer({ repository, clock: { now: () => new Date() } });
    for (const id of ids) expect((await coalescer.reserve(reservation(1, id), FAR)).kind).toBe('reserved');
    await until(() => coalescer.stats().queuedEvents === 0); // every queue forgotten, its state remembered or not
    const read = vi.spyOn(repository, 'findSeatPool');
    await coalescer.reserve(reservation(1, ids.at(-1)), FAR); // the most recent: remembered
    expect(read).toHaveBeenCalledTimes(0);
    await coalescer.reserve(reservation(1, ids[0]), FAR); // the least recent: forgotten, read again
    expect(read).toHaveBeenCalledTimes(1);
  });

  it('when a commit fails, its requests fail and the next batch goes on', async () => {
    const { repository, coalescer } = setup();
    const original = repository.commitChanges.bind(repository);
    let failNext = true;
    repository.commitChanges = async (expected, changes) => {
      if (failNext) {
        failNext = false;
        throw new Error('connection lost');
      }
      return original(expected, changes);
    };
    const failing = coalescer.reserve(reservation(1), FAR);
    const after = coalescer.reserve(reservation(1), FAR);
    await expect(failing).rejects.toThrow('connection lost');
    expect((await after).kind).toBe('reserved');
  });
});

describe('coalescer, when the database misbehaves', () => {
  const realTimers = {
    after(ms: number, callback: () => void) {
      const timer = setTimeout(callback, ms);
      return () => clearTimeout(timer);
    },
  };

  it('answers contended at its deadline a request queued behind a commit that hangs', async () => {
    const repository = createInMemoryEventRepository([
      { eventId: 'gig', name: 'Gig', totalSeats: 20, maxSeatsPerReservation: 10 },
    ]);
    let release: () => void = () => undefined;
    const original = repository.commitChanges.bind(repository);
    repository.commitChanges = async (expected, changes) => {
      await new Promise<void>((resolve) => (release = resolve));
      return original(expected, changes);
    };
    const coalescer = createCoalescer({ repository, clock: { now: () => new Date() }, timers: realTimers });
    const stuck = coalescer.reserve(reservation(1), Date.now() + 50);
    const queued = coalescer.reserve(reservation(1), Date.now() + 50);
    // Answered while the commit ahead of it still hangs (it is released only below).
    expect(await queued).toEqual({ kind: 'contended' });
    // The commit in flight is answered with what it did, however late.
    release();
    expect((await stuck).kind).toBe('reserved');
  });

  it('retries a read that failed transiently', async () => {
    const repository = createInMemoryEventRepository([
      { eventId: 'gig', name: 'Gig', totalSeats: 20, maxSeatsPerReservation: 10 },
    ]);
    const original = repository.findSeatPool.bind(repository);
    let failures = 2;
    repository.findSeatPool = async (eventId, choice) => {
      if (failures-- > 0) throw new TransientFailure('lock timeout');
      return original(eventId, choice);
    };
    const coalescer = createCoalescer({ repository, clock: { now: () => new Date() } });
    expect((await coalescer.reserve(reservation(3), FAR)).kind).toBe('reserved');
    expect(failures).toBe(-1);
  });

  it('changes a reservation once per commit: a second confirm, or a cancel after a confirm, waits for the next', async () => {
    const { repository, coalescer } = setup(10);
    const hold: Reservation = { ...reservation(2), status: 'held', expiresAt: new Date(Date.now() + 60_000) };
    expect(await coalescer.reserve(hold, FAR)).toMatchObject({ kind: 'reserved' });
    // While a commit is in flight, all three queue up for the next one.
    const inFlight = coalescer.reserve(reservation(1), FAR);
    const outcomes = await Promise.all([
      coalescer.confirm(hold, FAR),
      coalescer.confirm(hold, FAR),
      coalescer.cancel(hold, FAR),
      inFlight,
    ]);
    expect(outcomes.map((o) => o.kind)).toEqual(['confirmed', 'not_live', 'cancelled', 'reserved']);
    const stored = repository.allReservations().find((r) => r.reservationId === hold.reservationId);
    expect(stored?.status).toBe('cancelled');
    expect(await repository.getEventSummary('gig')).toMatchObject({
      availableSeats: 9,
      heldSeats: 0,
      reservedSeats: 1,
      reservationCount: 1,
    });
  });

  it('starts a hold when its commit takes the seats, however long it queued', async () => {
    let nowMs = Date.UTC(2026, 0, 1);
    const clock = { now: () => new Date(nowMs) };
    const { repository, coalescer } = setup(10, clock);
    const createdAt = clock.now();
    const hold: Reservation = {
      ...reservation(2),
      status: 'held',
      createdAt,
      expiresAt: new Date(createdAt.getTime() + 1000),
    };
    const inFlight = coalescer.reserve(reservation(1), FAR);
    const held = coalescer.reserve(hold, FAR);
    nowMs += 5000; // the hold waited five times its length behind the commit in flight
    await inFlight;
    const outcome = await held;
    expect(outcome).toMatchObject({ kind: 'reserved', reservation: { createdAt } });
    if (outcome.kind !== 'reserved') throw new Error('unreachable');
    expect(outcome.reservation.expiresAt).toEqual(new Date(createdAt.getTime() + 6000));
    expect(await repository.getEventSummary('gig')).toMatchObject({ availableSeats: 7, heldSeats: 2 });
  });
});
