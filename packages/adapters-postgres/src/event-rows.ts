import { statusAt, type Event, type EventDefinition, type EventSummary, type Reservation } from '@ticketboss/domain';
import { sql, type RawBuilder, type Selectable } from 'kysely';
import type { EventsTable, ReservationsTable } from './database.js';

// The event and reservation rows as the statements read them, and how they map to the domain's types: the one
// place that knows both shapes.

type EventColumns = Pick<
  Selectable<EventsTable>,
  | 'event_id'
  | 'name'
  | 'total_seats'
  | 'available_seats'
  | 'active_reservations'
  | 'max_seats_per_reservation'
  | 'version'
>;

/**
 * The event row, with its holds as of the reading's instant: those past their expiry (still counted as taken by
 * the row until a change marks them) and those still live. Absent on rows just changed, which have none expired.
 */
export type EventRow = EventColumns & {
  expired_seats?: number;
  expired_holds?: number;
  live_held_seats?: number;
  live_holds?: number;
  /** The latest of its pools' last sales (migration 0007); null if it never sold. */
  last_sale_at?: Date | null;
};

export function toEvent(row: EventRow): Event {
  return {
    eventId: row.event_id,
    name: row.name,
    totalSeats: row.total_seats,
    availableSeats: row.available_seats + (row.expired_seats ?? 0),
    expiredHolds: row.expired_holds ?? 0,
    maxSeatsPerReservation: row.max_seats_per_reservation,
    version: Number(row.version),
  };
}

export function toEventSummary(row: EventRow): EventSummary {
  const event = toEvent(row);
  const heldSeats = row.live_held_seats ?? 0;
  return {
    ...event,
    // The row counts confirmed reservations and every unmarked hold as taken.
    reservedSeats: event.totalSeats - event.availableSeats - heldSeats,
    heldSeats,
    reservationCount: row.active_reservations - (row.expired_holds ?? 0) - (row.live_holds ?? 0),
  };
}

export function toReservation(row: Selectable<ReservationsTable>, now: Date): Reservation {
  const reservation: Reservation = {
    reservationId: row.reservation_id,
    eventId: row.event_id,
    partnerId: row.partner_id,
    seats: row.seats,
    status: row.status,
    createdAt: new Date(row.created_at),
    ...(row.expires_at ? { expiresAt: new Date(row.expires_at) } : {}),
  };
  return { ...reservation, status: statusAt(reservation, now) };
}

export const eventColumns = [
  'event_id',
  'name',
  'total_seats',
  'available_seats',
  'active_reservations',
  'max_seats_per_reservation',
  'version',
] as const;

/**
 * Events as partners see them, with their holds as of `now`; `where` and `tail` finish the statement. The seats,
 * the count of reservations and the version are the event row's plus its pools', all read at one instant (one
 * statement, one snapshot), and so is the last sale, the latest of the pools' (the console's).
 */
export function selectEventsWithHolds(now: Date, where: RawBuilder<unknown>, tail: RawBuilder<unknown> = sql``) {
  return sql<EventRow>`
    SELECT e.event_id, e.name, e.total_seats,
           (e.available_seats + p.available_seats)::integer AS available_seats,
           (e.active_reservations + p.active_reservations)::integer AS active_reservations,
           e.max_seats_per_reservation,
           (e.version + p.version)::bigint AS version,
           h.expired_seats, h.expired_holds, h.live_held_seats, h.live_holds, p.last_sale_at
      FROM events e
     CROSS JOIN LATERAL (
       SELECT coalesce(sum(available_seats), 0) AS available_seats,
              coalesce(sum(active_reservations), 0) AS active_reservations,
              coalesce(sum(version), 0) AS version,
              max(last_sale_at) AS last_sale_at
         FROM event_seat_pools
        WHERE event_id = e.event_id
     ) p
     CROSS JOIN LATERAL (
       SELECT coalesce(sum(r.seats) FILTER (WHERE r.expires_at <= ${now}), 0)::integer AS expired_seats,
              (count(*) FILTER (WHERE r.expires_at <= ${now}))::integer AS expired_holds,
              coalesce(sum(r.seats) FILTER (WHERE r.expires_at > ${now}), 0)::integer AS live_held_seats,
              (count(*) FILTER (WHERE r.expires_at > ${now}))::integer AS live_holds
         FROM reservations r
        WHERE r.event_id = e.event_id AND r.status = 'held'
     ) h
     WHERE ${where}
     ${tail}
  `;
}

/** The row of a new event: every seat in its pools (see newPoolRows), none in the event row itself. */
export function eventValues(event: EventDefinition) {
  return {
    event_id: event.eventId,
    name: event.name,
    total_seats: event.totalSeats,
    available_seats: 0,
    max_seats_per_reservation: event.maxSeatsPerReservation,
    version: 0,
  };
}
