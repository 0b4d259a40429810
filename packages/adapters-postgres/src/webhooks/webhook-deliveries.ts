import {
  InvalidPagePosition,
  type AttemptOutcome,
  type DeliveryAttempt,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WebhookPage,
} from '@ticketboss/domain';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database, WebhookAttemptsTable } from '../database.js';
import { transient } from '../sql-errors.js';
import {
  toAttempt,
  toDelivery,
  toEndpoint,
  type AttemptRow,
  type DeliveryRow,
  type EndpointRow,
} from './webhook-rows.js';

// The deliveries' side of the webhook store: what the worker reads and records, and what a partner asks of its
// deliveries (the log, a redelivery, a test). Callers have checked that webhook ids are uuids.

/** Queues the deliveries' next attempt at `at` (now if undefined): the one place that makes their jobs. */
function queue(deliveryIds: readonly string[], at: Date | undefined) {
  return sql`SELECT ticketboss_queue_webhook_deliveries(${[...deliveryIds]}::text[], ${at ?? null}::timestamptz)`;
}

export async function addTestDelivery(
  db: Kysely<Database>,
  partnerId: string,
  webhookId: string,
  deliveryId: string,
): Promise<WebhookDelivery | undefined> {
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<DeliveryRow>`
      INSERT INTO webhook_deliveries (delivery_id, webhook_id, type, occurred_at, next_attempt_at)
      SELECT ${deliveryId}, webhook_id, 'webhook.test', ticketboss_now(), ticketboss_now()
        FROM webhook_endpoints WHERE webhook_id = ${webhookId} AND partner_id = ${partnerId}
      RETURNING *`.execute(trx);
    const row = rows[0];
    if (!row) return undefined;
    await queue([row.delivery_id], undefined).execute(trx);
    return toDelivery(row);
  });
}

/** A position in an endpoint's log: the id of the last attempt shown (they are listed by id, newest first). */
const ATTEMPT_POSITION = /^[1-9]\d{0,17}$/;

export async function listAttempts(
  db: Kysely<Database>,
  partnerId: string,
  webhookId: string,
  { limit, cursor, failedOnly = false }: { limit: number; cursor: string | undefined; failedOnly?: boolean },
): Promise<WebhookPage<DeliveryAttempt> | undefined> {
  if (cursor !== undefined && !ATTEMPT_POSITION.test(cursor)) {
    throw new InvalidPagePosition('not a delivery attempt position');
  }
  return transient(async () => {
    const endpoint = await db
      .selectFrom('webhook_endpoints')
      .select('webhook_id')
      .where('partner_id', '=', partnerId)
      .where('webhook_id', '=', webhookId)
      .executeTakeFirst();
    if (!endpoint) return undefined;
    let query = db
      .selectFrom('webhook_attempts as a')
      .innerJoin('webhook_deliveries as d', 'd.delivery_id', 'a.delivery_id')
      .selectAll('a')
      .select(['d.type', 'd.reservation_id'])
      .where('a.webhook_id', '=', webhookId)
      .orderBy('a.attempt_id', 'desc')
      .limit(limit + 1);
    if (failedOnly) query = query.where('a.error', 'is not', null);
    if (cursor !== undefined) query = query.where(sql<boolean>`a.attempt_id < ${cursor}::bigint`);
    const rows: AttemptRow[] = await query.execute();
    const items = rows.slice(0, limit).map(toAttempt);
    return { items, next: rows.length > limit ? items.at(-1)!.attemptId : undefined };
  });
}

/**
 * Pending again with a new retry window (its attempts counted from 0 again, so retries start at the shortest
 * delay), its next attempt queued now.
 */
