import {
  EVENT_ACTIVITY_RETENTION_MS,
  isValidEventId,
  PARTNER_ACTIVITY_RETENTION_MS,
  type Clock,
  type ConsoleStore,
} from '@ticketboss/domain';
import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';
import { readEventActivity, selectEventOverviewPage } from './event-overviews.js';
import { insertPartnerActivity, selectPartnerOverviewPage } from './partner-overviews.js';
import { transient } from './sql-errors.js';

/** Rows deleted per statement by a prune, so that no statement holds many row locks or runs long. */
export const PRUNE_BATCH = 5000;
/**
 * Statements per rollup of one prune, unless told: after a long downtime the backlog goes over several prunes (a
 * minute apart, up to 100,000 rows of each rollup a minute, several times what a busy minute adds), so that no one
 * prune holds up the sweeper's round or its shutdown for long.
 */
export const PRUNE_MAX_BATCHES = 20;

/**
 * The `ConsoleStore` port on PostgreSQL. Every instant that decides a figure (the current second, which holds
 * have expired) is `clock`'s: give it the clock the reservation services run on (the database's time, see
 * database-clock.ts), so that the console counts a hold as expired exactly when GET /v1/events/:eventId does.
 * Without one, each reading asks the database for `ticketboss_now()`.
 */
export function createConsoleStore(db: Kysely<Database>, clock?: Clock): ConsoleStore {
  const nowIn = async (executor: Kysely<Database>): Promise<Date> => clock?.now() ?? databaseTime(executor);

  return {
    async listEventOverviews(query) {
      return selectEventOverviewPage(db, await nowIn(db), query);
    },

    // An id that cannot be an event's (a NUL byte, which text cannot hold, among others) names no event.
    eventActivity: async (eventId, seconds) =>
      isValidEventId(eventId) ? readEventActivity(db, nowIn, eventId, seconds) : undefined,

    async listPartnerOverviews(query) {
      return selectPartnerOverviewPage(db, await nowIn(db), query);
    },

    addPartnerActivity: (counts) => insertPartnerActivity(db, counts),

    async pruneActivity(now, maxBatches = PRUNE_MAX_BATCHES) {
      const eventBefore = now.getTime() - EVENT_ACTIVITY_RETENTION_MS;
      const eventRows = await pruneBatches(db, 'event_activity', 'second', eventBefore, maxBatches);
      // Whole minutes: the minute the widest window starts in stays.
      const partnerBefore = Math.floor((now.getTime() - PARTNER_ACTIVITY_RETENTION_MS) / 60_000) * 60_000;
      const partnerRows = await pruneBatches(db, 'partner_activity', 'minute', partnerBefore, maxBatches);
      return eventRows + partnerRows;
    },
  };
}

async function databaseTime(db: Kysely<Database>): Promise<Date> {
  const { rows } = await transient(() => sql<{ now: Date }>`SELECT ticketboss_now() AS now`.execute(db));
  return rows[0]!.now;
}

/**
 * Deletes the table's rows stamped before `before` (ms), PRUNE_BATCH at a time, in at most `maxBatches` statements
 * (the rest is left to the next prune); returns how many went.
 */
async function pruneBatches(
  db: Kysely<Database>,
  table: 'event_activity' | 'partner_activity',
  column: 'second' | 'minute',
  before: number,
  maxBatches: number,
): Promise<number> {
  let deleted = 0;
  for (let batch = 0; batch < maxBatches; batch += 1) {
    const result = await transient(() =>
      sql`
        DELETE FROM ${sql.table(table)}
         WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${sql.table(table)}
                                 WHERE ${sql.ref(column)} < ${new Date(before)} LIMIT ${PRUNE_BATCH}))
      `.execute(db),
    );
    const count = Number(result.numAffectedRows ?? 0n);
    deleted += count;
    if (count < PRUNE_BATCH) break;
  }
  return deleted;
}
