import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planBatch, type PlannedChange } from './plan-batch.js';

const reserve = (seats: number): PlannedChange => ({ kind: 'reserve', seats });
const cancel = (reservationId: string, seats: number): PlannedChange => ({ kind: 'cancel', reservationId, seats });

describe('planBatch', () => {
  it('accepts reservations in arrival order while they fit, and lets smaller ones past one that does not', () => {
    const plan = planBatch(10, [reserve(4), reserve(7), reserve(5), reserve(1), reserve(1)]);
    expect(plan.decisions).toEqual(['accept', 'insufficient_seats', 'accept', 'accept', 'insufficient_seats']);
    expect(plan).toMatchObject({ seatsTaken: 10, reservationsAccepted: 3, availableAfter: 0 });
  });

  it('applies cancellations first, so the seats they free are not refused to anyone in the batch', () => {
    const plan = planBatch(0, [reserve(3), cancel('a', 2), cancel('b', 1)]);
    expect(plan.decisions).toEqual(['accept', 'accept', 'accept']);
    expect(plan).toMatchObject({ seatsReturned: 3, seatsTaken: 3, cancellationsAccepted: 2, availableAfter: 0 });
  });

  it('accepts the first cancellation of a reservation and marks repeats as duplicates', () => {
    const plan = planBatch(5, [cancel('a', 2), cancel('a', 2), cancel('a', 2)]);
    expect(plan.decisions).toEqual(['accept', 'duplicate_cancel', 'duplicate_cancel']);
    expect(plan).toMatchObject({ seatsReturned: 2, availableAfter: 7 });
  });

  it('for any batch: never goes below zero, accounts for every seat, and refuses only what does not fit', () => {
    const change = fc.oneof(
      fc.integer({ min: 1, max: 10 }).map(reserve),
      fc.tuple(fc.constantFrom('a', 'b', 'c', 'd'), fc.integer({ min: 1, max: 10 })).map(([id, s]) => cancel(id, s)),
    );
    fc.assert(
      fc.property(fc.nat({ max: 60 }), fc.array(change, { maxLength: 40 }), (available, changes) => {
        const plan = planBatch(available, changes);
        expect(plan.availableAfter).toBeGreaterThanOrEqual(0);
        expect(plan.availableAfter).toBe(available + plan.seatsReturned - plan.seatsTaken);
        const accepted = changes.filter((_, i) => plan.decisions[i] === 'accept');
        expect(plan.reservationsAccepted + plan.cancellationsAccepted).toBe(accepted.length);
        // Every refused reservation would not fit even in what is left after the batch.
        changes.forEach((c, i) => {
          if (plan.decisions[i] === 'insufficient_seats') expect(c.seats).toBeGreaterThan(plan.availableAfter);
        });
        // No reservation is cancelled twice.
        const ids = accepted.filter((c) => c.kind === 'cancel').map((c) => c.reservationId);
        expect(new Set(ids).size).toBe(ids.length);
      }),
    );
  });
});
