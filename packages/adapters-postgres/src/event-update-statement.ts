import type { EventChanges } from '@ticketboss/domain';
import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';

export type UpdateOutcome =
  | { readonly kind: 'updated' }
  | { readonly kind: 'event_not_found' }
  | { readonly kind: 'version_mismatch'; readonly currentVersion: number }
  | { readonly kind: 'below_reserved'; readonly reservedSeats: number };

/**
 * An update of the event, in one transaction: locks the event's holds past their expiry (in id order, as commits
 * do), then the event row, then all its pools in pool order (as rebalances do); checks the expected version (the
 * event's own plus its pools') and the new total against the seats reserved; then renames, moves every pool's
 * seats (and counts of reservations) to the event row's reserve with the change of total applied (rebalances spread them again), expires the
 * holds past their expiry (as every change of the event does), and counts one change in the version, plus one per
 * hold expired. The event's rollup (migration 0007) gets, in its pool -1 rows, the change of total in the second of
 * `now` and each expired hold in the second of its expiry; the locks on the event row and every pool serialise
 * the writers of those rows.
 */
export async function applyEventUpdate(
  db: Kysely<Database>,
  now: Date,
  eventId: string,
  changes: EventChanges,
  expectedVersion: number | undefined,
): Promise<UpdateOutcome> {
  return db.transaction().execute(async (trx): Promise<UpdateOutcome> => {
    const expiring = (
      await sql<{ reservation_id: string; seats: number; expires_at: Date }>`
        SELECT reservation_id, seats, expires_at FROM reservations
         WHERE event_id = ${eventId} AND status = 'held' AND expires_at <= ${now}
         ORDER BY reservation_id
           FOR UPDATE
      `.execute(trx)
    ).rows;
    const event = (
      await sql<{ total_seats: number; available_seats: number; version: string }>`
        SELECT total_seats, available_seats, version FROM events WHERE event_id = ${eventId} FOR NO KEY UPDATE
      `.execute(trx)
    ).rows[0];
    if (!event) return { kind: 'event_not_found' };
    const pools = (
      await sql<{ available_seats: number; active_reservations: number; version: string }>`
        SELECT available_seats, active_reservations, version
          FROM event_seat_pools WHERE event_id = ${eventId} ORDER BY pool FOR NO KEY UPDATE
      `.execute(trx)
    ).rows;
    const currentVersion = pools.reduce((sum, p) => sum + Number(p.version), Number(event.version));
    if (expectedVersion !== undefined && currentVersion !== expectedVersion) {
      return { kind: 'version_mismatch', currentVersion };
    }
    // The pools' counts of reservations move to the event row with their seats: a pool's may be negative, the row's
    // may not, and the holds expired here were counted by some pool.
    const pooledReservations = pools.reduce((sum, p) => sum + p.active_reservations, 0);
    const expiredSeats = expiring.reduce((sum, r) => sum + r.seats, 0);
    const available = pools.reduce((sum, p) => sum + p.available_seats, event.available_seats) + expiredSeats;
    // Confirmed reservations and live holds.
    const reservedSeats = event.total_seats - available;
    const totalSeats = changes.totalSeats ?? event.total_seats;
    if (totalSeats < reservedSeats) return { kind: 'below_reserved', reservedSeats };
    const capacityChange = totalSeats - event.total_seats;
    await sql`
      WITH emptied AS (
        UPDATE event_seat_pools SET available_seats = 0, active_reservations = 0
         WHERE event_id = ${eventId} AND (available_seats <> 0 OR active_reservations <> 0)
      ), expired AS (
        UPDATE reservations SET status = 'expired'
         WHERE reservation_id = ANY(${expiring.map((r) => r.reservation_id)}::uuid[])
      ), activity AS (
        INSERT INTO event_activity AS a (event_id, second, pool, expiries, expired_seats, capacity_change)
        SELECT ${eventId}, c.second, -1, sum(c.expiries), sum(c.expired_seats), sum(c.capacity_change)
          FROM (
            SELECT date_trunc('second', ${now}::timestamptz) AS second, 0 AS expiries, 0 AS expired_seats,
                   ${capacityChange}::integer AS capacity_change
             WHERE ${capacityChange}::integer <> 0
            UNION ALL
            SELECT date_trunc('second', x.expires_at), 1, x.seats, 0
              FROM unnest(${expiring.map((r) => r.expires_at)}::timestamptz[],
                          ${expiring.map((r) => r.seats)}::integer[]) AS x(expires_at, seats)
          ) AS c
         GROUP BY c.second
        ON CONFLICT (event_id, second, pool) DO UPDATE
           SET expiries = a.expiries + excluded.expiries,
               expired_seats = a.expired_seats + excluded.expired_seats,
               capacity_change = a.capacity_change + excluded.capacity_change
      )
      UPDATE events
         SET name = coalesce(${changes.name ?? null}::text, name),
             total_seats = ${totalSeats},
             available_seats = ${totalSeats - reservedSeats},
             active_reservations = active_reservations + ${pooledReservations - expiring.length},
             version = version + 1 + ${expiring.length},
             updated_at = now()
       WHERE event_id = ${eventId}
    `.execute(trx);
    return { kind: 'updated' };
  });
}
