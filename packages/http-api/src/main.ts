/**
 * The one composition root: configuration, database, schema, seed data, use cases, HTTP, shutdown.
 */
import { randomUUID } from 'node:crypto';
import { createPostgresEventRepository, ensureEvent } from '@ticketboss/adapters-postgres';
import { createReservationService, DEFAULT_EVENT } from '@ticketboss/domain';
import pino from 'pino';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { openDatabase, prepareSchema, type OpenDatabase } from './database.js';

function readConfigOrExit(): Config {
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`ticketboss: ${error.message}\n`);
    process.exit(1);
  }
}

const config = readConfigOrExit();
const logger = pino({ level: config.logLevel });
let database: OpenDatabase | undefined;

try {
  if (!config.databaseUrl) logger.info(`DATABASE_URL is not set: using an embedded PostgreSQL in ${config.dataDir}`);
  database = await openDatabase(config, logger);
  await prepareSchema(database.db, config, logger);
  if (await ensureEvent(database.db, DEFAULT_EVENT)) logger.info(`created event ${DEFAULT_EVENT.eventId}`);

  const reservations = createReservationService({
    repository: createPostgresEventRepository(database.db),
    clock: { now: () => new Date() },
    ids: { reservationId: randomUUID },
    maxWaitMs: config.maxWaitMs,
  });
  const app = buildApp({ reservations, defaultEventId: DEFAULT_EVENT.eventId, logger });
  await app.listen({ port: config.port, host: config.host });

  const open = database;
  let closing = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing in-flight requests');
    setTimeout(() => {
      logger.error('shutdown took too long; exiting with requests still open');
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    app
      .close()
      .then(() => open.close())
      .then(() => logger.info('stopped'))
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exitCode = 1;
      });
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
} catch (error) {
  logger.fatal(error instanceof Error ? error.message : String(error));
  if (!(error instanceof Error && error.name === 'MigrationError')) logger.debug({ err: error }, 'start-up failure');
  await database?.close().catch(() => undefined);
  process.exit(1);
}
