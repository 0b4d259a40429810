import type { CommitResult, ExpectedVersion, Reservation, SeatChanges, SeatPool } from '@ticketboss/domain';
import { sql, type Kysely, type Selectable } from 'kysely';
import { PREPARED, type Database, type ReservationsTable } from './database.js';
import { toReservation } from './event-rows.js';
import { toSeatPool, type PoolRow } from './seat-pool-rows.js';

const sumOfSeats = (reservations: readonly Reservation[]) => reservations.reduce((total, r) => total + r.seats, 0);
const idsOf = (reservations: readonly Reservation[]) => reservations.map((r) => r.reservationId);

export interface AppliedRow {
  /** The pool after the change; null when nothing was applied. */
  pool: PoolRow | null;
  /** Of the reservations to cancel, those still live (and now locked by this statement). */
  liveCancelIds: string[] | null;
  /** Of the holds to confirm, those still live (and now locked by this statement). */
  liveConfirmIds: string[] | null;
  /** Of the receipts, the changes whose claim was still held (and is now locked by this statement). */
  claimedIds: string[] | null;
  /** The holds this commit expired. */
  expired: Selectable<ReservationsTable>[] | null;
  /** The pool row as this statement's snapshot saw it (possibly older than the change that beat us). */
  current: PoolRow | null;
}

/**
 * The whole commit as one statement, so one round trip and one implicit transaction:
 * 1. `locked` locks, in id order, the reservations to cancel or confirm and the event's holds past their expiry
 *    (two commits locking overlapping sets cannot deadlock); PostgreSQL re-checks a row it had to wait for;
 * 2. `claims` locks the Idempotency-Key records of the receipts, if their claims are still held;
 * 3. `moved` is the version-guarded update of the one seat pool row, applied only if every reservation to cancel
 *    or confirm is still live, every claim held, and the pool's seats fit once the expired holds' seats are back
 *    in it (seats returned, by cancellations and expiries, go to this pool, whichever pool took them); a commit
 *    that sells also moves the pool's last sale to `now` (never back: greatest ignores the null of no sale);
 * 4. only if `moved` matched: new reservations are inserted, the locked ones cancelled, confirmed or expired,
 *    and the receipts' answers recorded;
 * 5. only if `moved` matched: `activity` adds the changes to the event's rollup (migration 0007), in this pool's
 *    rows: the reservations, holds, confirmations and cancellations in the second of `now`, each expired hold in
 *    the second of its expiry. This pool's row lock, taken by `moved`, serialises the writers of those rows.
 * Nothing else changes when `moved` does not match, and a failure anywhere undoes all of it. The event row is not
 * written, so commits on different pools do not wait for each other. A hold whose status another commit (on any
 * pool) changed meanwhile is not among those `locked` returns: PostgreSQL re-checks a row it had to wait for, so
 * each hold's seats come back exactly once.
 */
