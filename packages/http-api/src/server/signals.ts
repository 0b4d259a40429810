import { isUnavailable } from '@ticketboss/adapters-postgres';
import closeWithGrace from 'close-with-grace';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Started } from './start.js';

/**
 * Installed before start-up begins, so that no signal finds the process without a handler. The first SIGINT or
 * SIGTERM (or an uncaught error) closes the server: no new connections, the requests in flight finished, then
 * exit 0 (1 after an error); a second signal, or a shutdown longer than TICKETBOSS_SHUTDOWN_TIMEOUT_MS, exits 1 at
 * once. A signal during start-up exits 1 at once. An embedded PostgreSQL is stopped on any exit by its launcher's
 * exit hook.
 *
 * An unhandled rejection is such an uncaught error, except one saying the database could not be reached:
 * graphile-worker completes and fails jobs without awaiting the result, so a database that restarts while a job
 * runs would otherwise take the API process down, while every request meanwhile answers 503 and recovers. The job
 * stays locked and is taken up again by the job queue's rescue (see job-queue.ts in adapters-postgres).
 */
export function closeOnSignals(
  config: Config,
  logger: Logger,
  started: () => Pick<Started, 'close'> | undefined,
): void {
  process.on('unhandledRejection', (reason) => {
    if (isUnavailable(reason)) {
      logger.warn({ err: reason }, 'a database call nobody awaited failed: the database is unreachable');
      return;
    }
    // Anything else is a bug: as an uncaught error, it closes the server (below).
    setImmediate(() => {
      throw reason;
    });
  });
  closeWithGrace(
    {
      delay: config.shutdownTimeoutMs,
      skip: ['unhandledRejection'],
      logger: false,
      onSecondSignal: (signal) => logger.warn({ signal }, 'second signal: exiting now'),
      onSecondError: (err) => logger.fatal({ err }, 'second uncaught error during shutdown: exiting now'),
      onTimeout: () => logger.error('shutdown took too long; exiting with requests still open'),
    },
    async ({ signal, err }) => {
      const server = started();
      if (!server) {
        if (err) logger.fatal({ err }, `uncaught error during start-up: ${err.message}`);
        else logger.warn({ signal }, 'signal during start-up: exiting');
        process.exit(1);
      }
      if (err) logger.fatal({ err }, `uncaught error: ${err.message}; shutting down`);
      else logger.info({ signal }, 'shutting down: no new connections, finishing in-flight requests');
      await server.close().catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        throw error;
      });
    },
  );
}
