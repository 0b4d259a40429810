import {
  InvalidPagePosition,
  isValidRegisteredPartnerId,
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

// The console's partners (ConsoleStore.listPartnerOverviews, addPartnerActivity): what the API processes counted
// per partner and minute (partner_activity, migration 0007), and the partners' failing webhook endpoints.

const MINUTE_MS = 60_000;

interface CountedRow {
  partner_id: string;
  name: string;
  /** bigint sums: node-postgres returns them as strings. */
  requests: string;
  reservations: string;
  seats: string;
  refusals: string;
  rate_limited: string;
  last_request_at: Date | null;
}

interface FailingRow {
  webhook_id: string;
  partner_id: string;
  url: string;
  enabled: boolean;
  failing_since: Date | null;
  disabled_reason: string | null;
  error: string | null;
  status_code: number | null;
  attempted_at: Date | null;
}

/**
 * Every partner, most requests over the window first, then by id, with its counts (zeros when idle) and its
 * failing endpoints. The window is counted in whole minutes: the minutes from the one `window` before `now` on.
 */
export async function selectPartnerOverviewPage(
  db: Kysely<Database>,
  now: Date,
  { window, limit, after }: { readonly window: PartnerWindow; readonly limit: number; readonly after?: PagePosition },
): Promise<Page<PartnerOverview>> {
  const start = after === undefined ? undefined : parsePartnerPosition(after);
  const from = new Date(Math.floor((now.getTime() - PARTNER_WINDOWS[window] * 1000) / MINUTE_MS) * MINUTE_MS);
  const below = start
    ? sql`requests < ${start.requests} OR (requests = ${start.requests} AND partner_id > ${start.partnerId})`
    : sql`true`;
  const { rows } = await transient(() =>
    sql<CountedRow>`
      WITH counted AS (
        SELECT p.partner_id, p.name,
               coalesce(a.requests, 0) AS requests, coalesce(a.reservations, 0) AS reservations,
               coalesce(a.seats, 0) AS seats, coalesce(a.refusals, 0) AS refusals,
               coalesce(a.rate_limited, 0) AS rate_limited, a.last_request_at
          FROM partners p
          LEFT JOIN (
            SELECT partner_id, sum(requests) AS requests, sum(reservations) AS reservations, sum(seats) AS seats,
                   sum(refusals) AS refusals, sum(rate_limited) AS rate_limited,
                   max(last_request_at) AS last_request_at
              FROM partner_activity
             WHERE minute >= ${from}
             GROUP BY partner_id
          ) a USING (partner_id)
      )
      SELECT * FROM counted WHERE ${below} ORDER BY requests DESC, partner_id LIMIT ${limit + 1}
    `.execute(db),
  );
  const page = rows.slice(0, limit);
  const failing = await selectFailingWebhooks(
    db,
    page.map((row) => row.partner_id),
  );
  const items = page.map((row): PartnerOverview => ({
    partnerId: row.partner_id,
    name: row.name,
    requests: Number(row.requests),
    reservations: Number(row.reservations),
    seats: Number(row.seats),
    refusals: Number(row.refusals),
    rateLimited: Number(row.rate_limited),
    lastRequestAt: row.last_request_at,
    failingWebhooks: failing.get(row.partner_id) ?? [],
  }));
  const last = page.at(-1);
  return rows.length > limit && last ? { items, next: `${last.requests}|${last.partner_id}` } : { items };
}

/**
 * The partners' enabled endpoints that fail and the endpoints TicketBoss disabled, oldest failure first, each with
 * its last attempt (newest first along webhook_attempts_endpoint_idx).
 */
async function selectFailingWebhooks(
  db: Kysely<Database>,
  partnerIds: readonly string[],
): Promise<Map<string, FailingWebhook[]>> {
  const byPartner = new Map<string, FailingWebhook[]>();
  if (partnerIds.length === 0) return byPartner;
  const { rows } = await transient(() =>
    sql<FailingRow>`
      SELECT w.webhook_id, w.partner_id, w.url, w.enabled, w.failing_since, w.disabled_reason,
             t.error, t.status_code, t.attempted_at
        FROM webhook_endpoints w
        LEFT JOIN LATERAL (
          SELECT error, status_code, attempted_at FROM webhook_attempts
           WHERE webhook_id = w.webhook_id
           ORDER BY attempt_id DESC LIMIT 1
        ) t ON true
       WHERE w.partner_id = ANY(${partnerIds}::text[])
         AND ((w.enabled AND w.failing_since IS NOT NULL) OR w.disabled_reason IS NOT NULL)
       ORDER BY w.failing_since NULLS LAST, w.created_at, w.webhook_id
    `.execute(db),
  );
  for (const row of rows) {
    const list = byPartner.get(row.partner_id) ?? [];
    list.push({
      webhookId: row.webhook_id,
      url: row.url,
      enabled: row.enabled,
      failingSince: row.failing_since,
      disabledReason: row.disabled_reason,
      lastError: row.error ?? (row.status_code === null ? null : `HTTP ${row.status_code}`),
      lastAttemptAt: row.attempted_at,
    });
    byPartner.set(row.partner_id, list);
  }
  return byPartner;
}

const REQUESTS = /^\d{1,15}$/;

/** A partners overview position: the last item's requests over the window, and its id. */
function parsePartnerPosition(position: string): { requests: string; partnerId: string } {
  const [requests = '', partnerId = '', ...rest] = position.split('|');
  if (rest.length > 0 || !REQUESTS.test(requests) || !isValidRegisteredPartnerId(partnerId)) {
    throw new InvalidPagePosition('not a partners overview position');
  }
  return { requests, partnerId };
}

/**
 * Adds the counts to their (partner, minute) rows in one statement, the latest request time kept. Counts of one
 * key are added up first (a row may be changed once per statement), and the rows are written in key order, so
 * that two processes adding to the same rows at once wait for each other rather than deadlock.
 */
export async function insertPartnerActivity(
  db: Kysely<Database>,
  counts: readonly PartnerActivityCount[],
): Promise<void> {
  if (counts.length === 0) return;
  const column = <T>(pick: (c: PartnerActivityCount) => T) => counts.map(pick);
  await transient(() =>
    sql`
      INSERT INTO partner_activity AS a
             (partner_id, minute, requests, reservations, seats, refusals, rate_limited, last_request_at)
      SELECT x.partner_id, date_trunc('minute', x.minute), sum(x.requests), sum(x.reservations), sum(x.seats),
             sum(x.refusals), sum(x.rate_limited), max(x.last_request_at)
        FROM unnest(${column((c) => c.partnerId)}::text[], ${column((c) => c.minute)}::timestamptz[],
                    ${column((c) => c.requests)}::integer[], ${column((c) => c.reservations)}::integer[],
                    ${column((c) => c.seats)}::integer[], ${column((c) => c.refusals)}::integer[],
                    ${column((c) => c.rateLimited)}::integer[], ${column((c) => c.lastRequestAt)}::timestamptz[])
             AS x(partner_id, minute, requests, reservations, seats, refusals, rate_limited, last_request_at)
       GROUP BY 1, 2
       ORDER BY 1, 2
      ON CONFLICT (partner_id, minute) DO UPDATE
         SET requests = a.requests + excluded.requests,
             reservations = a.reservations + excluded.reservations,
             seats = a.seats + excluded.seats,
             refusals = a.refusals + excluded.refusals,
             rate_limited = a.rate_limited + excluded.rate_limited,
             last_request_at = greatest(a.last_request_at, excluded.last_request_at)
    `.execute(db),
  );
}
