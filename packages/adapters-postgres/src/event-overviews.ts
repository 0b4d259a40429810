import {
  ACTIVITY_SECONDS,
  InvalidPagePosition,
  isValidEventId,
  type EventActivity,
  type EventOverview,
  type Page,
  type PagePosition,
} from '@ticketboss/domain';
import { sql, type Kysely } from 'kysely';
import {
  perMinute,
  rateWindowStart,
  ratesOf,
  secondOf,
  sellOutAt,
  seriesOf,
  type ActivitySecond,
} from './activity-series.js';
import type { Database } from './database.js';
import { selectEventsWithHolds, toEventSummary, type EventRow } from './event-rows.js';
import { transient } from './sql-errors.js';

// The console's events (ConsoleStore.listEventOverviews and eventActivity): each event's summary, read by the
// statement GET /v1/events/:eventId reads it with, and its rollup (migration 0007).

/**
 * The event's last sale, as its row read it from its pools (migration 0007): not later than the reading's `now`,
 * since a sale committed by a process whose clock runs a little ahead is already in the snapshot; null if it never
 * sold.
 */
const lastSaleOf = (row: EventRow, now: Date): Date | null =>
  row.last_sale_at ? new Date(Math.min(row.last_sale_at.getTime(), now.getTime())) : null;

/** The sums of the rate window, as the statement ranks them (per RATE_SECONDS, before scaling to a minute). */
interface OverviewRow extends EventRow {
  sold: number;
  net: number;
}

/**
 * Every event ranked by its sales over the rate window, then its net seats taken, then its id; a page of them with
 * their summaries. The ranks move with time, so a walk through the pages is a keyset walk over ranks that may
 * have changed: an event whose rank changed meanwhile may be seen twice or not at all.
 */
export async function selectEventOverviewPage(
  db: Kysely<Database>,
  now: Date,
  { limit, after }: { readonly limit: number; readonly after?: PagePosition },
): Promise<Page<EventOverview>> {
  const start = after === undefined ? undefined : parseOverviewPosition(after);
  const from = rateWindowStart(now);
  const below = start
    ? sql`sold < ${start.sold}
          OR (sold = ${start.sold} AND (net < ${start.net} OR (net = ${start.net} AND event_id > ${start.eventId})))`
    : sql`true`;
  // The rates of every event come from the rate window's rollup rows (event_activity_second_idx) and holds
  // (reservations_held_expiry_idx); the summaries and last sales (their pools' rows) only for the page's events.
  const { rows } = await transient(() =>
    sql<OverviewRow>`
    WITH rated AS (
      SELECT e.event_id,
             coalesce(a.sold, 0)::integer AS sold,
             (coalesce(a.net, 0) - coalesce(x.expired_seats, 0))::integer AS net
        FROM events e
        LEFT JOIN (
          SELECT event_id, sum(reserved_seats + confirmed_seats) AS sold,
                 sum(reserved_seats + held_seats - cancelled_seats - expired_seats) AS net
            FROM event_activity
           WHERE second >= ${from}
           GROUP BY event_id
        ) a USING (event_id)
        LEFT JOIN (
          SELECT event_id, sum(seats) AS expired_seats
            FROM reservations
           WHERE status = 'held' AND expires_at >= ${from} AND expires_at <= ${now}
           GROUP BY event_id
        ) x USING (event_id)
    ), page AS (
      SELECT * FROM rated WHERE ${below} ORDER BY sold DESC, net DESC, event_id LIMIT ${limit + 1}
    )
    SELECT s.*, page.sold, page.net
      FROM (${selectEventsWithHolds(now, sql`e.event_id IN (SELECT event_id FROM page)`)}) AS s
      JOIN page USING (event_id)
     ORDER BY page.sold DESC, page.net DESC, s.event_id
  `.execute(db),
  );
  const page = rows.slice(0, limit);
  const items = page.map((row) => ({
    summary: toEventSummary(row),
    ...perMinute(row.sold, row.net),
    lastSaleAt: lastSaleOf(row, now),
  }));
  const last = page.at(-1);
  return rows.length > limit && last ? { items, next: `${last.sold}|${last.net}|${last.event_id}` } : { items };
}

