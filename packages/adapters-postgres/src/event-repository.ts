import {
  InvalidPagePosition,
  isReservationId,
  isValidEventId,
  statusAt,
  TransientFailure,
  type Clock,
  type CommitResult,
  type EventChanges,
  type Event,
  type EventDefinition,
  type EventRepository,
  type EventSummary,
  type ExpectedVersion,
  type Reservation,
  type ReservationStatus,
  type SeatChanges,
} from '@ticketboss/domain';
import { sql, type Kysely, type RawBuilder, type Selectable } from 'kysely';
import type { Database, EventsTable, ReservationsTable } from './database.js';
import { isRetryable, sqlState, transient } from './sql-errors.js';

type EventColumns = Pick<
  Selectable<EventsTable>,
  | 'event_id'
  | 'name'
  | 'total_seats'
  | 'available_seats'
  | 'active_reservations'
  | 'max_seats_per_reservation'
  | 'version'
>;

/**
 * The event row, with its holds as of the reading's instant: those past their expiry (still counted as taken by
 * the row until a change marks them) and those still live. Absent on rows just changed, which have none expired.
 */
type EventRow = EventColumns & {
  expired_seats?: number;
  expired_holds?: number;
  live_held_seats?: number;
  live_holds?: number;
};

function toEvent(row: EventRow): Event {
  return {
    eventId: row.event_id,
    name: row.name,
    totalSeats: row.total_seats,
    availableSeats: row.available_seats + (row.expired_seats ?? 0),
    expiredHolds: row.expired_holds ?? 0,
    maxSeatsPerReservation: row.max_seats_per_reservation,
    version: Number(row.version),
  };
}

function toEventSummary(row: EventRow): EventSummary {
  const event = toEvent(row);
  const heldSeats = row.live_held_seats ?? 0;
  return {
    ...event,
    // The row counts confirmed reservations and every unmarked hold as taken.
    reservedSeats: event.totalSeats - event.availableSeats - heldSeats,
    heldSeats,
    reservationCount: row.active_reservations - (row.expired_holds ?? 0) - (row.live_holds ?? 0),
  };
}

function toReservation(row: Selectable<ReservationsTable>, now: Date): Reservation {
  const reservation: Reservation = {
    reservationId: row.reservation_id,
    eventId: row.event_id,
    partnerId: row.partner_id,
    seats: row.seats,
    status: row.status,
    createdAt: new Date(row.created_at),
    ...(row.expires_at ? { expiresAt: new Date(row.expires_at) } : {}),
  };
  return { ...reservation, status: statusAt(reservation, now) };
}

const eventColumns = [
  'event_id',
  'name',
  'total_seats',
  'available_seats',
  'active_reservations',
  'max_seats_per_reservation',
  'version',
] as const;
/** The same columns, for the hand-written statements. */
const EVENT_COLUMNS = sql.raw(eventColumns.join(', '));
const E_EVENT_COLUMNS = sql.raw(eventColumns.map((c) => `e.${c}`).join(', '));

/** Events with their holds as of `now`; `where` and `tail` finish the statement. */
function selectEventsWithHolds(now: Date, where: RawBuilder<unknown>, tail: RawBuilder<unknown> = sql``) {
  return sql<EventRow>`
    SELECT ${E_EVENT_COLUMNS}, h.expired_seats, h.expired_holds, h.live_held_seats, h.live_holds
      FROM events e
     CROSS JOIN LATERAL (
       SELECT coalesce(sum(r.seats) FILTER (WHERE r.expires_at <= ${now}), 0)::integer AS expired_seats,
              (count(*) FILTER (WHERE r.expires_at <= ${now}))::integer AS expired_holds,
              coalesce(sum(r.seats) FILTER (WHERE r.expires_at > ${now}), 0)::integer AS live_held_seats,
              (count(*) FILTER (WHERE r.expires_at > ${now}))::integer AS live_holds
         FROM reservations r
        WHERE r.event_id = e.event_id AND r.status = 'held'
     ) h
     WHERE ${where}
     ${tail}
  `;
}

