import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';

export interface InvariantBreach {
  readonly eventId: string;
  readonly totalSeats: number;
  readonly availableSeats: number;
  /** Sum of seats of confirmed reservations. */
  readonly reservedSeats: number;
  readonly confirmedReservations: number;
  /** The event row's own count of active reservations. */
  readonly recordedReservationCount: number;
}

/**
 * The invariant of DESIGN.md section 2, for every event at one instant (one statement, one snapshot):
 * available_seats + sum(seats of active reservations) = total_seats, and the row's reservation count matches.
 */
export async function findInvariantBreaches(db: Kysely<Database>): Promise<InvariantBreach[]> {
  const { rows } = await sql<InvariantBreach>`
    SELECT e.event_id AS "eventId",
           e.total_seats AS "totalSeats",
           e.available_seats AS "availableSeats",
           coalesce(sum(r.seats), 0)::integer AS "reservedSeats",
           count(r.reservation_id)::integer AS "confirmedReservations",
           e.active_reservations AS "recordedReservationCount"
      FROM events e
      LEFT JOIN reservations r ON r.event_id = e.event_id AND r.status = 'confirmed'
     GROUP BY e.event_id
    HAVING e.available_seats + coalesce(sum(r.seats), 0) <> e.total_seats
        OR count(r.reservation_id) <> e.active_reservations
  `.execute(db);
  return rows;
}
