import type { EventChanges } from '@ticketboss/domain';
import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';
import { EVENT_COLUMNS, RETURNED_EVENT_COLUMNS, type EventRow } from './event-rows.js';

export interface UpdatedRow {
  updated: EventRow | null;
  current: EventRow | null;
}

/**
 * One statement: the guarded update, which also expires the holds past their expiry (as every change of the
 * event does), and the row as the statement saw it, with its expired seats (to tell why the guard failed).
 */
export async function applyEventUpdate(
  db: Kysely<Database>,
  now: Date,
  eventId: string,
  changes: EventChanges,
  expectedVersion: number | undefined,
): Promise<UpdatedRow> {
  const total = changes.totalSeats ?? null;
  const { rows } = await sql<UpdatedRow>`
    WITH expiring AS (
      SELECT reservation_id, seats
        FROM reservations
       WHERE event_id = ${eventId} AND status = 'held' AND expires_at <= ${now}
       ORDER BY reservation_id
         FOR UPDATE
    ), reclaim AS (
      SELECT coalesce(sum(seats), 0)::integer AS seats, count(*)::integer AS holds FROM expiring
    ), updated AS (
      UPDATE events
         SET name = coalesce(${changes.name ?? null}::text, name),
             total_seats = coalesce(${total}::integer, total_seats),
             available_seats = coalesce(${total}::integer, total_seats) - (total_seats - available_seats - reclaim.seats),
             active_reservations = active_reservations - reclaim.holds,
             version = version + 1 + reclaim.holds,
             updated_at = now()
        FROM reclaim
       WHERE event_id = ${eventId}
         AND (${expectedVersion ?? null}::bigint IS NULL OR version = ${expectedVersion ?? null}::bigint)
         AND coalesce(${total}::integer, total_seats) >= total_seats - available_seats - reclaim.seats
      RETURNING ${RETURNED_EVENT_COLUMNS}
    ), expired AS (
      UPDATE reservations
         SET status = 'expired'
        FROM updated
       WHERE reservations.reservation_id IN (SELECT reservation_id FROM expiring)
    )
    SELECT (SELECT row_to_json(updated) FROM updated) AS updated,
           (SELECT row_to_json(e)
              FROM (SELECT ${EVENT_COLUMNS}, reclaim.seats AS expired_seats FROM events, reclaim
                     WHERE event_id = ${eventId}) AS e) AS current
  `.execute(db);
  const row = rows[0];
  if (!row) throw new Error('update statement returned no row');
  return row;
}
