import { isValidName } from './event.js';

export type ReservationStatus = 'confirmed' | 'cancelled';
export const RESERVATION_STATUSES: readonly ReservationStatus[] = ['confirmed', 'cancelled'];

export interface Reservation {
  readonly reservationId: string;
  readonly eventId: string;
  readonly partnerId: string;
  readonly seats: number;
  readonly status: ReservationStatus;
  readonly createdAt: Date;
}

export const MIN_SEATS_PER_RESERVATION = 1;
export const MAX_PARTNER_ID_LENGTH = 64;

/** True when `seats` is a whole number of seats one reservation may take, given the event's limit. */
export function isValidSeatCount(seats: number, maxSeatsPerReservation: number): boolean {
  return Number.isInteger(seats) && seats >= MIN_SEATS_PER_RESERVATION && seats <= maxSeatsPerReservation;
}

/**
 * The seed's rule for a partner id sent in a body: non-blank, at most 64 characters (code points), without NUL
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
