import { describe, expect, it } from 'vitest';
import { createCoalescer } from './coalescer.js';
import type { Reservation } from './reservation.js';
import { spreadSeats } from './seat-pool.js';
import { createInMemoryEventRepository } from './testing/index.js';

const pools = (active: boolean[]) => active.map((a, pool) => ({ pool, active: a }));

describe('spreadSeats', () => {
  it('gives the asking pool what it wants and shares the rest evenly with the pools in use', () => {
    expect(spreadSeats(20, 5, pools([true, false, false, true]), 1)).toEqual([5, 10, 0, 5]);
    expect(spreadSeats(10, 0, pools([true, true, true]), 0)).toEqual([4, 3, 3]);
  });

  it('gives the asking pool everything when it wants more than there is, or no other pool is in use', () => {
    expect(spreadSeats(3, 5, pools([true, true]), 1)).toEqual([0, 3]);
    expect(spreadSeats(9, 2, pools([false, false, false]), 2)).toEqual([0, 0, 9]);
  });

  it('keeps every seat', () => {
    for (let total = 0; total < 40; total += 1) {
      const spread = spreadSeats(total, total % 7, pools([true, false, true, true, false]), total % 5);
      expect(spread.reduce((a, b) => a + b)).toBe(total);
    }
  });
});

describe('coalescers on seat pools', () => {
  const reservation = (seats: number): Reservation => ({
    reservationId: crypto.randomUUID(),
    eventId: 'gig',
    partnerId: 'p',
    seats,
    status: 'confirmed',
    createdAt: new Date(),
  });
  const clock = { now: () => new Date() };

  it('two processes that collide on one pool move apart: one of them moves to another pool', async () => {
    const repository = createInMemoryEventRepository(
      [{ eventId: 'gig', name: 'Gig', totalSeats: 1000, maxSeatsPerReservation: 10 }],
      clock,
      { pools: 4 },
    );
    const [a, b] = [createCoalescer({ repository, clock }), createCoalescer({ repository, clock })];
    // Both start on the same pool (all equally unused, the first in order), then interleave.
    for (let i = 0; i < 20; i += 1) {
      const answers = await Promise.all([a.reserve(reservation(1), Infinity), b.reserve(reservation(1), Infinity)]);
      expect(answers.map((d) => d.kind)).toEqual(['reserved', 'reserved']);
    }
    expect(a.stats().poolMoves + b.stats().poolMoves).toBeGreaterThanOrEqual(1);
    // Apart, they stop conflicting.
    const before = a.stats().versionConflicts + b.stats().versionConflicts;
    for (let i = 0; i < 20; i += 1) {
      await Promise.all([a.reserve(reservation(1), Infinity), b.reserve(reservation(1), Infinity)]);
    }
    expect(a.stats().versionConflicts + b.stats().versionConflicts).toBe(before);
    expect((await repository.findEvent('gig'))!.availableSeats).toBe(920);
  });

  it('never refuses while another pool has the seats, and refuses once none has', async () => {
    const repository = createInMemoryEventRepository(
      [{ eventId: 'gig', name: 'Gig', totalSeats: 12, maxSeatsPerReservation: 10 }],
      clock,
      { pools: 4 },
    );
    const coalescer = createCoalescer({ repository, clock });
    expect(await coalescer.reserve(reservation(10), Infinity)).toMatchObject({ kind: 'reserved' });
    expect(await coalescer.reserve(reservation(3), Infinity)).toEqual({
      kind: 'insufficient_seats',
      availableSeats: 2,
    });
    expect(await coalescer.reserve(reservation(2), Infinity)).toMatchObject({ kind: 'reserved' });
    expect(repository.poolSeats('gig')).toEqual([0, 0, 0, 0]);
    expect(coalescer.stats().rebalances).toBeGreaterThanOrEqual(2);
  });
});