export interface EventRepositoryOptions {
  /**
   * Whose time decides whether a hold has expired: the API's. Holds are made with its clock too, so a hold
   * expires exactly at its `expiresAt`; tests pass a clock they move.
   */
  readonly clock?: Clock;
}

const systemClock: Clock = { now: () => new Date() };

/** The `EventRepository` port on PostgreSQL: every seat change is one version-guarded UPDATE of the event row. */
export function createPostgresEventRepository(
  db: Kysely<Database>,
  { clock = systemClock }: EventRepositoryOptions = {},
): EventRepository {
  async function findEventRow(eventId: string): Promise<EventRow | undefined> {
    const { rows } = await transient(() =>
      selectEventsWithHolds(clock.now(), sql`e.event_id = ${eventId}`).execute(db),
    );
    return rows[0];
  }

  return {
    async findEvent(eventId) {
      const row = await findEventRow(eventId);
      return row && toEvent(row);
    },

    async getEventSummary(eventId) {
      const row = await findEventRow(eventId);
      return row && toEventSummary(row);
    },

    async listEventSummaries({ limit, after }) {
      if (after !== undefined && !isValidEventId(after)) throw new InvalidPagePosition('not an event position');
      const where = after === undefined ? sql`true` : sql`e.event_id > ${after}`;
      const { rows } = await transient(() =>
        selectEventsWithHolds(clock.now(), where, sql`ORDER BY e.event_id LIMIT ${limit + 1}`).execute(db),
      );
      const items = rows.slice(0, limit).map(toEventSummary);
      return rows.length > limit ? { items, next: items.at(-1)!.eventId } : { items };
    },

    async createEvent(definition) {
      const row = await db
        .insertInto('events')
        .values(eventValues(definition))
        .onConflict((oc) => oc.column('event_id').doNothing())
        .returning(eventColumns)
        .executeTakeFirst();
      return row ? { kind: 'created', event: toEventSummary(row) } : { kind: 'already_exists' };
    },

    async updateEvent(eventId, changes, expectedVersion) {
      // A failed guard is decided on a read of the same statement; should that read disagree (the row changed
      // between the two), the statement simply runs again.
      for (let attempt = 1; ; attempt += 1) {
        const { updated, current } = await transient(() =>
          applyEventUpdate(db, clock.now(), eventId, changes, expectedVersion),
        );
        if (updated) {
          // The holds are read afresh: the statement's snapshot may predate a hold its update already counts.
          return { kind: 'updated', event: toEventSummary((await findEventRow(eventId)) ?? updated) };
        }
        if (!current) return { kind: 'event_not_found' };
        const currentVersion = Number(current.version);
        if (expectedVersion !== undefined && currentVersion !== expectedVersion) {
          return { kind: 'version_mismatch', currentVersion };
        }
        // Confirmed reservations and live holds.
        const reservedSeats = current.total_seats - current.available_seats - (current.expired_seats ?? 0);
        if (changes.totalSeats !== undefined && changes.totalSeats < reservedSeats) {
          return { kind: 'below_reserved', reservedSeats };
        }
        if (attempt >= 5) throw new TransientFailure(`event ${eventId} kept changing under its update`);
      }
    },

    async listReservations({ partnerId, eventId, status, limit, after }) {
      const now = clock.now();
      const start = after === undefined ? undefined : parseReservationPosition(after);
      let query = db
        .selectFrom('reservations')
        .selectAll()
        .select(sql<string>`((extract(epoch FROM created_at) * 1000000)::bigint)::text`.as('position_micros'))
        .where('partner_id', '=', partnerId)
        .where('event_id', '=', eventId)
        .orderBy('created_at')
        .orderBy('reservation_id')
        .limit(limit + 1);
      if (status !== undefined) query = query.where(statusCondition(status, now));
      if (start) {
        query = query.where(
          sql<boolean>`(created_at, reservation_id) > (${EPOCH} + ${start.micros}::bigint * interval '1 microsecond', ${start.reservationId}::uuid)`,
        );
      }
      const rows = await transient(() => query.execute());
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      const items = page.map((row) => toReservation(row, now));
      return rows.length > limit && last
        ? { items, next: `${last.position_micros}|${last.reservation_id}` }
        : { items };
    },

    async findReservation(reservationId) {
      const row = await transient(() =>
        db.selectFrom('reservations').selectAll().where('reservation_id', '=', reservationId).executeTakeFirst(),
      );
      return row && toReservation(row, clock.now());
    },

    async findEventsWithExpiredHolds(limit) {
      const rows = await transient(() =>
        db
          .selectFrom('reservations')
          .select('event_id')
          .distinct()
          .where('status', '=', 'held')
          .where('expires_at', '<=', clock.now())
          .limit(limit)
          .execute(),
      );
      return rows.map((row) => row.event_id);
    },

    async commitChanges(expected, changes): Promise<CommitResult> {
      try {
        const now = clock.now();
        const { event, liveCancelIds, liveConfirmIds, claimedIds, expired, current } = await applyChanges(
          db,
          now,
          expected,
          changes,
        );
        if (event) {
          return {
            kind: 'committed',
            event: toEvent(event),
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
        return current ? { kind: 'version_conflict', current: toEvent(current) } : { kind: 'version_conflict' };
      } catch (error) {
        if (isRetryable(error)) return { kind: 'version_conflict' };
        if (sqlState(error) !== undefined) throw error;
        // No answer from the server (connection lost, client timeout): the commit may or may not have happened.
        return findOutWhatHappened(db, changes, error);
      }
    },
  };

  /**
   * After a commit whose answer was lost: the statement is atomic, so if any of its new reservations exists it
   * committed whole, and if none does (or, without new ones, any cancellation or confirmation is not applied)
   * nothing was applied and it may be planned again. If the database cannot say, the original error stands.
   */
  async function findOutWhatHappened(
    db: Kysely<Database>,
    { reservations, cancellations, confirmations = [] }: SeatChanges,
    original: unknown,
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
      const event = await findEventRow(
        reservations[0]?.eventId ?? cancellations[0]?.eventId ?? confirmations[0]!.eventId,
      );
      if (!event) throw original;
      return { kind: 'committed', event: toEvent(event), expired: [] };
    } catch {
      throw original;
    }
  }
}

/** The condition a listing's `status` filter stands for, as of `now`. */
function statusCondition(status: ReservationStatus, now: Date) {
  switch (status) {
    case 'held':
      return sql<boolean>`status = 'held' AND expires_at > ${now}`;
    case 'expired':
      return sql<boolean>`(status = 'expired' OR (status = 'held' AND expires_at <= ${now}))`;
    case 'confirmed':
    case 'cancelled':
      return sql<boolean>`status = ${status}`;
  }
}

const sumOfSeats = (reservations: readonly Reservation[]) => reservations.reduce((total, r) => total + r.seats, 0);
const idsOf = (reservations: readonly Reservation[]) => reservations.map((r) => r.reservationId);

interface AppliedRow {
  /** The event after the change; null when nothing was applied. */
  event: EventRow | null;
  /** Of the reservations to cancel, those still live (and now locked by this statement). */
  liveCancelIds: string[] | null;
  /** Of the holds to confirm, those still live (and now locked by this statement). */
  liveConfirmIds: string[] | null;
  /** Of the receipts, the changes whose claim was still held (and is now locked by this statement). */
  claimedIds: string[] | null;
  /** The holds this commit expired. */
  expired: Selectable<ReservationsTable>[] | null;
  /** The event row as this statement's snapshot saw it (possibly older than the change that beat us). */
  current: EventRow | null;
}

/**
 * The whole commit as one statement, so one round trip and one implicit transaction:
 * 1. `locked` locks, in id order, the reservations to cancel or confirm and the event's holds past their expiry
 *    (two commits locking overlapping sets cannot deadlock); PostgreSQL re-checks a row it had to wait for;
 * 2. `claims` locks the Idempotency-Key records of the receipts, if their claims are still held;
 * 3. `moved` is the version-guarded update of the event row, applied only if every reservation to cancel or
 *    confirm is still live, every claim held, and the seats fit once the expired holds' seats are back;
 * 4. only if `moved` matched: new reservations are inserted, the locked ones cancelled, confirmed or expired,
 *    and the receipts' answers recorded.
 * Nothing else changes when `moved` does not match, and a failure anywhere undoes all of it. The version guard
 * also makes the expired holds this statement saw exactly those still held: every change of a hold's status
 * changes the version.
 */
async function applyChanges(
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
  const { rows } = await sql<AppliedRow>`
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
      SELECT reservation_id, seats FROM locked WHERE status = 'held' AND expires_at <= ${now}
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
      UPDATE events
         SET available_seats = available_seats - ${seatsTaken} + ${seatsReturned} + reclaim.seats,
             active_reservations = active_reservations + ${reservations.length} - ${cancellations.length} - reclaim.holds,
             version = version + ${changes} + reclaim.holds,
             updated_at = now()
        FROM reclaim
       WHERE event_id = ${expected.eventId}
         AND version = ${expected.version}
         AND available_seats - ${seatsTaken} + ${seatsReturned} + reclaim.seats >= 0
         AND (SELECT count(*) FROM live_cancel) = ${cancellations.length}
         AND (SELECT count(*) FROM live_confirm) = ${confirmations.length}
         AND (SELECT count(*) FROM claims) = ${receipts.length}
      RETURNING ${sql.raw(eventColumns.map((c) => `events.${c}`).join(', '))}
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
    SELECT (SELECT row_to_json(moved) FROM moved) AS event,
           (SELECT array_agg(reservation_id) FROM live_cancel) AS "liveCancelIds",
           (SELECT array_agg(reservation_id) FROM live_confirm) AS "liveConfirmIds",
           (SELECT array_agg(reservation_id) FROM claims) AS "claimedIds",
           (SELECT json_agg(expired) FROM expired) AS expired,
           (SELECT row_to_json(e)
              FROM (SELECT ${EVENT_COLUMNS}
                      FROM events WHERE event_id = ${expected.eventId}) AS e) AS current
  `.execute(db);
  const row = rows[0];
  if (!row) throw new Error('commit statement returned no row');
  return row;
}

/** Up to 16 digits: any instant from 1970 to 2286, so the database never sees a time it cannot hold. */
const POSITION_MICROS = /^\d{1,16}$/;
const EPOCH = sql`timestamptz '1970-01-01 00:00:00+00'`;

/**
 * A reservation page position: the exact creation time of the last item, in whole microseconds since 1970 (the
 * database's own precision, so no item is skipped or repeated), and its id.
 */
function parseReservationPosition(position: string): { micros: string; reservationId: string } {
  const [micros = '', reservationId = '', ...rest] = position.split('|');
  if (rest.length > 0 || !POSITION_MICROS.test(micros) || !isReservationId(reservationId)) {
    throw new InvalidPagePosition('not a reservation position');
  }
  return { micros, reservationId };
}

interface UpdatedRow {
  updated: EventRow | null;
  current: EventRow | null;
}

/**
 * One statement: the guarded update, which also expires the holds past their expiry (as every change of the
 * event does), and the row as the statement saw it, with its expired seats (to tell why the guard failed).
 */
async function applyEventUpdate(
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
      RETURNING ${sql.raw(eventColumns.map((c) => `events.${c}`).join(', '))}
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

function eventValues(event: EventDefinition) {
  return {
    event_id: event.eventId,
    name: event.name,
    total_seats: event.totalSeats,
    available_seats: event.totalSeats,
    max_seats_per_reservation: event.maxSeatsPerReservation,
    version: 0,
  };
}

/** Creates the event if it does not exist; never touches an existing one. Returns whether it was created. */
export async function ensureEvent(db: Kysely<Database>, event: EventDefinition): Promise<boolean> {
  const result = await db
    .insertInto('events')
    .values(eventValues(event))
    .onConflict((oc) => oc.column('event_id').doNothing())
    .returning('event_id')
    .executeTakeFirst();
  return result !== undefined;
}