export async function applyChanges(
  db: Kysely<Database>,
  now: Date,
  expected: ExpectedVersion,
  { reservations, cancellations, confirmations = [], receipts = [] }: SeatChanges,
): Promise<AppliedRow> {
  // One statement changes a row once: PostgreSQL would apply only one of two updates of it, unpredictably.
  const changed = [...cancellations, ...confirmations].map((r) => r.reservationId);
  if (new Set(changed).size !== changed.length) {
    throw new Error('a commit cancels or confirms the same reservation twice');
  }
  const seatsTaken = sumOfSeats(reservations);
  const seatsReturned = sumOfSeats(cancellations);
  const cancelIds = idsOf(cancellations);
  const confirmIds = idsOf(confirmations);
  const changes = reservations.length + cancellations.length + confirmations.length;
  const reserved = reservations.filter((r) => r.status === 'confirmed');
  const held = reservations.filter((r) => r.status === 'held');
  // A sale: a reservation confirmed at once, or a hold confirmed. The pool's last sale moves to it (migration 0007).
  const soldAt = reserved.length > 0 || confirmations.length > 0 ? now : null;
  const { rows } = await sql<AppliedRow>`${sql.raw(PREPARED)}
    WITH locked AS (
      SELECT reservation_id, status, expires_at, seats
        FROM reservations
       WHERE event_id = ${expected.eventId}
         AND (reservation_id = ANY(${[...cancelIds, ...confirmIds]}::uuid[])
              OR (status = 'held' AND expires_at <= ${now}))
       ORDER BY reservation_id
         FOR UPDATE
    ), live_cancel AS (
      SELECT reservation_id FROM locked
       WHERE reservation_id = ANY(${cancelIds}::uuid[])
         AND (status = 'confirmed' OR (status = 'held' AND expires_at > ${now}))
    ), live_confirm AS (
      SELECT reservation_id FROM locked
       WHERE reservation_id = ANY(${confirmIds}::uuid[]) AND status = 'held' AND expires_at > ${now}
    ), expiring AS (
      SELECT reservation_id, seats, expires_at FROM locked WHERE status = 'held' AND expires_at <= ${now}
    ), reclaim AS (
      SELECT coalesce(sum(seats), 0)::integer AS seats, count(*)::integer AS holds FROM expiring
    ), receipt AS (
      SELECT * FROM unnest(${receipts.map((r) => r.reservationId)}::uuid[],
                           ${receipts.map((r) => r.claim.scope.partnerId)}::text[],
                           ${receipts.map((r) => r.claim.scope.route)}::text[],
                           ${receipts.map((r) => r.claim.scope.key)}::text[],
                           ${receipts.map((r) => r.claim.token)}::uuid[],
                           ${receipts.map((r) => r.answer.code)}::integer[],
                           ${receipts.map((r) => r.answer.text)}::text[])
               AS x(reservation_id, partner_id, route, idem_key, claim_token, status_code, response_body)
    ), claims AS (
      SELECT receipt.reservation_id, k.partner_id, k.route, k.idem_key
        FROM idempotency_keys k
        JOIN receipt USING (partner_id, route, idem_key, claim_token)
       WHERE k.status_code IS NULL
       ORDER BY k.partner_id, k.route, k.idem_key
         FOR UPDATE OF k
    ), moved AS (
      UPDATE event_seat_pools
         SET available_seats = available_seats - ${seatsTaken} + ${seatsReturned} + reclaim.seats,
             active_reservations = active_reservations + ${reservations.length} - ${cancellations.length} - reclaim.holds,
             version = version + ${changes} + reclaim.holds,
             touched_at = ${now},
             granted_at = '-infinity',
             last_sale_at = greatest(last_sale_at, ${soldAt}::timestamptz)
        FROM reclaim
       WHERE event_id = ${expected.eventId}
         AND pool = ${expected.pool}
         AND version = ${expected.version}
         AND available_seats - ${seatsTaken} + ${seatsReturned} + reclaim.seats >= 0
         AND (SELECT count(*) FROM live_cancel) = ${cancellations.length}
         AND (SELECT count(*) FROM live_confirm) = ${confirmations.length}
         AND (SELECT count(*) FROM claims) = ${receipts.length}
      RETURNING event_seat_pools.event_id, event_seat_pools.pool, event_seat_pools.available_seats,
                event_seat_pools.version
    ), activity AS (
      INSERT INTO event_activity AS a (event_id, second, pool, reservations, reserved_seats, holds, held_seats,
                                       confirmations, confirmed_seats, cancellations, cancelled_seats,
                                       expiries, expired_seats)
      SELECT moved.event_id, c.second, moved.pool,
             sum(c.reservations), sum(c.reserved_seats), sum(c.holds), sum(c.held_seats),
             sum(c.confirmations), sum(c.confirmed_seats), sum(c.cancellations), sum(c.cancelled_seats),
             sum(c.expiries), sum(c.expired_seats)
        FROM moved, (
          SELECT date_trunc('second', ${now}::timestamptz) AS second,
                 ${reserved.length}::integer AS reservations, ${sumOfSeats(reserved)}::integer AS reserved_seats,
                 ${held.length}::integer AS holds, ${sumOfSeats(held)}::integer AS held_seats,
                 ${confirmations.length}::integer AS confirmations,
                 ${sumOfSeats(confirmations)}::integer AS confirmed_seats,
                 ${cancellations.length}::integer AS cancellations, ${seatsReturned}::integer AS cancelled_seats,
                 0 AS expiries, 0 AS expired_seats
           WHERE ${changes}::integer > 0
          UNION ALL
          SELECT date_trunc('second', expires_at), 0, 0, 0, 0, 0, 0, 0, 0, 1, seats FROM expiring
        ) AS c
       GROUP BY moved.event_id, moved.pool, c.second
      ON CONFLICT (event_id, second, pool) DO UPDATE
         SET reservations = a.reservations + excluded.reservations,
             reserved_seats = a.reserved_seats + excluded.reserved_seats,
             holds = a.holds + excluded.holds,
             held_seats = a.held_seats + excluded.held_seats,
             confirmations = a.confirmations + excluded.confirmations,
             confirmed_seats = a.confirmed_seats + excluded.confirmed_seats,
             cancellations = a.cancellations + excluded.cancellations,
             cancelled_seats = a.cancelled_seats + excluded.cancelled_seats,
             expiries = a.expiries + excluded.expiries,
             expired_seats = a.expired_seats + excluded.expired_seats
    ), recorded AS (
      INSERT INTO reservations (reservation_id, event_id, partner_id, seats, status, created_at, expires_at)
      SELECT r.reservation_id, moved.event_id, r.partner_id, r.seats, r.status, r.created_at, r.expires_at
        FROM moved,
             unnest(${idsOf(reservations)}::uuid[],
                    ${reservations.map((r) => r.partnerId)}::text[],
                    ${reservations.map((r) => r.seats)}::integer[],
                    ${reservations.map((r) => r.status)}::text[],
                    ${reservations.map((r) => r.createdAt)}::timestamptz[],
                    ${reservations.map((r) => r.expiresAt ?? null)}::timestamptz[])
               AS r(reservation_id, partner_id, seats, status, created_at, expires_at)
    ), cancelled AS (
      UPDATE reservations
         SET status = 'cancelled', cancelled_at = ${now}
        FROM moved
       WHERE reservations.reservation_id IN (SELECT reservation_id FROM live_cancel)
    ), confirmed AS (
      UPDATE reservations
         SET status = 'confirmed'
        FROM moved
       WHERE reservations.reservation_id IN (SELECT reservation_id FROM live_confirm)
    ), expired AS (
      UPDATE reservations
         SET status = 'expired'
        FROM moved
       WHERE reservations.reservation_id IN (SELECT reservation_id FROM expiring)
      RETURNING reservations.*
    ), receipted AS (
      UPDATE idempotency_keys k
         SET status_code = receipt.status_code, response_body = receipt.response_body, completed_at = ${now}
        FROM moved, receipt
       WHERE (k.partner_id, k.route, k.idem_key, k.claim_token)
           = (receipt.partner_id, receipt.route, receipt.idem_key, receipt.claim_token)
    )
    SELECT (SELECT row_to_json(x)
              FROM (SELECT moved.*, e.max_seats_per_reservation FROM moved, events e
                     WHERE e.event_id = moved.event_id) AS x) AS pool,
           (SELECT array_agg(reservation_id) FROM live_cancel) AS "liveCancelIds",
           (SELECT array_agg(reservation_id) FROM live_confirm) AS "liveConfirmIds",
           (SELECT array_agg(reservation_id) FROM claims) AS "claimedIds",
           (SELECT json_agg(expired) FROM expired) AS expired,
           (SELECT row_to_json(x)
              FROM (SELECT p.event_id, p.pool, p.available_seats, p.version, e.max_seats_per_reservation
                      FROM event_seat_pools p JOIN events e USING (event_id)
                     WHERE p.event_id = ${expected.eventId} AND p.pool = ${expected.pool}) AS x) AS current
  `.execute(db);
  const row = rows[0];
  if (!row) throw new Error('commit statement returned no row');
  return row;
}

