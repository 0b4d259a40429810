import type {
  CancellationCommitResult,
  CommitResult,
  Event,
  EventDefinition,
  EventRepository,
  EventSummary,
  ExpectedVersion,
  Reservation,
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

    // One statement, so one round trip and one implicit transaction: the insert only sees a row when the
    // guarded update took the seats, and a failing insert undoes the update with it.
    async commitReservation(expected, reservation): Promise<CommitResult> {
      const { rows } = await sql<EventRow>`
        WITH taken AS (
          UPDATE events
             SET available_seats = available_seats - ${reservation.seats},
                 active_reservations = active_reservations + 1,
                 version = version + 1,
                 updated_at = now()
           WHERE event_id = ${expected.eventId}
             AND version = ${expected.version}
             AND available_seats >= ${reservation.seats}
          RETURNING event_id, name, total_seats, available_seats, active_reservations, version
        ), recorded AS (
          INSERT INTO reservations (reservation_id, event_id, partner_id, seats, status, created_at)
          SELECT ${reservation.reservationId}::uuid, event_id, ${reservation.partnerId}::text,
                 ${reservation.seats}::integer, 'confirmed', ${reservation.createdAt}::timestamptz
            FROM taken
          RETURNING reservation_id
        )
        SELECT taken.* FROM taken CROSS JOIN recorded
      `.execute(db);
      const row = rows[0];
      return row ? { kind: 'committed', event: toEvent(row) } : { kind: 'version_conflict' };
    },

    // The reservation is marked first, so a reservation cancelled meanwhile (by another process) is seen as
    // such rather than returning its seats twice; the event update then applies only at the expected version.
    async commitCancellation(expected, reservation): Promise<CancellationCommitResult> {
      const trx = await db.startTransaction().execute();
      try {
        const cancelled = await trx
          .updateTable('reservations')
          .set({ status: 'cancelled', cancelled_at: sql<Date>`now()` })
          .where('reservation_id', '=', reservation.reservationId)
          .where('event_id', '=', expected.eventId)
          .where('status', '=', 'confirmed')
          .executeTakeFirst();
        if (cancelled.numUpdatedRows === 0n) {
          await trx.rollback().execute();
          return { kind: 'already_cancelled' };
        }
        const returned = await returnSeats(trx, expected, reservation.seats);
        if (!returned) {
          await trx.rollback().execute();
          return { kind: 'version_conflict' };
        }
        await trx.commit().execute();
        return { kind: 'committed', event: toEvent(returned) };
      } catch (error) {
        await trx
          .rollback()
          .execute()
          .catch(() => undefined);
        throw error;
      }
    },
  };
}

async function returnSeats(
  db: Kysely<Database>,
  expected: ExpectedVersion,
  seats: number,
): Promise<EventRow | undefined> {
  const { rows } = await sql<EventRow>`
    UPDATE events
       SET available_seats = available_seats + ${seats},
           active_reservations = active_reservations - 1,
           version = version + 1,
           updated_at = now()
     WHERE event_id = ${expected.eventId}
       AND version = ${expected.version}
    RETURNING event_id, name, total_seats, available_seats, active_reservations, version
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
