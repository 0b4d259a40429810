import {
  InvalidPagePosition,
  PARTNER_ACTIVITY_RETENTION_MS,
  PARTNER_WINDOWS,
  type FailingWebhook,
  type Page,
  type PagePosition,
  type PartnerActivityCount,
  type PartnerOverview,
  type PartnerWindow,
} from '@ticketboss/domain';
import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';
import { transient } from './sql-errors.js';

/**
 * The partners half of the console's store (migration 0007's partner_activity): what the API processes counted,
 * added minute by minute, and read back per partner over a window, with the partner's failing webhook endpoints.
 */

const MINUTE_MS = 60_000;

/** The first minute a window (or the retention) counts: the rows whose minute is at or after it. */
const windowStart = (now: Date, windowMs: number) =>
  new Date(Math.floor((now.getTime() - windowMs) / MINUTE_MS) * MINUTE_MS);

/**
 * Adds the counts to their minutes' rows, in one statement whatever their number: several processes add to the same
 * rows, so the rows are written in key order (no two flushes can wait on each other's rows in opposite orders), and
 * counts for the same row are summed first (ON CONFLICT cannot touch a row twice in one statement).
 */
export async function addPartnerActivity(db: Kysely<Database>, counts: readonly PartnerActivityCount[]): Promise<void> {
  if (counts.length === 0) return;
  const column = <T>(pick: (count: PartnerActivityCount) => T) => counts.map(pick);
  await transient(() =>
    sql`
      INSERT INTO partner_activity AS a
             (partner_id, minute, requests, reservations, seats, refusals, rate_limited, last_request_at)
      SELECT partner_id, minute, sum(requests), sum(reservations), sum(seats), sum(refusals), sum(rate_limited),
             max(last_request_at)
        FROM unnest(${column((c) => c.partnerId)}::text[], ${column((c) => c.minute.toISOString())}::timestamptz[],
                    ${column((c) => c.requests)}::int[], ${column((c) => c.reservations)}::int[],
                    ${column((c) => c.seats)}::int[], ${column((c) => c.refusals)}::int[],
                    ${column((c) => c.rateLimited)}::int[],
                    ${column((c) => c.lastRequestAt.toISOString())}::timestamptz[])
             AS c(partner_id, minute, requests, reservations, seats, refusals, rate_limited, last_request_at)
       GROUP BY partner_id, minute
       ORDER BY partner_id, minute
      ON CONFLICT (partner_id, minute) DO UPDATE
         SET requests = a.requests + excluded.requests,
             reservations = a.reservations + excluded.reservations,
             seats = a.seats + excluded.seats,
             refusals = a.refusals + excluded.refusals,
             rate_limited = a.rate_limited + excluded.rate_limited,
             last_request_at = greatest(a.last_request_at, excluded.last_request_at)`.execute(db),
  );
}

/** Deletes the minutes past the retention (24 hours: the widest window stays whole); returns how many went. */
export async function prunePartnerActivity(db: Kysely<Database>, now: Date): Promise<number> {
  const result = await transient(() =>
    db
      .deleteFrom('partner_activity')
      .where('minute', '<', windowStart(now, PARTNER_ACTIVITY_RETENTION_MS))
      .executeTakeFirst(),
  );
  return Number(result.numDeletedRows);
}

interface OverviewRow {
  readonly partner_id: string;
  readonly name: string;
  /** Sums: bigint, which node-postgres returns as text. */
  readonly requests: string;
  readonly reservations: string;
  readonly seats: string;
  readonly refusals: string;
  readonly rate_limited: string;
  readonly last_request_at: Date | null;
}

/**
 * Every partner, with what it did over the window (zeros when idle), most requests first, then by id. The window is
 * counted in whole minutes: the rows from the minute `window` before `now` on. The page position is the last line's
 * requests and id; counts grow between pages, so a partner whose count moves past the position meanwhile may be
 * missed or shown twice (as in any listing ordered by a live figure).
 */
