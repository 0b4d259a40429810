import { spreadSeats, type SeatPool } from '@ticketboss/domain';
import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';
import { expiredHoldsOf, toSeatPool } from './seat-pool-rows.js';

/** A pool committed on within this long counts as in use: a rebalance shares the seats among pools in use. */
export const POOL_IN_USE_MS = 5000;
/**
 * Seats a rebalance gave a pool for a commit that will follow are left alone by other rebalances until that commit
 * (which ends the grant) or for this long if it never comes: otherwise two processes short of seats near a
 * sell-out could take them from each other in turn, each rebalance undoing the last, until both batches ran out
 * of time while seats remained. A pool given too few for any of its batch's reservations, and not every seat
 * there is, commits nothing and gets no grant, so that grants cannot hold each other up.
 */
export const GRANT_MS = 250;

/**
 * Moves seats between the event's pools so that `pool` has `wantedSeats` (or every seat there is) plus its share of
 * the rest, in one transaction: locks the event row, then all its pools in pool order (the order every rebalance
 * and update uses, so they cannot deadlock; commits lock one pool and never the event row), sums the seats at that
 * instant (the event row's reserve included) and spreads them with `spreadSeats`, except that a pool another
 * rebalance granted seats to within GRANT_MS keeps its own. Versions stay: the event's seats are the same. The result is `whole` when every available seat of the event is then in `pool`: refusals
 * decided on it are decided on all of the event's seats at the instant of the lock. Undefined if the event does
 * not exist.
 */
export async function rebalancePools(
  db: Kysely<Database>,
  now: Date,
  eventId: string,
  pool: number,
  { wantedSeats, smallestSeats }: { readonly wantedSeats: number; readonly smallestSeats: number },
): Promise<SeatPool | undefined> {
  return db.transaction().execute(async (trx) => {
    const event = (
      await sql<{ available_seats: number; max_seats_per_reservation: number }>`
        SELECT available_seats, max_seats_per_reservation FROM events WHERE event_id = ${eventId} FOR NO KEY UPDATE
      `.execute(trx)
    ).rows[0];
    if (!event) return undefined;
    const pools = (
      await sql<{ pool: number; available_seats: number; version: string; in_use: boolean; granted: boolean }>`
        SELECT pool, available_seats, version, touched_at > ${new Date(now.getTime() - POOL_IN_USE_MS)} AS in_use,
               pool <> ${pool} AND granted_at > ${new Date(now.getTime() - GRANT_MS)} AS granted
          FROM event_seat_pools
         WHERE event_id = ${eventId}
         ORDER BY pool
           FOR NO KEY UPDATE
      `.execute(trx)
    ).rows;
    const mine = pools.find((p) => p.pool === pool);
    if (!mine) throw new Error(`event ${eventId} has no seat pool ${pool}`);
    const total = pools.reduce((sum, p) => sum + p.available_seats, event.available_seats);
    const spreading = pools.filter((p) => !p.granted);
    const kept = pools.filter((p) => p.granted).reduce((sum, p) => sum + p.available_seats, 0);
    const spreadOver = spreadSeats(
      total - kept,
      wantedSeats,
      spreading.map((p) => ({ pool: p.pool, active: p.in_use })),
      pool,
    );
    const spread = pools.map((p) => (p.granted ? p.available_seats : spreadOver[spreading.indexOf(p)]!));
    const seats = spread[pools.indexOf(mine)]!;
    const granted = seats >= wantedSeats || (seats === total && seats >= smallestSeats);
    // The asking pool is always written: its grant starts now, or ends.
    const changed = pools.filter((p, index) => p.available_seats !== spread[index] || p.pool === pool);
    const { rows } = await sql<{ expired_seats: number; expired_holds: number }>`
      WITH spread AS (
        SELECT * FROM unnest(${changed.map((p) => p.pool)}::integer[],
                             ${changed.map((p) => spread[pools.indexOf(p)]!)}::integer[]) AS s(pool, seats)
      ), moved AS (
        UPDATE event_seat_pools p
           SET available_seats = spread.seats,
               granted_at = CASE WHEN p.pool <> ${pool}::integer THEN p.granted_at
                                 WHEN ${granted}::boolean THEN ${now}::timestamptz
                                 ELSE '-infinity' END
          FROM spread
         WHERE p.event_id = ${eventId} AND p.pool = spread.pool
      ), drained AS (
        UPDATE events SET available_seats = 0 WHERE event_id = ${eventId} AND ${event.available_seats}::integer > 0
      )
      ${expiredHoldsOf(eventId, now)}
    `.execute(trx);
    return toSeatPool(
      {
        event_id: eventId,
        pool,
        available_seats: seats,
        version: mine.version,
        max_seats_per_reservation: event.max_seats_per_reservation,
        ...rows[0]!,
      },
      seats === total,
    );
  });
}
