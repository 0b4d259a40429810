import { isValidName } from './event.js';

/**
 * `held`: seats taken until `expiresAt`, then `expired` (seats back) unless confirmed first. `confirmed`: seats
 * taken until cancelled. A hold whose time has come reads as `expired` at once, whether or not the sweeper has
 * marked it yet.
 */
export type ReservationStatus = 'held' | 'confirmed' | 'cancelled' | 'expired';
export const RESERVATION_STATUSES: readonly ReservationStatus[] = ['held', 'confirmed', 'cancelled', 'expired'];

export interface Reservation {
  readonly reservationId: string;
  readonly eventId: string;
  readonly partnerId: string;
  readonly seats: number;
  readonly status: ReservationStatus;
  readonly createdAt: Date;
  /** When a hold stops counting; set on holds (also once expired), absent on reservations made confirmed. */
  readonly expiresAt?: Date;
}

export const MIN_HOLD_SECONDS = 1;
export const MAX_HOLD_SECONDS = 3600;

/** True when `holdSeconds` is a whole number of seconds a hold may last. */
export function isValidHoldSeconds(holdSeconds: number): boolean {
  return Number.isInteger(holdSeconds) && holdSeconds >= MIN_HOLD_SECONDS && holdSeconds <= MAX_HOLD_SECONDS;
}

/** The status as of `now`: a hold past its expiry is expired, marked or not. */
export function statusAt(reservation: Reservation, now: Date): ReservationStatus {
  if (reservation.status !== 'held') return reservation.status;
  return reservation.expiresAt !== undefined && reservation.expiresAt.getTime() <= now.getTime() ? 'expired' : 'held';
}

/** True while the reservation takes seats: confirmed, or held and not yet expired. */
export function takesSeatsAt(reservation: Reservation, now: Date): boolean {
  const status = statusAt(reservation, now);
  return status === 'confirmed' || status === 'held';
}

export const MIN_SEATS_PER_RESERVATION = 1;
export const MAX_PARTNER_ID_LENGTH = 64;

/** True when `seats` is a whole number of seats one reservation may take, given the event's limit. */
export function isValidSeatCount(seats: number, maxSeatsPerReservation: number): boolean {
  return Number.isInteger(seats) && seats >= MIN_SEATS_PER_RESERVATION && seats <= maxSeatsPerReservation;
}

/**
 * The classic routes' rule for a partner id sent in a body: non-blank, at most 64 characters (code points), without NUL
 * (text cannot hold it). Registered partners' ids are stricter (see partner.ts) and always pass this.
 */
export function isValidPartnerId(partnerId: string): boolean {
  return isValidName(partnerId, MAX_PARTNER_ID_LENGTH);
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Reservation ids are UUIDs; anything else cannot name a reservation. */
export function isReservationId(value: string): boolean {
  return UUID_PATTERN.test(value);
}
