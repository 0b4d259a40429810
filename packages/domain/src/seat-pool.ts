/**
 * One of an event's seat pools, as a process plans and commits on it. An event's available seats are split over a
 * few pools, each its own row with its own version, so that processes working on different pools never invalidate
 * each other; a commit is guarded by the version of its one pool.
 */
export interface SeatPool {
  readonly eventId: string;
  readonly pool: number;
  /** The pool's own version: +1 per change committed on it (a rebalance moves seats and changes no version). */
  readonly version: number;
  /**
   * What a commit on this pool can give: the pool's seats plus those of the event's holds past their expiry, which
   * the commit returns to this pool.
   */
  readonly availableSeats: number;
  /** Holds of the event past their expiry not yet marked (their seats are in `availableSeats`). */
  readonly expiredHolds: number;
  /** The most seats one reservation may take; set when the event is created. */
  readonly maxSeatsPerReservation: number;
  /**
   * Whether every available seat of the event was in this pool when it was read, under the lock a rebalance takes
   * on all the event's pools: only then may a reservation be refused for want of seats.
   */
  readonly whole: boolean;
}

/** Which pool to read: a given one, or one the adapter picks (the least recently used), other than `avoid`. */
export type PoolChoice = { readonly pool: number } | { readonly avoid?: number };

/** How many seat pools a new event gets by default: suits a few API processes. */
export const DEFAULT_SEAT_POOLS = 8;
/** The most seat pools an event may have (the schema's limit). */
export const MAX_SEAT_POOLS = 64;

/**
 * How a rebalance spreads `total` seats over pools: the pool asking gets `wanted` (or all there are), and what is
 * left is shared evenly by the asking pool and the other `active` ones (in the order given), the rest get none.
 * Returns the seats of each pool, in the order of `pools`.
 */
export function spreadSeats(
  total: number,
  wanted: number,
  pools: readonly { readonly pool: number; readonly active: boolean }[],
  asking: number,
): number[] {
  const sharing = [asking, ...pools.filter((p) => p.active && p.pool !== asking).map((p) => p.pool)];
  const first = Math.min(total, Math.max(0, wanted));
  const rest = total - first;
  const each = Math.floor(rest / sharing.length);
  const extra = rest % sharing.length;
  const seats = new Map(sharing.map((pool, index) => [pool, each + (index < extra ? 1 : 0)]));
  seats.set(asking, (seats.get(asking) ?? 0) + first);
  return pools.map((p) => seats.get(p.pool) ?? 0);
}