export async function redeliver(
  db: Kysely<Database>,
  partnerId: string,
  webhookId: string,
  deliveryId: string,
): Promise<WebhookDelivery | undefined> {
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<DeliveryRow>`
      UPDATE webhook_deliveries d
         SET state = 'pending', attempts = 0, first_attempt_at = NULL, next_attempt_at = ticketboss_now()
        FROM webhook_endpoints e
       WHERE d.delivery_id = ${deliveryId} AND d.webhook_id = ${webhookId}
         AND e.webhook_id = d.webhook_id AND e.partner_id = ${partnerId}
      RETURNING d.*`.execute(trx);
    const row = rows[0];
    if (!row) return undefined;
    await queue([row.delivery_id], undefined).execute(trx);
    return toDelivery(row);
  });
}

/** The endpoint's columns, renamed so that one row carries the delivery and its endpoint. */
const ENDPOINT_COLUMNS = [
  'webhook_id',
  'partner_id',
  'url',
  'description',
  'event_types',
  'enabled',
  'secret',
  'previous_secret',
  'previous_secret_until',
  'failing_since',
  'disabled_reason',
  'created_at',
  'updated_at',
] as const;

type Prefixed<T> = { [K in keyof T & string as `endpoint_${K}`]: T[K] };

/** The delivery and its endpoint in one query (the worker runs it once per attempt). */
export async function loadForAttempt(
  db: Kysely<Database>,
  deliveryId: string,
): Promise<{ delivery: WebhookDelivery; endpoint: WebhookEndpoint } | undefined> {
  return transient(async () => {
    const endpointColumns = sql.join(ENDPOINT_COLUMNS.map((c) => sql`e.${sql.ref(c)} AS ${sql.ref(`endpoint_${c}`)}`));
    const { rows } = await sql<DeliveryRow & Prefixed<EndpointRow>>`
      SELECT d.*, ${endpointColumns}
        FROM webhook_deliveries d JOIN webhook_endpoints e ON e.webhook_id = d.webhook_id
       WHERE d.delivery_id = ${deliveryId}`.execute(db);
    const row = rows[0];
    if (!row) return undefined;
    const endpoint = Object.fromEntries(
      ENDPOINT_COLUMNS.map((c) => [c, row[`endpoint_${c}`]]),
    ) as unknown as EndpointRow;
    return { delivery: toDelivery(row), endpoint: toEndpoint(endpoint) };
  });
}

export async function findEarlierPending(
  db: Kysely<Database>,
  delivery: WebhookDelivery,
): Promise<WebhookDelivery | undefined> {
  const { rows } = await transient(() =>
    sql<DeliveryRow>`
      SELECT d.* FROM webhook_deliveries d JOIN webhook_deliveries later
          ON later.webhook_id = d.webhook_id AND later.reservation_id = d.reservation_id AND d.seq < later.seq
       WHERE later.delivery_id = ${delivery.deliveryId} AND d.state = 'pending'
       ORDER BY d.seq LIMIT 1`.execute(db),
  );
  const row = rows[0];
  return row && toDelivery(row);
}

/**
 * At once: the attempt's row, the delivery's state (delivered; pending with its next attempt queued at `retryAt`;
 * or failed), and the endpoint's failure state (cleared by a success; set by the first failure; and disabled with
 * `disableReason`): a success in one statement, a failure in one transaction. A delivery deleted meanwhile (its
 * endpoint was) records nothing: the attempt is answered as it happened, with attemptId '0'.
 */
