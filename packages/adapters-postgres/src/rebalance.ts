import { spreadSeats, type SeatPool } from '@ticketboss/domain';
import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';
import { expiredHoldsOf, toSeatPool } from './seat-pool-rows.js';

/** A pool committed on within this long counts as in use: a rebalance shares the seats among pools in use. */
export const POOL_IN_USE_MS = 5000;

/**
 * Moves seats between the event's pools so that `pool` has `wantedSeats` (or every seat there is) plus its share of
 * the rest, in one transaction: locks the event row, then all its pools in pool order (the order every rebalance
 * and update uses, so they cannot deadlock; commits lock one pool and never the event row), sums the seats at that
 * instant (the event row's reserve included) and spreads them with `spreadSeats`. Versions stay: the event's
 * seats are the same. The result is `whole` when every available seat of the event is then in `pool`: refusals
 * decided on it are decided on all of the event's seats at the instant of the lock. Undefined if the event does
 * not exist.
 */
export async function rebalancePools(
  db: Kysely<Database>,
  now: Date,
  eventId: string,
  pool: number,
  wantedSeats: number,
): Promise<SeatPool | undefined> {
  return db.transaction().execute(async (trx) => {
    const event = (
      await sql<{ available_seats: number; max_seats_per_reservation: number }>`
        SELECT available_seats, max_seats_per_reservation FROM events WHERE event_id = ${eventId} FOR NO KEY UPDATE
      `.execute(trx)
    ).rows[0];
    if (!event) return undefined;
    const pools = (
      await sql<{ pool: number; available_seats: number; version: string; in_use: boolean }>`
        SELECT pool, available_seats, version, touched_at > ${new Date(now.getTime() - POOL_IN_USE_MS)} AS in_use
          FROM event_seat_pools
         WHERE event_id = ${eventId}
         ORDER BY pool
           FOR NO KEY UPDATE
      `.execute(trx)
    ).rows;
    const mine = pools.find((p) => p.pool === pool);
    if (!mine) throw new Error(`event ${eventId} has no seat pool ${pool}`);
    const total = pools.reduce((sum, p) => sum + p.available_seats, event.available_seats);
    const spread = spreadSeats(
      total,
      wantedSeats,
      pools.map((p) => ({ pool: p.pool, active: p.in_use })),
      pool,
    );
    const changed = pools.filter((p, index) => p.available_seats !== spread[index]);
    const { rows } = await sql<{ expired_seats: number; expired_holds: number }>`
      WITH spread AS (
        SELECT * FROM unnest(${changed.map((p) => p.pool)}::integer[],
                             ${changed.map((p) => spread[pools.indexOf(p)]!)}::integer[]) AS s(pool, seats)
      ), moved AS (
        UPDATE event_seat_pools p SET available_seats = spread.seats
          FROM spread
         WHERE p.event_id = ${eventId} AND p.pool = spread.pool
      ), drained AS (
        UPDATE events SET available_seats = 0 WHERE event_id = ${eventId} AND ${event.available_seats}::integer > 0
      )
      ${expiredHoldsOf(eventId, now)}
    `.execute(trx);
    const seats = spread[pools.indexOf(mine)]!;
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
