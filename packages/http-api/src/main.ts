/**
 * The one composition root: configuration, database, schema, seed data, use cases, HTTP, shutdown.
 */
import { randomUUID } from 'node:crypto';
import { createPostgresEventRepository, ensureEvent } from '@ticketboss/adapters-postgres';
import { createReservationService, DEFAULT_EVENT, type ReservationService } from '@ticketboss/domain';
import type { FastifyInstance } from 'fastify';
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
// Asynchronous writes: under load, lines queue behind the write in progress and leave in one syscall, instead
// of one blocking write per line; pino flushes what is queued when the process exits.
const logger = pino({ level: config.logLevel }, pino.destination({ dest: 1, sync: false }));
let database: OpenDatabase | undefined;
let app: FastifyInstance | undefined;
let reservations: ReservationService | undefined;
let stopping = false;

// Installed before anything starts, so that no signal finds the process without a handler. An embedded
// PostgreSQL is stopped on any exit by its launcher's exit hook.
function onSignal(signal: NodeJS.Signals): void {
  if (stopping || !app || !database) {
    logger.warn({ signal }, stopping ? 'second signal: exiting now' : 'signal during start-up: exiting');
    process.exit(1);
  }
  stopping = true;
  logger.info({ signal }, 'shutting down: no new connections, finishing in-flight requests');
  setTimeout(() => {
    logger.error('shutdown took too long; exiting with requests still open');
    process.exit(1);
  }, config.shutdownTimeoutMs).unref();
  const open = database;
  app
    .close()
    .then(() => open.close())
    .then(() => logger.info({ commits: reservations?.commitStats() }, 'stopped'))
    .catch((err: unknown) => {
      logger.error({ err }, 'shutdown failed');
      process.exitCode = 1;
    });
}
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);

try {
  if (!config.databaseUrl) logger.info(`DATABASE_URL is not set: using an embedded PostgreSQL in ${config.dataDir}`);
  database = await openDatabase(config, logger);
  await prepareSchema(database.connectionString, config, logger);
  if (await ensureEvent(database.db, DEFAULT_EVENT)) logger.info(`created event ${DEFAULT_EVENT.eventId}`);

  reservations = createReservationService({
    repository: createPostgresEventRepository(database.db),
    clock: { now: () => new Date() },
    ids: { reservationId: randomUUID },
    maxWaitMs: config.maxWaitMs,
    timers: {
      after(ms, callback) {
        const timer = setTimeout(callback, ms);
        timer.unref();
        return () => clearTimeout(timer);
      },
    },
  });
  const server = buildApp({ reservations, defaultEventId: DEFAULT_EVENT.eventId, logger });
  await server.listen({ port: config.port, host: config.host });
  app = server;
} catch (error) {
  logger.fatal(error instanceof Error ? error.message : String(error));
  logger.debug({ err: error }, 'start-up failure');
  await database?.close().catch(() => undefined);
  process.exit(1);
}
