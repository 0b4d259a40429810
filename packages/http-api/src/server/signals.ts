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
 */
export function closeOnSignals(
  config: Config,
  logger: Logger,
  started: () => Pick<Started, 'close'> | undefined,
): void {
  closeWithGrace(
    {
      delay: config.shutdownTimeoutMs,
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
