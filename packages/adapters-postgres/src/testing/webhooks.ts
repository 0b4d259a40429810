import { randomBytes, randomUUID } from 'node:crypto';
import type { WebhookEndpoint, WebhookEventType } from '@ticketboss/domain';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../database.js';
import { createPostgresWebhookStore } from '../webhooks/webhook-store.js';

/** A partner row (its API keys are not needed to record deliveries). */
export async function insertPartner(db: Kysely<Database>, partnerId: string): Promise<void> {
  await db.insertInto('partners').values({ partner_id: partnerId, name: partnerId }).execute();
}

/** Registers an endpoint through the store; `enabled: false` disables it afterwards. */
export async function addEndpoint(
  db: Kysely<Database>,
  partnerId: string,
  events: readonly WebhookEventType[],
  { enabled = true }: { enabled?: boolean } = {},
): Promise<WebhookEndpoint> {
  const store = createPostgresWebhookStore(db);
  const endpoint = await store.createEndpoint({
    webhookId: randomUUID(),
    partnerId,
    url: 'https://partner.example/hooks',
    description: undefined,
    events,
    secret: `whsec_${randomBytes(32).toString('base64')}`,
    createdAt: new Date(),
  });
  if (enabled) return endpoint;
  return (await store.updateEndpoint(partnerId, endpoint.webhookId, { enabled: false }))!;
}

export interface QueuedJob {
  readonly id: string;
  readonly task: string;
  readonly payload: Record<string, unknown>;
  readonly runAt: Date;
  readonly key: string | null;
  readonly lockedBy: string | null;
  readonly attempts: number;
}

/** The job queue's jobs (graphile-worker's table), oldest first, optionally of one task. */
export async function queuedJobs(db: Kysely<Database>, task?: string): Promise<QueuedJob[]> {
  const { rows } = await sql<QueuedJob>`
    SELECT j.id::text AS id, t.identifier AS task, j.payload, j.run_at AS "runAt", j.key,
           j.locked_by AS "lockedBy", j.attempts
      FROM graphile_worker._private_jobs j JOIN graphile_worker._private_tasks t ON t.id = j.task_id
     WHERE ${task ?? null}::text IS NULL OR t.identifier = ${task ?? null}::text
     ORDER BY j.id`.execute(db);
  return rows;
}
