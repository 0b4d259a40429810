import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';

export interface InvariantBreach {
  readonly eventId: string;
  readonly totalSeats: number;
  /** As partners see it now: the row's available seats plus those of holds past their expiry not yet marked. */
  readonly availableSeats: number;
  /** Sum of seats of confirmed reservations. */
  readonly reservedSeats: number;
  /** Sum of seats of live holds (not yet expired). */
  readonly heldSeats: number;
  readonly confirmedReservations: number;
  readonly heldReservations: number;
  /** Holds past their expiry that no change has marked yet (their seats are counted as available). */
  readonly unmarkedExpiredHolds: number;
  /**
   * The event's own count of the reservations it counts as taking seats (confirmed, and unmarked holds): its row's
   * plus its pools'.
   */
  readonly recordedReservationCount: number;
}

/**
 * The invariant of docs/design.md ("The invariant"), for every event at one instant (one statement, one snapshot,
 * the database's clock): available + seats of live holds + seats of confirmed reservations = total, where a hold
 * past its expiry counts as expired from that instant, marked or not; and the row's count matches the rows it
 * counts. (The row itself keeps an unmarked expired hold's seats taken until a change marks it, so the check is
 * the same as available_seats + sum(seats of confirmed and held rows) = total_seats.) An event's available seats
 * are its row's reserve plus its seat pools', summed in the same snapshot.
 */
export async function findInvariantBreaches(db: Kysely<Database>): Promise<InvariantBreach[]> {
  const { rows } = await sql<InvariantBreach>`
    SELECT e.event_id AS "eventId",
           e.total_seats AS "totalSeats",
           (e.available_seats + p.available_seats
             + coalesce(sum(r.seats) FILTER (WHERE r.status = 'held' AND r.expires_at <= now()), 0))::integer
             AS "availableSeats",
           coalesce(sum(r.seats) FILTER (WHERE r.status = 'confirmed'), 0)::integer AS "reservedSeats",
           coalesce(sum(r.seats) FILTER (WHERE r.status = 'held' AND r.expires_at > now()), 0)::integer AS "heldSeats",
           (count(*) FILTER (WHERE r.status = 'confirmed'))::integer AS "confirmedReservations",
           (count(*) FILTER (WHERE r.status = 'held' AND r.expires_at > now()))::integer AS "heldReservations",
           (count(*) FILTER (WHERE r.status = 'held' AND r.expires_at <= now()))::integer AS "unmarkedExpiredHolds",
           (e.active_reservations + p.active_reservations)::integer AS "recordedReservationCount"
      FROM events e
     CROSS JOIN LATERAL (
       SELECT coalesce(sum(available_seats), 0)::integer AS available_seats,
              coalesce(sum(active_reservations), 0)::integer AS active_reservations
         FROM event_seat_pools WHERE event_id = e.event_id
     ) p
      LEFT JOIN reservations r ON r.event_id = e.event_id AND r.status IN ('confirmed', 'held')
     GROUP BY e.event_id, p.available_seats, p.active_reservations
    HAVING e.available_seats + p.available_seats + coalesce(sum(r.seats), 0) <> e.total_seats
        OR count(r.reservation_id) <> e.active_reservations + p.active_reservations
  `.execute(db);
  return rows;
}

export interface EventTotals {
  readonly totalSeats: number;
  /** The event row's reserve plus its pools' seats (holds past their expiry not added). */
  readonly availableSeats: number;
  /** The event row's count plus its pools'. */
  readonly activeReservations: number;
  /** The event row's version plus its pools'. */
  readonly version: number;
}

/** The event's stored counts, its row's and its pools' summed in one snapshot; undefined if it does not exist. */
export async function readEventTotals(db: Kysely<Database>, eventId: string): Promise<EventTotals | undefined> {
  const { rows } = await sql<EventTotals>`
    SELECT e.total_seats AS "totalSeats",
           (e.available_seats + coalesce(sum(p.available_seats), 0))::integer AS "availableSeats",
           (e.active_reservations + coalesce(sum(p.active_reservations), 0))::integer AS "activeReservations",
           (e.version + coalesce(sum(p.version), 0))::integer AS version
      FROM events e LEFT JOIN event_seat_pools p USING (event_id)
     WHERE e.event_id = ${eventId}
     GROUP BY e.event_id
  `.execute(db);
  return rows[0];
}
