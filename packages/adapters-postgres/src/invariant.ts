import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';

export interface InvariantBreach {
  readonly eventId: string;
  readonly totalSeats: number;
  readonly availableSeats: number;
  /** Sum of seats of confirmed reservations. */
  readonly reservedSeats: number;
  /** Sum of seats of holds the event row still counts as taken (live, or expired and not yet marked). */
  readonly heldSeats: number;
  readonly confirmedReservations: number;
  readonly heldReservations: number;
  /** The event row's own count of the reservations that take seats. */
  readonly recordedReservationCount: number;
}

/**
 * The invariant of DESIGN.md section 2, for every event at one instant (one statement, one snapshot):
 * available_seats + sum(seats of reservations taking seats) = total_seats, and the row's count of them matches.
 * A hold past its expiry that no change has marked yet is counted on both sides (the row still has its seats
 * taken); every read adds those seats back, so at any instant available + held (live) + confirmed = total too.
 */
export async function findInvariantBreaches(db: Kysely<Database>): Promise<InvariantBreach[]> {
  const { rows } = await sql<InvariantBreach>`
    SELECT e.event_id AS "eventId",
           e.total_seats AS "totalSeats",
           e.available_seats AS "availableSeats",
           coalesce(sum(r.seats) FILTER (WHERE r.status = 'confirmed'), 0)::integer AS "reservedSeats",
           coalesce(sum(r.seats) FILTER (WHERE r.status = 'held'), 0)::integer AS "heldSeats",
           (count(*) FILTER (WHERE r.status = 'confirmed'))::integer AS "confirmedReservations",
           (count(*) FILTER (WHERE r.status = 'held'))::integer AS "heldReservations",
           e.active_reservations AS "recordedReservationCount"
      FROM events e
      LEFT JOIN reservations r ON r.event_id = e.event_id AND r.status IN ('confirmed', 'held')
     GROUP BY e.event_id
    HAVING e.available_seats + coalesce(sum(r.seats), 0) <> e.total_seats
        OR count(r.reservation_id) <> e.active_reservations
  `.execute(db);
  return rows;
}