export async function recordAttempt(
  db: Kysely<Database>,
  delivery: WebhookDelivery,
  attemptedAt: Date,
  outcome: AttemptOutcome,
): Promise<DeliveryAttempt> {
  if (outcome.kind === 'delivered') return recordDelivered(db, delivery, attemptedAt, outcome);
  const { retryAt, error } = outcome;
  const disableReason = outcome.disableReason ?? null;
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ attempts: number }>`
      UPDATE webhook_deliveries
         SET attempts = attempts + 1,
             state = ${retryAt ? 'pending' : 'failed'},
             first_attempt_at = coalesce(first_attempt_at, ${attemptedAt}),
             next_attempt_at = ${retryAt ?? null}::timestamptz
       WHERE delivery_id = ${delivery.deliveryId}
      RETURNING attempts`.execute(trx);
    const attempt = rows[0]?.attempts;
    const values = {
      delivery_id: delivery.deliveryId,
      webhook_id: delivery.webhookId,
      attempt: attempt ?? delivery.attempts + 1,
      attempted_at: attemptedAt,
      status_code: outcome.statusCode ?? null,
      duration_ms: Math.max(0, Math.round(outcome.durationMs)),
      error,
      next_attempt_at: retryAt ?? null,
    };
    const unrecorded = {
      ...values,
      attempt_id: '0',
      type: delivery.type,
      reservation_id: delivery.reservationId ?? null,
    };
    if (attempt === undefined) return toAttempt(unrecorded);
    const row = await trx.insertInto('webhook_attempts').values(values).returningAll().executeTakeFirstOrThrow();
    if (retryAt) await queue([delivery.deliveryId], retryAt).execute(trx);
    await sql`
      UPDATE webhook_endpoints
         SET failing_since = coalesce(failing_since, ${attemptedAt}),
             enabled = enabled AND ${disableReason}::text IS NULL,
             disabled_reason = CASE WHEN enabled AND ${disableReason}::text IS NOT NULL
                                    THEN ${disableReason}::text ELSE disabled_reason END,
             updated_at = CASE WHEN ${disableReason}::text IS NOT NULL THEN now() ELSE updated_at END
       WHERE webhook_id = ${delivery.webhookId}
         AND (failing_since IS NULL OR (enabled AND ${disableReason}::text IS NOT NULL))`.execute(trx);
    return toAttempt({ ...row, type: delivery.type, reservation_id: delivery.reservationId ?? null });
  });
}

/**
 * A success, the common case, in one statement: the delivery delivered, its attempt's row, and the endpoint's
 * failure state cleared. Nothing is recorded for a delivery deleted meanwhile.
 */
async function recordDelivered(
  db: Kysely<Database>,
  delivery: WebhookDelivery,
  attemptedAt: Date,
  outcome: Extract<AttemptOutcome, { kind: 'delivered' }>,
): Promise<DeliveryAttempt> {
  const durationMs = Math.max(0, Math.round(outcome.durationMs));
  const { rows } = await sql<Selectable<WebhookAttemptsTable>>`
    WITH delivered AS (
      UPDATE webhook_deliveries
         SET attempts = attempts + 1, state = 'delivered', first_attempt_at = coalesce(first_attempt_at, ${attemptedAt}),
             next_attempt_at = NULL, delivered_at = ${attemptedAt}
       WHERE delivery_id = ${delivery.deliveryId}
      RETURNING delivery_id, webhook_id, attempts
    ), cleared AS (
      UPDATE webhook_endpoints SET failing_since = NULL
       WHERE webhook_id = (SELECT webhook_id FROM delivered) AND failing_since IS NOT NULL
    )
    INSERT INTO webhook_attempts (delivery_id, webhook_id, attempt, attempted_at, status_code, duration_ms)
    SELECT delivery_id, webhook_id, attempts, ${attemptedAt}::timestamptz, ${outcome.statusCode}::integer,
           ${durationMs}::integer
      FROM delivered
    RETURNING *`.execute(db);
  const row = rows[0] ?? {
    attempt_id: '0',
    delivery_id: delivery.deliveryId,
    webhook_id: delivery.webhookId,
    attempt: delivery.attempts + 1,
    attempted_at: attemptedAt,
    status_code: outcome.statusCode,
    duration_ms: durationMs,
    error: null,
    next_attempt_at: null,
  };
  return toAttempt({ ...row, type: delivery.type, reservation_id: delivery.reservationId ?? null });
}

export async function postpone(db: Kysely<Database>, delivery: WebhookDelivery, at: Date): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const { rows } = await sql`
      UPDATE webhook_deliveries SET next_attempt_at = ${at}
       WHERE delivery_id = ${delivery.deliveryId} AND state = 'pending'
      RETURNING delivery_id`.execute(trx);
    if (rows.length > 0) await queue([delivery.deliveryId], at).execute(trx);
  });
}
