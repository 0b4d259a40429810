import { describe, expect, it } from 'vitest';
import { createRecentReservations } from './recent-reservations.js';
import type { Reservation } from './reservation.js';

const reservation = (n: number): Reservation => ({
  reservationId: `id-${n}`,
  eventId: 'gig',
  partnerId: 'p',
  seats: 1,
  status: 'confirmed',
  createdAt: new Date(0),
});

describe('recent reservations', () => {
  it('hands a remembered reservation out until it is forgotten', () => {
    const recent = createRecentReservations(10);
    recent.remember(reservation(1));
    expect(recent.get('id-1')).toEqual(reservation(1));
    expect(recent.get('id-1')).toEqual(reservation(1));
    recent.forget('id-1');
    expect(recent.get('id-1')).toBeUndefined();
  });

  it('forgets the oldest beyond its capacity', () => {
    const recent = createRecentReservations(2);
    [1, 2, 3].forEach((n) => recent.remember(reservation(n)));
    expect(recent.get('id-1')).toBeUndefined();
    expect(recent.get('id-2')).toBeDefined();
    expect(recent.get('id-3')).toBeDefined();
  });
});
