/**
 * `pnpm worker`: only the job queue's worker (webhook deliveries, hold expiries), no HTTP; for deployments that
 * run API processes with TICKETBOSS_WEBHOOK_WORKER=off, or want more workers than API processes.
 */
import { loadConfigOrExit } from './config.js';
import { closeOnSignals } from './signals.js';
import { createLogger } from './start.js';
import { startWorker, type StartedWorker } from './worker.js';

const config = loadConfigOrExit(process.env);
const logger = createLogger(config);
let started: StartedWorker | undefined;
closeOnSignals(config, logger, () => started);
try {
  started = await startWorker(config, logger);
} catch (error) {
  logger.fatal({ err: error }, error instanceof Error ? error.message : String(error));
  process.exit(1);
}
