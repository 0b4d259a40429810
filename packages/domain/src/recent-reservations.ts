import type { Reservation } from './reservation.js';

/**
 * The reservations this process made lately, so that cancelling one needs no database lookup to find its event
 * and seats. Those facts never change; whether the reservation is still active is not remembered here, it is
 * checked by the commit that cancels it. Bounded: the oldest are forgotten first, and a forgotten one is simply
 * looked up.
 */
export interface RecentReservations {
  remember(reservation: Reservation): void;
  /** Returns and forgets the reservation, if it was made here lately. */
  take(reservationId: string): Reservation | undefined;
}

export function createRecentReservations(capacity: number): RecentReservations {
  const entries = new Map<string, Reservation>();
  return {
    remember(reservation) {
      entries.set(reservation.reservationId, reservation);
      if (entries.size > capacity) {
        const oldest = entries.keys().next();
        if (!oldest.done) entries.delete(oldest.value);
      }
    },
    take(reservationId) {
      const reservation = entries.get(reservationId);
      entries.delete(reservationId);
      return reservation;
    },
  };
}
