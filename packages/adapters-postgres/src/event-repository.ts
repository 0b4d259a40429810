import {
  InvalidPagePosition,
  isReservationId,
  isValidEventId,
  TransientFailure,
  type CommitResult,
  type EventChanges,
  type Event,
  type EventDefinition,
  type EventRepository,
  type EventSummary,
  type ExpectedVersion,
  type Reservation,
  type SeatChanges,
} from '@ticketboss/domain';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database, EventsTable, ReservationsTable } from './database.js';
import { isRetryable, sqlState, transient } from './sql-errors.js';

type EventRow = Pick<
  Selectable<EventsTable>,
  | 'event_id'
  | 'name'
  | 'total_seats'
  | 'available_seats'
  | 'active_reservations'
  | 'max_seats_per_reservation'
  | 'version'
>;

function toEvent(row: EventRow): Event {
  return {
    eventId: row.event_id,
    name: row.name,
    totalSeats: row.total_seats,
    availableSeats: row.available_seats,
    maxSeatsPerReservation: row.max_seats_per_reservation,
    version: Number(row.version),
  };
}

function toEventSummary(row: EventRow): EventSummary {
  return {
    ...toEvent(row),
    // Equal to the sum of confirmed reservations' seats by the schema's invariant.
    reservedSeats: row.total_seats - row.available_seats,
    reservationCount: row.active_reservations,
  };
}