export async function listPartnerOverviews(
  db: Kysely<Database>,
  now: Date,
  query: { readonly window: PartnerWindow; readonly limit: number; readonly after?: PagePosition },
): Promise<Page<PartnerOverview>> {
  const after = query.after === undefined ? undefined : parseOverviewPosition(query.after);
  const from = windowStart(now, PARTNER_WINDOWS[query.window] * 1000);
  const since = after
    ? sql`WHERE requests < ${after.requests}::bigint OR (requests = ${after.requests}::bigint AND partner_id > ${after.partnerId})`
    : sql``;
  const { rows } = await transient(() =>
    sql<OverviewRow>`
      SELECT * FROM (
        SELECT p.partner_id, p.name,
               coalesce(a.requests, 0) AS requests, coalesce(a.reservations, 0) AS reservations,
               coalesce(a.seats, 0) AS seats, coalesce(a.refusals, 0) AS refusals,
               coalesce(a.rate_limited, 0) AS rate_limited, a.last_request_at
          FROM partners p
          LEFT JOIN (
            SELECT partner_id, sum(requests) AS requests, sum(reservations) AS reservations, sum(seats) AS seats,
                   sum(refusals) AS refusals, sum(rate_limited) AS rate_limited, max(last_request_at) AS last_request_at
              FROM partner_activity
             WHERE minute >= ${from}
             GROUP BY partner_id
          ) a USING (partner_id)
      ) overview
      ${since}
      ORDER BY requests DESC, partner_id
      LIMIT ${query.limit + 1}`.execute(db),
  );
  const page = rows.slice(0, query.limit);
  const failing = await findFailingWebhooks(
    db,
    page.map((row) => row.partner_id),
  );
  const items = page.map((row) => toOverview(row, failing.get(row.partner_id) ?? []));
  const last = page.at(-1);
  return rows.length > query.limit && last ? { items, next: `${last.requests}|${last.partner_id}` } : { items };
}

function toOverview(row: OverviewRow, failingWebhooks: readonly FailingWebhook[]): PartnerOverview {
  return {
    partnerId: row.partner_id,
    name: row.name,
    requests: Number(row.requests),
    reservations: Number(row.reservations),
    seats: Number(row.seats),
    refusals: Number(row.refusals),
    rateLimited: Number(row.rate_limited),
    lastRequestAt: row.last_request_at,
    failingWebhooks,
  };
}

/** Up to 18 digits (any count a bigint sum reaches in 24 hours), then the partner's id. */
const OVERVIEW_POSITION = /^(0|[1-9]\d{0,17})\|(.+)$/s;

function parseOverviewPosition(position: string): { requests: string; partnerId: string } {
  const match = OVERVIEW_POSITION.exec(position);
  if (!match) throw new InvalidPagePosition('not a partner overview position');
  return { requests: match[1]!, partnerId: match[2]! };
}

interface FailingRow {
  readonly partner_id: string;
  readonly webhook_id: string;
  readonly url: string;
  readonly enabled: boolean;
  readonly failing_since: Date | null;
  readonly disabled_reason: string | null;
  readonly error: string | null;
  readonly status_code: number | null;
  readonly attempted_at: Date | null;
}

/**
 * The partners' enabled endpoints whose attempts all fail, and those TicketBoss disabled, oldest failure first; each
 * with its last attempt, found through webhook_attempts_endpoint_idx (the endpoint's newest attempt first).
 */
async function findFailingWebhooks(
  db: Kysely<Database>,
  partnerIds: readonly string[],
): Promise<Map<string, FailingWebhook[]>> {
  const byPartner = new Map<string, FailingWebhook[]>();
  if (partnerIds.length === 0) return byPartner;
  const { rows } = await transient(() =>
    sql<FailingRow>`
      SELECT e.partner_id, e.webhook_id, e.url, e.enabled, e.failing_since, e.disabled_reason,
             last.error, last.status_code, last.attempted_at
        FROM webhook_endpoints e
        LEFT JOIN LATERAL (
          SELECT error, status_code, attempted_at
            FROM webhook_attempts
           WHERE webhook_id = e.webhook_id
           ORDER BY attempt_id DESC
           LIMIT 1
        ) last ON true
       WHERE e.partner_id = ANY(${partnerIds}::text[])
         AND ((e.enabled AND e.failing_since IS NOT NULL) OR e.disabled_reason IS NOT NULL)
       ORDER BY e.failing_since NULLS LAST, e.created_at, e.webhook_id`.execute(db),
  );
  for (const row of rows) {
    const list = byPartner.get(row.partner_id) ?? [];
    list.push(toFailingWebhook(row));
    byPartner.set(row.partner_id, list);
  }
  return byPartner;
}

function toFailingWebhook(row: FailingRow): FailingWebhook {
  const lastError = row.error ?? (row.status_code === null ? null : `HTTP ${row.status_code}`);
  return {
    webhookId: row.webhook_id,
    url: row.url,
    enabled: row.enabled,
    failingSince: row.failing_since,
    disabledReason: row.disabled_reason,
    lastError,
    lastAttemptAt: row.attempted_at,
  };
}