const SOLD = /^\d{1,10}$/;
const NET = /^-?\d{1,10}$/;

/** An events overview position: the last item's sums over the rate window, and its id. */
function parseOverviewPosition(position: string): { sold: number; net: number; eventId: string } {
  const [sold = '', net = '', eventId = '', ...rest] = position.split('|');
  if (rest.length > 0 || !SOLD.test(sold) || !NET.test(net) || !isValidEventId(eventId)) {
    throw new InvalidPagePosition('not an events overview position');
  }
  const numbers = { sold: Number(sold), net: Number(net) };
  if (!Object.values(numbers).every((n) => Math.abs(n) <= 2 ** 31 - 1)) {
    throw new InvalidPagePosition('not an events overview position');
  }
  return { ...numbers, eventId };
}

/**
 * The event's summary and its last `seconds` seconds in one snapshot (a read-only REPEATABLE READ transaction), as
 * of `nowIn`'s time, read first within it. The holds past their expiry that no change has marked yet count as
 * expired in the second of their expiry, as the summary counts their seats as available.
 */
export async function readEventActivity(
  db: Kysely<Database>,
  nowIn: (trx: Kysely<Database>) => Promise<Date>,
  eventId: string,
  seconds: number,
): Promise<EventActivity | undefined> {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > ACTIVITY_SECONDS) {
    throw new RangeError(`seconds must be an integer from 1 to ${ACTIVITY_SECONDS}`);
  }
  return transient(() =>
    db
      .transaction()
      .setIsolationLevel('repeatable read')
      .setAccessMode('read only')
      .execute(async (trx) => {
        const now = await nowIn(trx);
        const { rows } = await sql<EventRow & { created_at: Date }>`
        SELECT s.*, e.created_at
          FROM (${selectEventsWithHolds(now, sql`e.event_id = ${eventId}`)}) AS s
          JOIN events e USING (event_id)
      `.execute(trx);
        const row = rows[0];
        if (!row) return undefined;
        const windowStart = secondOf(now) - (seconds - 1) * 1000;
        const from = new Date(Math.min(windowStart, rateWindowStart(now).getTime()));
        const activity = await selectActivitySeconds(eventId, from, now).execute(trx);
        const summary = toEventSummary(row);
        const rates = ratesOf(activity.rows, now);
        const series = seriesOf(activity.rows, {
          now,
          seconds,
          availableNow: summary.availableSeats,
          createdAt: row.created_at,
        });
        return {
          summary,
          asOf: now,
          ...rates,
          lastSaleAt: lastSaleOf(row, now),
          ...series,
          estimatedSellOutAt: sellOutAt(now, summary.availableSeats, rates.netSeatsPerMinute),
        };
      }),
  );
}

/** The event's rollup per second from `from` on (its pools added up), with its holds past expiry not yet marked. */
function selectActivitySeconds(eventId: string, from: Date, now: Date) {
  return sql<ActivitySecond>`
    SELECT x.second,
           sum(x.reservations)::integer AS reservations, sum(x.reserved_seats)::integer AS reserved_seats,
           sum(x.holds)::integer AS holds, sum(x.held_seats)::integer AS held_seats,
           sum(x.confirmations)::integer AS confirmations, sum(x.confirmed_seats)::integer AS confirmed_seats,
           sum(x.cancellations)::integer AS cancellations, sum(x.cancelled_seats)::integer AS cancelled_seats,
           sum(x.expiries)::integer AS expiries, sum(x.expired_seats)::integer AS expired_seats,
           sum(x.capacity_change)::integer AS capacity_change
      FROM (
        SELECT second, reservations, reserved_seats, holds, held_seats, confirmations, confirmed_seats,
               cancellations, cancelled_seats, expiries, expired_seats, capacity_change
          FROM event_activity
         WHERE event_id = ${eventId} AND second >= ${from}
        UNION ALL
        SELECT date_trunc('second', expires_at), 0, 0, 0, 0, 0, 0, 0, 0, 1, seats, 0
          FROM reservations
         WHERE event_id = ${eventId} AND status = 'held' AND expires_at >= ${from} AND expires_at <= ${now}
      ) AS x
     GROUP BY x.second
  `;
}
