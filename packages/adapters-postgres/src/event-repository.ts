import {
  DEFAULT_SEAT_POOLS,
  InvalidPagePosition,
  isValidEventId,
  MAX_SEAT_POOLS,
  type Clock,
  type CommitResult,
  type EventDefinition,
  type EventRepository,
} from '@ticketboss/domain';
import { sql, type Kysely } from 'kysely';
import { applyChanges, findOutWhatHappened, resultOfCommit } from './commit-statement.js';
import type { Database } from './database.js';
import {
  eventValues,
  selectEventsWithHolds,
  toEvent,
  toEventSummary,
  toReservation,
  type EventRow,
} from './event-rows.js';
import { applyEventUpdate } from './event-update-statement.js';
import { rebalancePools } from './rebalance.js';
import { selectReservationPage } from './reservation-page.js';
import { createMissingPools, newPoolRows, selectSeatPool, toSeatPool } from './seat-pool-rows.js';
import { isRetryable, sqlState, transient } from './sql-errors.js';

export interface EventRepositoryOptions {
  /**
   * Whose time decides whether a hold has expired: the API's. Holds are made with its clock too, so a hold
   * expires exactly at its `expiresAt`; tests pass a clock they move.
   */
  readonly clock?: Clock;
  /** How many seat pools a new event gets (1..64, default DEFAULT_SEAT_POOLS). */
  readonly seatPools?: number;
}

const systemClock: Clock = { now: () => new Date() };

/**
 * The `EventRepository` port on PostgreSQL: every seat change is one UPDATE of one of the event's seat pools,
 * guarded by that pool's version.
 */
export function createPostgresEventRepository(
  db: Kysely<Database>,
  { clock = systemClock, seatPools = DEFAULT_SEAT_POOLS }: EventRepositoryOptions = {},
): EventRepository {
  if (!Number.isInteger(seatPools) || seatPools < 1 || seatPools > MAX_SEAT_POOLS) {
    throw new RangeError(`seatPools must be an integer from 1 to ${MAX_SEAT_POOLS}`);
  }
  async function findPool(eventId: string, choice: { pool: number } | { avoid?: number }) {
    let row = await transient(() => selectSeatPool(db, eventId, choice, clock.now()));
    if (!row && 'avoid' in choice) {
      // No pool: an unknown event, or one an earlier release made during a rolling deploy (given its pools now).
      await transient(() => createMissingPools(db, eventId, seatPools));
      row = await transient(() => selectSeatPool(db, eventId, choice, clock.now()));
    }
    return row && toSeatPool(row);
  }

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

    findSeatPool: findPool,

    rebalanceSeats: (eventId, pool, wantedSeats, smallestSeats) =>
      transient(() => rebalancePools(db, clock.now(), eventId, pool, { wantedSeats, smallestSeats })),

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
      const created = await insertEvent(db, definition, seatPools);
      if (!created) return { kind: 'already_exists' };
      const row: EventRow = {
        ...eventValues(definition),
        available_seats: definition.totalSeats,
        active_reservations: 0,
        version: '0',
      };
      return { kind: 'created', event: toEventSummary(row) };
    },

    async updateEvent(eventId, changes, expectedVersion) {
      const outcome = await transient(() => applyEventUpdate(db, clock.now(), eventId, changes, expectedVersion));
      if (outcome.kind !== 'updated') return outcome;
      const row = await findEventRow(eventId);
      if (!row) throw new Error(`event ${eventId} vanished after its update`);
      return { kind: 'updated', event: toEventSummary(row) };
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
        return findOutWhatHappened(db, changes, error, () => findPool(expected.eventId, { pool: expected.pool }));
      }
    },
  };
}

/**
 * Inserts the event and its seat pools in one statement (the seats spread over `seatPools` pools); returns
 * whether it was created (false: it exists, and nothing was changed).
 */
async function insertEvent(db: Kysely<Database>, event: EventDefinition, seatPools: number): Promise<boolean> {
  const pools = newPoolRows(event.eventId, event.totalSeats, seatPools);
  const values = eventValues(event);
  const { rows } = await sql<{ event_id: string }>`
    WITH created AS (
      INSERT INTO events (event_id, name, total_seats, available_seats, max_seats_per_reservation, version)
      VALUES (${values.event_id}, ${values.name}, ${values.total_seats}, ${values.available_seats},
              ${values.max_seats_per_reservation}, ${values.version})
      ON CONFLICT (event_id) DO NOTHING
      RETURNING event_id
    ), pools AS (
      INSERT INTO event_seat_pools (event_id, pool, available_seats)
      SELECT created.event_id, p.pool, p.seats
        FROM created, unnest(${pools.map((p) => p.pool)}::integer[],
                             ${pools.map((p) => p.available_seats)}::integer[]) AS p(pool, seats)
    )
    SELECT event_id FROM created
  `.execute(db);
  return rows.length > 0;
}

/** Creates the event if it does not exist; never touches an existing one. Returns whether it was created. */
export function ensureEvent(
  db: Kysely<Database>,
  event: EventDefinition,
  seatPools: number = DEFAULT_SEAT_POOLS,
): Promise<boolean> {
  return insertEvent(db, event, seatPools);
}
