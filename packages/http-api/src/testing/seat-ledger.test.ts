import { describe, expect, it } from 'vitest';
import { provenOversell, takenSeatsAllowed, unprovenRefusals, type Taking } from './seat-ledger.js';

// Hand-made histories on an event of 10 seats.
const TOTAL = 10;
describe('seat ledger', () => {
  const eight: Taking = { seats: 8, sentAt: 0, answeredAt: 10 };
  it('proves a refusal of 3 seats answered while 8 of 10 were surely taken', () => {
    expect(unprovenRefusals(TOTAL, [eight], [{ seats: 3, sentAt: 20, answeredAt: 30 }])).toEqual([]);
  });
  it('flags a fabricated false denial: 2 seats refused while only 8 of 10 were taken', () => {
    expect(unprovenRefusals(TOTAL, [eight], [{ seats: 2, sentAt: 20, answeredAt: 30 }])).toEqual([
      { refusal: { seats: 2, sentAt: 20, answeredAt: 30 }, fewestPossiblyFree: 2 },
    ]);
  });
  it('flags a refusal answered before any reservation was even sent', () => {
    expect(
      unprovenRefusals(TOTAL, [{ seats: 10, sentAt: 50, answeredAt: 60 }], [{ seats: 1, sentAt: 0, answeredAt: 40 }]),
    ).toHaveLength(1);
  });
  it('proves a refusal overlapping a reservation in flight (it may have committed first)', () => {
    expect(
      unprovenRefusals(TOTAL, [{ seats: 10, sentAt: 35, answeredAt: 60 }], [{ seats: 1, sentAt: 0, answeredAt: 40 }]),
    ).toEqual([]);
  });
  it('flags a refusal sent after a cancellation was answered 204', () => {
    const cancelled: Taking = { ...eight, cancelSentAt: 15, cancelAnsweredAt: 18 };
    expect(unprovenRefusals(TOTAL, [cancelled], [{ seats: 3, sentAt: 20, answeredAt: 30 }])).toHaveLength(1);
    // ...but not one whose window overlaps the cancellation in flight.
    expect(unprovenRefusals(TOTAL, [cancelled], [{ seats: 3, sentAt: 16, answeredAt: 30 }])).toEqual([]);
  });
  it('counts a reservation without an answer as possibly taken for good', () => {
    expect(unprovenRefusals(TOTAL, [{ seats: 9, sentAt: 0 }], [{ seats: 2, sentAt: 100, answeredAt: 110 }])).toEqual(
      [],
    );
  });
  it('proves an oversell only from answers that show it', () => {
    expect(provenOversell(TOTAL, [eight, { seats: 3, sentAt: 5, answeredAt: 12 }])).toBe(1);
    expect(
      provenOversell(TOTAL, [
        { ...eight, cancelSentAt: 11, cancelAnsweredAt: 20 },
        { seats: 3, sentAt: 5, answeredAt: 12 },
      ]),
    ).toBe(-2);
  });
  it('checks a summary reading against the window', () => {
    const allowed = takenSeatsAllowed([eight]);
    expect(allowed({ takenSeats: 8, sentAt: 20, answeredAt: 30 })).toBe(true);
    expect(allowed({ takenSeats: 0, sentAt: 20, answeredAt: 30 })).toBe(false);
    expect(allowed({ takenSeats: 9, sentAt: 20, answeredAt: 30 })).toBe(false);
    expect(allowed({ takenSeats: 0, sentAt: 5, answeredAt: 30 })).toBe(true);
  });
});
