import type { Reservation } from './reservation.js';

/**
 * The reservations this process made lately, so that cancelling one needs no database lookup to find its event
 * and seats. Those facts never change; whether the reservation is still active is not remembered here, it is
 * checked by the commit that cancels it. Bounded: the oldest are forgotten first, and a forgotten one is simply
 * looked up.
 */
export interface RecentReservations {
  remember(reservation: Reservation): void;
  /** The reservation, if it was made here lately. */
  get(reservationId: string): Reservation | undefined;
  forget(reservationId: string): void;
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
    get: (reservationId) => entries.get(reservationId),
    forget(reservationId) {
      entries.delete(reservationId);
    },
  };
}
