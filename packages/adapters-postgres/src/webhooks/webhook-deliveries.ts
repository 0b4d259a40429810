import {
  InvalidPagePosition,
  type AttemptOutcome,
  type DeliveryAttempt,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WebhookPage,
} from '@ticketboss/domain';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../database.js';
import { transient } from '../sql-errors.js';
import { toAttempt, toDelivery, toEndpoint, type AttemptRow, type DeliveryRow } from './webhook-rows.js';

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

/** Pending again with a new retry window, its next attempt queued now. */
export async function redeliver(
  db: Kysely<Database>,
  partnerId: string,
  webhookId: string,
  deliveryId: string,
): Promise<WebhookDelivery | undefined> {
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<DeliveryRow>`
      UPDATE webhook_deliveries d
         SET state = 'pending', first_attempt_at = NULL, next_attempt_at = ticketboss_now()
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

export async function loadForAttempt(
  db: Kysely<Database>,
  deliveryId: string,
): Promise<{ delivery: WebhookDelivery; endpoint: WebhookEndpoint } | undefined> {
  return transient(async () => {
    const delivery = await db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('delivery_id', '=', deliveryId)
      .executeTakeFirst();
    if (!delivery) return undefined;
    const endpoint = await db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('webhook_id', '=', delivery.webhook_id)
      .executeTakeFirst();
    return endpoint && { delivery: toDelivery(delivery), endpoint: toEndpoint(endpoint) };
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
 * In one transaction: the attempt's row, the delivery's state (delivered; pending with its next attempt queued at
 * `retryAt`; or failed), and the endpoint's failure state (cleared by a success; set by the first failure; and
 * disabled with `disableReason`). A delivery deleted meanwhile (its endpoint was) records nothing: the attempt is
 * answered as it happened, with attemptId '0'.
 */
export async function recordAttempt(
  db: Kysely<Database>,
  delivery: WebhookDelivery,
  attemptedAt: Date,
  outcome: AttemptOutcome,
): Promise<DeliveryAttempt> {
  const delivered = outcome.kind === 'delivered';
  const retryAt = outcome.kind === 'failed' ? outcome.retryAt : undefined;
  const state = delivered ? 'delivered' : retryAt ? 'pending' : 'failed';
  const error = outcome.kind === 'failed' ? outcome.error : null;
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ attempts: number }>`
      UPDATE webhook_deliveries
         SET attempts = attempts + 1,
             state = ${state},
             first_attempt_at = coalesce(first_attempt_at, ${attemptedAt}),
             next_attempt_at = ${retryAt ?? null}::timestamptz,
             delivered_at = CASE WHEN ${delivered} THEN ${attemptedAt}::timestamptz ELSE delivered_at END
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
    if (delivered) {
      await sql`UPDATE webhook_endpoints SET failing_since = NULL
                 WHERE webhook_id = ${delivery.webhookId} AND failing_since IS NOT NULL`.execute(trx);
    } else {
      const disableReason = outcome.kind === 'failed' ? (outcome.disableReason ?? null) : null;
      await sql`
        UPDATE webhook_endpoints
           SET failing_since = coalesce(failing_since, ${attemptedAt}),
               enabled = enabled AND ${disableReason}::text IS NULL,
               disabled_reason = CASE WHEN enabled AND ${disableReason}::text IS NOT NULL
                                      THEN ${disableReason}::text ELSE disabled_reason END,
               updated_at = CASE WHEN ${disableReason}::text IS NOT NULL THEN now() ELSE updated_at END
         WHERE webhook_id = ${delivery.webhookId}
           AND (failing_since IS NULL OR (enabled AND ${disableReason}::text IS NOT NULL))`.execute(trx);
    }
    return toAttempt({ ...row, type: delivery.type, reservation_id: delivery.reservationId ?? null });
  });
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
