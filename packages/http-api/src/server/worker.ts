/** The composition root of `pnpm worker`: the database, its schema, the services the jobs use, the worker. */
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { openDatabase, prepareSchema } from './database.js';
import { createServices, unrefTimers } from './services.js';
import { Teardown } from './teardown.js';
import { startWebhookWorker } from './webhook-worker.js';

export interface StartedWorker {
  /** Stops the worker (finishing the jobs it runs), then the database clock and pool. */
  close(): Promise<void>;
}

export async function startWorker(config: Config, logger: Logger): Promise<StartedWorker> {
  if (!config.databaseUrl) {
    // The embedded database belongs to the `pnpm start` that runs it, and that process runs a worker already.
    throw new Error('pnpm worker needs DATABASE_URL: with the embedded database, pnpm start runs the worker itself');
  }
  const teardown = new Teardown();
  try {
    const database = await openDatabase(config, logger);
    teardown.add('database', () => database.close());
    await prepareSchema(database.connectionString, config, logger);
    const services = await createServices(database.db, {
      maxWaitMs: config.maxWaitMs,
      timers: unrefTimers,
      idempotencyRetentionSeconds: config.idempotencyRetentionSeconds,
      seatPools: config.seatPools,
    });
    teardown.add('database clock', () => services.close());
    const worker = await startWebhookWorker({
      config,
      connectionString: database.connectionString,
      store: services.webhooks,
      reservations: services.reservations,
      clock: services.clock,
      logger,
    });
    teardown.add('webhook worker', () => worker.stop());
    logger.info({ concurrency: config.webhookConcurrency }, 'worker started: webhook deliveries and hold expiries');
    return {
      async close() {
        await teardown.run();
        logger.info('worker stopped');
      },
    };
  } catch (error) {
    await teardown.run().catch((err: unknown) => logger.error({ err }, 'undoing a failed start-up failed'));
    throw error;
  }
}
