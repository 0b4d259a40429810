/** The state of an event's seat pool, as the version guard sees it. */
export interface Event {
  readonly eventId: string;
  readonly name: string;
  readonly totalSeats: number;
  /** Seats neither confirmed nor held by a live hold: a hold past its expiry counts here from that instant. */
  readonly availableSeats: number;
  /** Holds past their expiry whose seats the event row still counts as taken, until a change or the sweeper. */
  readonly expiredHolds: number;
  /** The most seats one reservation may take; set when the event is created. */
  readonly maxSeatsPerReservation: number;
  /**
   * Counts accepted changes: +1 per reservation, cancellation, confirmation or expiry applied, and per update of
   * the event.
   */
  readonly version: number;
}

export interface EventSummary extends Event {
  /** Seats of confirmed reservations. */
  readonly reservedSeats: number;
  /** Seats of live holds (not yet expired). availableSeats + heldSeats + reservedSeats = totalSeats. */
  readonly heldSeats: number;
  /** Number of confirmed reservations. */
  readonly reservationCount: number;
}

export interface EventDefinition {
  readonly eventId: string;
  readonly name: string;
  readonly totalSeats: number;
  readonly maxSeatsPerReservation: number;
}

/** What an update may change; seats already reserved stay reserved. */
export interface EventChanges {
  readonly name?: string;
  readonly totalSeats?: number;
}

export const EVENT_ID_PATTERN = '^[a-z0-9][a-z0-9-]{0,63}$';
export const MAX_EVENT_NAME_LENGTH = 200;
export const MAX_TOTAL_SEATS = 1_000_000;
export const DEFAULT_MAX_SEATS_PER_RESERVATION = 10;
/** The largest per-reservation limit an event may set. */
export const MAX_SEATS_PER_RESERVATION_LIMIT = 1000;

const eventIdPattern = new RegExp(EVENT_ID_PATTERN);

export function isValidEventId(eventId: string): boolean {
  return eventIdPattern.test(eventId);
}

/** A display name: non-blank, at most `maxLength` characters (code points), no NUL (text cannot hold it). */
export function isValidName(name: string, maxLength = MAX_EVENT_NAME_LENGTH): boolean {
  return name.trim().length > 0 && [...name].length <= maxLength && !name.includes('\u0000');
}

export function isValidTotalSeats(totalSeats: number): boolean {
  return Number.isInteger(totalSeats) && totalSeats >= 0 && totalSeats <= MAX_TOTAL_SEATS;
}

export function isValidMaxSeatsPerReservation(max: number): boolean {
  return Number.isInteger(max) && max >= 1 && max <= MAX_SEATS_PER_RESERVATION_LIMIT;
}

/** The event the classic routes operate on (they name none); created at start if missing, never reset. */
export const DEFAULT_EVENT: EventDefinition = {
  eventId: 'node-meetup-2025',
  name: 'Node.js Meet-up',
  totalSeats: 500,
  maxSeatsPerReservation: DEFAULT_MAX_SEATS_PER_RESERVATION,
};
