import { DEFAULT_SEAT_POOLS, spreadSeats, type SeatPool } from '@ticketboss/domain';
import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';

// A seat pool's row as the statements read it, and how it maps to the domain's SeatPool.

export interface PoolRow {
  event_id: string;
  pool: number;
  available_seats: number;
  /** bigint: a string from node-postgres, a number from row_to_json. */
  version: string | number;
  max_seats_per_reservation: number;
  /** Seats and count of the event's holds past their expiry, when the statement read them. */
  expired_seats?: number;
  expired_holds?: number;
}

export function toSeatPool(row: PoolRow, whole = false): SeatPool {
  return {
    eventId: row.event_id,
    pool: row.pool,
    version: Number(row.version),
    availableSeats: row.available_seats + (row.expired_seats ?? 0),
    expiredHolds: row.expired_holds ?? 0,
    maxSeatsPerReservation: row.max_seats_per_reservation,
    whole,
  };
}

/** Seats and count of the event's holds past their expiry at `now`: a range of the (event, expiry) index only. */
export const expiredHoldsOf = (eventId: RawEventId, now: Date) => sql`
  SELECT coalesce(sum(seats), 0)::integer AS expired_seats, count(*)::integer AS expired_holds
    FROM reservations
   WHERE event_id = ${eventId} AND status = 'held' AND expires_at <= ${now}`;
type RawEventId = string | ReturnType<typeof sql.ref>;

/**
 * One pool of the event with its expired holds: the given pool, or the one least recently committed on (ties in
 * random order, so that processes starting together spread), `avoid` only if it is the event's only pool.
 */
export async function selectSeatPool(
  db: Kysely<Database>,
  eventId: string,
  choice: { readonly pool: number } | { readonly avoid?: number },
  now: Date,
): Promise<PoolRow | undefined> {
  const given = 'pool' in choice ? choice.pool : null;
  const avoid = 'avoid' in choice ? (choice.avoid ?? null) : null;
  const { rows } = await sql<PoolRow>`
    SELECT e.event_id, p.pool, p.available_seats, p.version, e.max_seats_per_reservation,
           h.expired_seats, h.expired_holds
      FROM events e
      JOIN LATERAL (
        SELECT pool, available_seats, version
          FROM event_seat_pools
         WHERE event_id = e.event_id AND (${given}::integer IS NULL OR pool = ${given}::integer)
         ORDER BY pool = ${avoid}::integer IS TRUE, touched_at, random()
         LIMIT 1
      ) p ON true
     CROSS JOIN LATERAL (${expiredHoldsOf(sql.ref('e.event_id'), now)}) h
     WHERE e.event_id = ${eventId}
  `.execute(db);
  return rows[0];
}

/** The pool rows of a new event: its seats spread evenly over `pools` pools. */
export function newPoolRows(eventId: string, totalSeats: number, pools = DEFAULT_SEAT_POOLS) {
  const all = Array.from({ length: pools }, (_, pool) => ({ pool, active: true }));
  return spreadSeats(totalSeats, 0, all, 0).map((available_seats, pool) => ({
    event_id: eventId,
    pool,
    available_seats,
  }));
}

/**
 * Gives an event that has no seat pools its pools, empty (its seats stay in the event row's reserve until a
 * rebalance moves them): an event created by an API process of a release before seat pools, still running
 * during a rolling deploy. Does nothing for an event that has pools or does not exist.
 */
export async function createMissingPools(db: Kysely<Database>, eventId: string, pools: number): Promise<void> {
  await sql`
    INSERT INTO event_seat_pools (event_id, pool, available_seats)
    SELECT e.event_id, g.pool, 0
      FROM events e CROSS JOIN generate_series(0, ${pools - 1}::integer) AS g(pool)
     WHERE e.event_id = ${eventId}
       AND NOT EXISTS (SELECT 1 FROM event_seat_pools p WHERE p.event_id = e.event_id)
    ON CONFLICT DO NOTHING
  `.execute(db);
}
