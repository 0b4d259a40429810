import type {
  CommitResult,
  Event,
  EventDefinition,
  EventRepository,
  EventSummary,
  ExpectedVersion,
  Reservation,
  SeatChanges,
} from '@ticketboss/domain';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database, EventsTable, ReservationsTable } from './database.js';

type EventRow = Pick<
  Selectable<EventsTable>,
  'event_id' | 'name' | 'total_seats' | 'available_seats' | 'active_reservations' | 'version'
>;

function toEvent(row: EventRow): Event {
  return {
    eventId: row.event_id,
    name: row.name,
    totalSeats: row.total_seats,
    availableSeats: row.available_seats,
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

const eventColumns = ['event_id', 'name', 'total_seats', 'available_seats', 'active_reservations', 'version'] as const;

/** The `EventRepository` port on PostgreSQL: every seat change is one version-guarded UPDATE of the event row. */
export function createPostgresEventRepository(db: Kysely<Database>): EventRepository {
  async function findEventRow(eventId: string): Promise<EventRow | undefined> {
    return db.selectFrom('events').select(eventColumns).where('event_id', '=', eventId).executeTakeFirst();
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

    async findReservation(reservationId) {
      const row = await db
        .selectFrom('reservations')
        .selectAll()
        .where('reservation_id', '=', reservationId)
        .executeTakeFirst();
      return row && toReservation(row);
    },

    async commitChanges(expected, changes): Promise<CommitResult> {
      if (changes.cancellations.length === 0) {
        try {
          const row = await applyChanges(db, expected, changes);
          return row ? { kind: 'committed', event: toEvent(row) } : { kind: 'version_conflict' };
        } catch (error) {
          if (isRetryable(error)) return { kind: 'version_conflict' };
          throw error;
        }
      }
      const trx = await db.startTransaction().execute();
      try {
        const gone = await lockActive(trx, expected.eventId, changes.cancellations);
        const row = gone.length === 0 ? await applyChanges(trx, expected, changes) : undefined;
        if (!row) {
          await trx.rollback().execute();
          return gone.length > 0 ? { kind: 'not_active', reservationIds: gone } : { kind: 'version_conflict' };
        }
        await trx.commit().execute();
        return { kind: 'committed', event: toEvent(row) };
      } catch (error) {
        await trx
          .rollback()
          .execute()
          .catch(() => undefined);
        if (isRetryable(error)) return { kind: 'version_conflict' };
        throw error;
      }
    },
  };
}

/**
 * Failures after which nothing was applied and the same commit may simply be planned again: a lock wait that
 * ran out (lock_timeout) or, though our lock order should rule it out, a deadlock.
 */
function isRetryable(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return code === '55P03' || code === '40P01';
}

/**
 * Locks the reservations to cancel, in id order (so that two processes cancelling overlapping sets cannot
 * deadlock), and returns the ids of those no longer active. Locked, they stay active until we commit.
 */
async function lockActive(
  trx: Kysely<Database>,
  eventId: string,
  cancellations: readonly Reservation[],
): Promise<string[]> {
  const ids = cancellations.map((r) => r.reservationId);
  const { rows } = await sql<{ reservation_id: string }>`
    SELECT reservation_id
      FROM reservations
     WHERE reservation_id = ANY(${ids}::uuid[]) AND event_id = ${eventId} AND status = 'confirmed'
     ORDER BY reservation_id
       FOR UPDATE`.execute(trx);
  const active = new Set(rows.map((row) => row.reservation_id));
  return ids.filter((id) => !active.has(id));
}

const sumOfSeats = (reservations: readonly Reservation[]) => reservations.reduce((total, r) => total + r.seats, 0);

/**
 * One statement: the version-guarded update of the event row and, only if it matched, the insert of the new
 * reservations and the cancellation of the (already locked and checked) ones. A failure anywhere undoes it all.
 */
async function applyChanges(
  db: Kysely<Database>,
  expected: ExpectedVersion,
  { reservations, cancellations }: SeatChanges,
): Promise<EventRow | undefined> {
  const seatsTaken = sumOfSeats(reservations);
  const seatsReturned = sumOfSeats(cancellations);
  const { rows } = await sql<EventRow>`
    WITH moved AS (
      UPDATE events
         SET available_seats = available_seats - ${seatsTaken} + ${seatsReturned},
             active_reservations = active_reservations + ${reservations.length} - ${cancellations.length},
             version = version + ${reservations.length + cancellations.length},
             updated_at = now()
       WHERE event_id = ${expected.eventId}
         AND version = ${expected.version}
         AND available_seats - ${seatsTaken} + ${seatsReturned} >= 0
      RETURNING event_id, name, total_seats, available_seats, active_reservations, version
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
       WHERE reservations.reservation_id = ANY(${cancellations.map((r) => r.reservationId)}::uuid[])
    )
    SELECT * FROM moved
  `.execute(db);
  return rows[0];
}

/** Creates the event if it does not exist; never touches an existing one. Returns whether it was created. */
export async function ensureEvent(db: Kysely<Database>, event: EventDefinition): Promise<boolean> {
  const result = await db
    .insertInto('events')
    .values({
      event_id: event.eventId,
      name: event.name,
      total_seats: event.totalSeats,
      available_seats: event.totalSeats,
      version: 0,
    })
    .onConflict((oc) => oc.column('event_id').doNothing())
    .returning('event_id')
    .executeTakeFirst();
  return result !== undefined;
}
