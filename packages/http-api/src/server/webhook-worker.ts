/**
 * The job queue's worker as TicketBoss runs it: webhook deliveries and hold expiries, in every API process unless
 * TICKETBOSS_WEBHOOK_WORKER=off, or alone with `pnpm worker` (worker-main.ts).
 */
import { HOLD_EXPIRY_TASK, startJobQueue, WEBHOOK_DELIVER_TASK } from '@ticketboss/adapters-postgres';
import type { Clock, ReservationService, WebhookStore } from '@ticketboss/domain';
import type { Logger } from 'pino';
import type { DeliveryObserver } from '../webhooks/deliver.js';
import { createOutbound } from '../webhooks/outbound.js';
import { webhookTasks } from '../webhooks/tasks.js';
import { retryPolicyOf, type Config } from './config.js';

/** How often the queue looks for jobs whose time has come: a hold's expiry is noticed well within 2 s. */
const POLL_INTERVAL_MS = 500;

export interface WebhookWorker {
  /** Stops taking jobs, waits for those running, then closes the queue's connections and the outbound ones. */
  stop(): Promise<void>;
}

export async function startWebhookWorker(deps: {
  readonly config: Config;
  readonly connectionString: string;
  readonly store: WebhookStore;
  readonly reservations: ReservationService;
  readonly clock: Clock;
  readonly observer?: DeliveryObserver;
  readonly logger: Logger;
}): Promise<WebhookWorker> {
  const { config, logger } = deps;
  if (config.webhookAllowPrivate) {
    logger.warn('TICKETBOSS_WEBHOOK_ALLOW_PRIVATE=true: webhooks may reach loopback and private addresses');
  }
  const outbound = createOutbound({ timeoutMs: config.webhookTimeoutMs, allowPrivate: config.webhookAllowPrivate });
  const tasks = webhookTasks({
    deliver: {
      store: deps.store,
      outbound,
      policy: retryPolicyOf(config),
      clock: deps.clock,
      observer: deps.observer,
    },
    reservations: deps.reservations,
    clock: deps.clock,
    logger,
  });
  try {
    const queue = await startJobQueue({
      connectionString: deps.connectionString,
      tasks: { [WEBHOOK_DELIVER_TASK]: tasks.deliver, [HOLD_EXPIRY_TASK]: tasks.expireHold },
      concurrency: config.webhookConcurrency,
      pollIntervalMs: POLL_INTERVAL_MS,
      lockTimeoutMs: config.webhookLockTimeoutMs,
      // A connection per job at most (each takes one only to fetch and to complete; its queries use the API's),
      // plus graphile-worker's LISTEN connection and the rescue's query.
      poolSize: config.webhookConcurrency + 2,
      logger,
    });
    return {
      async stop() {
        try {
          await queue.stop();
        } finally {
          outbound.close();
        }
      },
    };
  } catch (error) {
    outbound.close();
    throw error;
  }
}
