import type { WebhookEndpoint, WebhookEndpointChanges, WebhookStore } from '@ticketboss/domain';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../database.js';
import { transient } from '../sql-errors.js';
import {
  addTestDelivery,
  findEarlierPending,
  listAttempts,
  loadForAttempt,
  postpone,
  recordAttempt,
  redeliver,
} from './webhook-deliveries.js';
import { isWebhookId, orderedEventTypes, toEndpoint, type EndpointRow } from './webhook-rows.js';

/**
 * The `WebhookStore` port on PostgreSQL. Deliveries are recorded by the triggers of migrations/0006_webhooks.sql;
 * attempts are queued as graphile-worker jobs (`ticketboss_webhook_deliver`, one per delivery at a time) in the
 * same transaction as the change that calls for them. An id that is not a uuid names no endpoint.
 */
export function createPostgresWebhookStore(db: Kysely<Database>): WebhookStore {
  const endpointOf = (partnerId: string, webhookId: string) =>
    db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('partner_id', '=', partnerId)
      .where('webhook_id', '=', webhookId);

  return {
    async createEndpoint(endpoint) {
      const row = await db
        .insertInto('webhook_endpoints')
        .values({
          webhook_id: endpoint.webhookId,
          partner_id: endpoint.partnerId,
          url: endpoint.url,
          description: endpoint.description ?? null,
          event_types: orderedEventTypes(endpoint.events),
          secret: endpoint.secret,
          created_at: endpoint.createdAt,
          updated_at: endpoint.createdAt,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toEndpoint(row);
    },

    async listEndpoints(partnerId) {
      const rows = await transient(() =>
        db
          .selectFrom('webhook_endpoints')
          .selectAll()
          .where('partner_id', '=', partnerId)
          .orderBy('created_at')
          .orderBy('webhook_id')
          .execute(),
      );
      return rows.map(toEndpoint);
    },

    async countEndpoints(partnerId) {
      const row = await transient(() =>
        db
          .selectFrom('webhook_endpoints')
          .select((eb) => eb.fn.countAll<string>().as('count'))
          .where('partner_id', '=', partnerId)
          .executeTakeFirstOrThrow(),
      );
      return Number(row.count);
    },

    async findEndpoint(partnerId, webhookId) {
      if (!isWebhookId(webhookId)) return undefined;
      const row = await transient(() => endpointOf(partnerId, webhookId).executeTakeFirst());
      return row && toEndpoint(row);
    },

    updateEndpoint: (partnerId, webhookId, changes) => updateEndpoint(db, partnerId, webhookId, changes),

    async deleteEndpoint(partnerId, webhookId) {
      if (!isWebhookId(webhookId)) return false;
      const result = await db
        .deleteFrom('webhook_endpoints')
        .where('partner_id', '=', partnerId)
        .where('webhook_id', '=', webhookId)
        .executeTakeFirst();
      return result.numDeletedRows > 0n;
    },

    async rotateSecret(partnerId, webhookId, secret, previousUntil) {
      if (!isWebhookId(webhookId)) return undefined;
      const row = await db
        .updateTable('webhook_endpoints')
        .set((eb) => ({
          previous_secret: eb.ref('secret'),
          previous_secret_until: previousUntil,
          secret,
          updated_at: sql<Date>`now()`,
        }))
        .where('partner_id', '=', partnerId)
        .where('webhook_id', '=', webhookId)
        .returningAll()
        .executeTakeFirst();
      return row && toEndpoint(row);
    },

    addTestDelivery: (partnerId, webhookId, deliveryId) =>
      isWebhookId(webhookId) ? addTestDelivery(db, partnerId, webhookId, deliveryId) : Promise.resolve(undefined),
    listAttempts: (partnerId, webhookId, page) =>
      isWebhookId(webhookId) ? listAttempts(db, partnerId, webhookId, page) : Promise.resolve(undefined),
    redeliver: (partnerId, webhookId, deliveryId) =>
      isWebhookId(webhookId) ? redeliver(db, partnerId, webhookId, deliveryId) : Promise.resolve(undefined),
    loadForAttempt: (deliveryId) => loadForAttempt(db, deliveryId),
    findEarlierPending: (delivery) => findEarlierPending(db, delivery),
    recordAttempt: (delivery, attemptedAt, outcome) => recordAttempt(db, delivery, attemptedAt, outcome),
    postpone: (delivery, at) => postpone(db, delivery, at),
  };
}

/**
 * Applies the changes in one transaction. Enabling a disabled endpoint clears its failure state and queues its
 * pending deliveries now (their jobs found it disabled and left them pending); any change of `enabled` clears the
 * reason TicketBoss gave for disabling it.
 */
async function updateEndpoint(
  db: Kysely<Database>,
  partnerId: string,
  webhookId: string,
  changes: WebhookEndpointChanges,
): Promise<WebhookEndpoint | undefined> {
  if (!isWebhookId(webhookId)) return undefined;
  return db.transaction().execute(async (trx) => {
    const before = await trx
      .selectFrom('webhook_endpoints')
      .select('enabled')
      .where('partner_id', '=', partnerId)
      .where('webhook_id', '=', webhookId)
      // NO KEY UPDATE: commits that record deliveries to it (FOR KEY SHARE) need not wait for this transaction.
      .forNoKeyUpdate()
      .executeTakeFirst();
    if (!before) return undefined;
    const enabling = changes.enabled === true && !before.enabled;
    const row: EndpointRow = await trx
      .updateTable('webhook_endpoints')
      .set({
        ...(changes.url !== undefined ? { url: changes.url } : {}),
        ...(changes.events !== undefined ? { event_types: orderedEventTypes(changes.events) } : {}),
        ...(changes.description !== undefined ? { description: changes.description } : {}),
        ...(changes.enabled !== undefined ? { enabled: changes.enabled, disabled_reason: null } : {}),
        ...(enabling ? { failing_since: null } : {}),
        updated_at: sql<Date>`now()`,
      })
      .where('webhook_id', '=', webhookId)
      .returningAll()
      .executeTakeFirstOrThrow();
    if (enabling) {
      await sql`
        WITH due AS (
          UPDATE webhook_deliveries SET next_attempt_at = ticketboss_now()
           WHERE webhook_id = ${webhookId} AND state = 'pending'
          RETURNING delivery_id, seq
        )
        SELECT ticketboss_queue_webhook_deliveries(ARRAY(SELECT delivery_id FROM due ORDER BY seq), NULL)`.execute(trx);
    }
    return toEndpoint(row);
  });
}