/** What the commit statement's answer means: committed, or why not (the first reason that applies). */
export function resultOfCommit(
  { pool, liveCancelIds, liveConfirmIds, claimedIds, expired, current }: AppliedRow,
  changes: SeatChanges,
  now: Date,
): CommitResult {
  if (pool) {
    return {
      kind: 'committed',
      pool: toSeatPool(pool),
      expired: (expired ?? []).map((r) => toReservation(r, now)),
    };
  }
  // Each list against its own live rows: an id to cancel and to confirm at once must not hide either.
  const liveCancels = new Set(liveCancelIds);
  const liveConfirms = new Set(liveConfirmIds);
  const gone = [
    ...changes.cancellations.filter((r) => !liveCancels.has(r.reservationId)),
    ...(changes.confirmations ?? []).filter((r) => !liveConfirms.has(r.reservationId)),
  ].map((r) => r.reservationId);
  if (gone.length > 0) return { kind: 'not_active', reservationIds: gone };
  const claimed = new Set(claimedIds);
  const lost = (changes.receipts ?? []).map((r) => r.reservationId).filter((id) => !claimed.has(id));
  if (lost.length > 0) return { kind: 'claim_lost', reservationIds: lost };
  return current ? { kind: 'version_conflict', current: toSeatPool(current) } : { kind: 'version_conflict' };
}

/**
 * After a commit whose answer was lost: the statement is atomic, so if any of its new reservations exists it
 * committed whole, and if none does (or, without new ones, any cancellation or confirmation is not applied)
 * nothing was applied and it may be planned again. If the database cannot say, the original error stands.
 */
export async function findOutWhatHappened(
  db: Kysely<Database>,
  { reservations, cancellations, confirmations = [] }: SeatChanges,
  original: unknown,
  findPool: () => Promise<SeatPool | undefined>,
): Promise<CommitResult> {
  try {
    const ids = [...reservations, ...cancellations, ...confirmations].map((r) => r.reservationId);
    if (ids.length === 0) return { kind: 'version_conflict' }; // a sweep: read again and see
    const rows = await db
      .selectFrom('reservations')
      .select(['reservation_id', 'status'])
      .where('reservation_id', 'in', ids)
      .execute();
    const statusOf = new Map(rows.map((row) => [row.reservation_id, row.status]));
    const applied =
      reservations.length > 0
        ? reservations.some((r) => statusOf.has(r.reservationId))
        : cancellations.every((r) => statusOf.get(r.reservationId) === 'cancelled') &&
          confirmations.every((r) => statusOf.get(r.reservationId) === 'confirmed');
    if (!applied) return { kind: 'version_conflict' };
    const pool = await findPool();
    if (!pool) throw original;
    return { kind: 'committed', pool, expired: [] };
  } catch {
    throw original;
  }
}
