import {
  InvalidPagePosition,
  isValidEventId,
  TransientFailure,
  type Clock,
  type CommitResult,
  type EventDefinition,
  type EventRepository,
} from '@ticketboss/domain';
import { sql, type Kysely } from 'kysely';
import { applyChanges, findOutWhatHappened, resultOfCommit } from './commit-statement.js';
import type { Database } from './database.js';
import {
  eventColumns,
  eventValues,
  selectEventsWithHolds,
  toEvent,
  toEventSummary,
  toReservation,
  type EventRow,
} from './event-rows.js';
import { applyEventUpdate } from './event-update-statement.js';
import { selectReservationPage } from './reservation-page.js';
import { isRetryable, sqlState, transient } from './sql-errors.js';

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

    listReservations: (query) => selectReservationPage(db, query, clock.now()),

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
        return resultOfCommit(await applyChanges(db, now, expected, changes), changes, now);
      } catch (error) {
        if (isRetryable(error)) return { kind: 'version_conflict' };
        if (sqlState(error) !== undefined) throw error;
        // No answer from the server (connection lost, client timeout): the commit may or may not have happened.
        return findOutWhatHappened(db, changes, error, findEventRow);
      }
    },
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