function toReservation(row: Selectable<ReservationsTable>): Reservation {
  return {
    reservationId: row.reservation_id,
    eventId: row.event_id,
    partnerId: row.partner_id,
    seats: row.seats,
    status: row.status,
    createdAt: row.created_at,
  };
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

/** The `EventRepository` port on PostgreSQL: every seat change is one version-guarded UPDATE of the event row. */
export function createPostgresEventRepository(db: Kysely<Database>): EventRepository {
  async function findEventRow(eventId: string): Promise<EventRow | undefined> {
    return transient(() =>
      db.selectFrom('events').select(eventColumns).where('event_id', '=', eventId).executeTakeFirst(),
    );
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
      let query = db
        .selectFrom('events')
        .select(eventColumns)
        .orderBy('event_id')
        .limit(limit + 1);
      if (after !== undefined) query = query.where('event_id', '>', after);
      const rows = await transient(() => query.execute());
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
        const { updated, current } = await transient(() => applyEventUpdate(db, eventId, changes, expectedVersion));
        if (updated) return { kind: 'updated', event: toEventSummary(updated) };
        if (!current) return { kind: 'event_not_found' };
        const currentVersion = Number(current.version);
        if (expectedVersion !== undefined && currentVersion !== expectedVersion) {
          return { kind: 'version_mismatch', currentVersion };
        }
        const reservedSeats = current.total_seats - current.available_seats;
        if (changes.totalSeats !== undefined && changes.totalSeats < reservedSeats) {
          return { kind: 'below_reserved', reservedSeats };
        }
        if (attempt >= 5) throw new TransientFailure(`event ${eventId} kept changing under its update`);
      }
    },

    async listReservations({ partnerId, eventId, status, limit, after }) {
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
      if (status !== undefined) query = query.where('status', '=', status);
      if (start) {
        query = query.where(
          sql<boolean>`(created_at, reservation_id) > (${EPOCH} + ${start.micros}::bigint * interval '1 microsecond', ${start.reservationId}::uuid)`,
        );
      }
      const rows = await transient(() => query.execute());
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      const items = page.map(toReservation);
      return rows.length > limit && last
        ? { items, next: `${last.position_micros}|${last.reservation_id}` }
        : { items };
    },

    async findReservation(reservationId) {
      const row = await transient(() =>
        db.selectFrom('reservations').selectAll().where('reservation_id', '=', reservationId).executeTakeFirst(),
      );
      return row && toReservation(row);
    },

    async commitChanges(expected, changes): Promise<CommitResult> {
      try {
        const { event, activeIds, current } = await applyChanges(db, expected, changes);
        if (event) return { kind: 'committed', event: toEvent(event) };
        const active = new Set(activeIds);
        const gone = changes.cancellations.map((r) => r.reservationId).filter((id) => !active.has(id));
        if (gone.length > 0) return { kind: 'not_active', reservationIds: gone };
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
   * committed whole, and if none does (or, for cancellations alone, any is still active) nothing was applied and
   * it may be planned again. If the database cannot say, the original error stands (the outcome is unknown).
   */
  async function findOutWhatHappened(
    db: Kysely<Database>,
    { reservations, cancellations }: SeatChanges,
    original: unknown,
  ): Promise<CommitResult> {
    try {
      const ids = [...reservations, ...cancellations].map((r) => r.reservationId);
      const rows = await db
        .selectFrom('reservations')
        .select(['reservation_id', 'status'])
        .where('reservation_id', 'in', ids)
        .execute();
      const applied =
        reservations.length > 0
          ? rows.some((row) => reservations.some((r) => r.reservationId === row.reservation_id))
          : rows.length === cancellations.length && rows.every((row) => row.status === 'cancelled');
      if (!applied) return { kind: 'version_conflict' };
      const event = await findEventRow(reservations[0]?.eventId ?? cancellations[0]!.eventId);
      if (!event) throw original;
      return { kind: 'committed', event: toEvent(event) };
    } catch {
      throw original;
    }
  }
}

const sumOfSeats = (reservations: readonly Reservation[]) => reservations.reduce((total, r) => total + r.seats, 0);

interface AppliedRow {
  /** The event after the change; null when nothing was applied. */
  event: EventRow | null;
  /** Of the reservations to cancel, those that were still active (and are now locked by this statement). */
  activeIds: string[] | null;
  /** The event row as this statement's snapshot saw it (possibly older than the change that beat us). */
  current: EventRow | null;
}

/**
 * The whole commit as one statement, so one round trip and one implicit transaction:
 * 1. `locked` locks the reservations to cancel, in id order (two processes cancelling overlapping sets cannot
 *    deadlock), keeping those still active; PostgreSQL re-checks the status of a row it had to wait for;
 * 2. `moved` is the version-guarded update of the event row, applied only if every reservation to cancel is
 *    still active and the seats fit;
 * 3. only if `moved` matched: the new reservations are inserted and the locked ones cancelled.
 * Nothing else changes when `moved` does not match, and a failure anywhere undoes all of it.
 */
async function applyChanges(
  db: Kysely<Database>,
  expected: ExpectedVersion,
  { reservations, cancellations }: SeatChanges,
): Promise<AppliedRow> {
  const seatsTaken = sumOfSeats(reservations);
  const seatsReturned = sumOfSeats(cancellations);
  const cancelIds = cancellations.map((r) => r.reservationId);
  const { rows } = await sql<AppliedRow>`
    WITH locked AS (
      SELECT reservation_id
        FROM reservations
       WHERE reservation_id = ANY(${cancelIds}::uuid[])
         AND event_id = ${expected.eventId}
         AND status = 'confirmed'
       ORDER BY reservation_id
         FOR UPDATE
    ), moved AS (
      UPDATE events
         SET available_seats = available_seats - ${seatsTaken} + ${seatsReturned},
             active_reservations = active_reservations + ${reservations.length} - ${cancellations.length},
             version = version + ${reservations.length + cancellations.length},
             updated_at = now()
       WHERE event_id = ${expected.eventId}
         AND version = ${expected.version}
         AND available_seats - ${seatsTaken} + ${seatsReturned} >= 0
         AND (SELECT count(*) FROM locked) = ${cancellations.length}
      RETURNING ${EVENT_COLUMNS}
    ), recorded AS (
      INSERT INTO reservations (reservation_id, event_id, partner_id, seats, status, created_at)
      SELECT r.reservation_id, moved.event_id, r.partner_id, r.seats, 'confirmed', r.created_at
        FROM moved,
             unnest(${reservations.map((r) => r.reservationId)}::uuid[],
                    ${reservations.map((r) => r.partnerId)}::text[],
                    ${reservations.map((r) => r.seats)}::integer[],
                    ${reservations.map((r) => r.createdAt)}::timestamptz[])
               AS r(reservation_id, partner_id, seats, created_at)
    ), cancelled AS (
      UPDATE reservations
         SET status = 'cancelled', cancelled_at = now()
        FROM moved
       WHERE reservations.reservation_id IN (SELECT reservation_id FROM locked)
    )
    SELECT (SELECT row_to_json(moved) FROM moved) AS event,
           (SELECT array_agg(reservation_id) FROM locked) AS "activeIds",
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

/** One statement: the guarded update, and the row as the statement saw it (to tell why the guard failed). */
async function applyEventUpdate(
  db: Kysely<Database>,
  eventId: string,
  changes: EventChanges,
  expectedVersion: number | undefined,
): Promise<UpdatedRow> {
  const total = changes.totalSeats ?? null;
  const { rows } = await sql<UpdatedRow>`
    WITH updated AS (
      UPDATE events
         SET name = coalesce(${changes.name ?? null}::text, name),
             total_seats = coalesce(${total}::integer, total_seats),
             available_seats = coalesce(${total}::integer, total_seats) - (total_seats - available_seats),
             version = version + 1,
             updated_at = now()
       WHERE event_id = ${eventId}
         AND (${expectedVersion ?? null}::bigint IS NULL OR version = ${expectedVersion ?? null}::bigint)
         AND coalesce(${total}::integer, total_seats) >= total_seats - available_seats
      RETURNING ${EVENT_COLUMNS}
    )
    SELECT (SELECT row_to_json(updated) FROM updated) AS updated,
           (SELECT row_to_json(e) FROM (SELECT ${EVENT_COLUMNS} FROM events WHERE event_id = ${eventId}) AS e) AS current
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
