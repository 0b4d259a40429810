/**
 * The one composition root: configuration, database, schema, seed data, use cases, HTTP, shutdown.
 */
import { createDatabase, ensureEvent, poolStats, readMigrations } from '@ticketboss/adapters-postgres';
import { DEFAULT_EVENT, type ReservationService } from '@ticketboss/domain';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { RateLimit } from '../plugins/access.js';
import { sha256 } from './api-keys.js';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { openDatabase, prepareSchema, type OpenDatabase } from './database.js';
import { addDemoPartner, firstStartBanner, prepareAdminToken, type DemoAccess } from './first-start.js';
import { createMetrics } from '../plugins/metrics.js';
import { createMemoryRateLimiter } from '../plugins/rate-limit.js';
import { createRedisRateLimiter } from '../plugins/rate-limit-redis.js';
import { createReadinessCheck } from './readiness.js';
import { createServices, unrefTimers } from './services.js';
import { startSweeper, type Sweeper } from './sweeper.js';

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
let rateLimit: RateLimit | undefined;
let closeReadiness: () => Promise<void> = async () => undefined;
let sweeper: Sweeper | undefined;
const READY_TIMEOUT_MS = 2000;
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
    .then(() => sweeper?.stop())
    .then(() => rateLimit?.limiter.close())
    .then(() => closeReadiness())
    .then(() => open.close())
    .then(() => logger.info({ commits: reservations?.commitStats() }, 'stopped'))
    .catch((err: unknown) => {
      logger.error({ err }, 'shutdown failed');
      process.exitCode = 1;
    });
}
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);

function createRateLimit(config: Config): RateLimit | undefined {
  if (config.rateLimitPerSecond === 0) {
    logger.warn('TICKETBOSS_RATE_LIMIT_PER_SECOND=0: requests are not rate limited');
    return undefined;
  }
  const policy = { perSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst };
  if (!config.redisUrl) return { policy, limiter: createMemoryRateLimiter(policy) };
  const limiter = createRedisRateLimiter(policy, {
    url: config.redisUrl,
    commandTimeoutMs: config.redisTimeoutMs,
    onError: (err) => logger.warn({ err }, 'Redis rate limit unavailable: counting in this process meanwhile'),
  });
  return { policy, limiter };
}

try {
  if (!config.databaseUrl) logger.info(`DATABASE_URL is not set: using an embedded PostgreSQL in ${config.dataDir}`);
  database = await openDatabase(config, logger);
  await prepareSchema(database.connectionString, config, logger);
  if (await ensureEvent(database.db, DEFAULT_EVENT)) logger.info(`created event ${DEFAULT_EVENT.eventId}`);

  const db = database.db;
  // A connection of its own for /ready: on the requests' pool, a pool busy with traffic would look like a dead
  // database. It gives up on connecting or on a statement in time for the probe's answer.
  const readinessDb = createDatabase({
    connectionString: database.connectionString,
    poolSize: 1,
    connectTimeoutMs: READY_TIMEOUT_MS,
    statementTimeoutMs: READY_TIMEOUT_MS,
    queryTimeoutMs: READY_TIMEOUT_MS + 500,
  });
  closeReadiness = () => readinessDb.destroy();
  const metrics = createMetrics({ pool: () => poolStats(db), events: (query) => services.events.listEvents(query) });
  const services = createServices(db, {
    maxWaitMs: config.maxWaitMs,
    timers: unrefTimers,
    observer: metrics.commits,
    idempotencyRetentionSeconds: config.idempotencyRetentionSeconds,
  });
  reservations = metrics.instrument(services.reservations);
  let demo: DemoAccess | undefined;
  if (!config.databaseUrl) demo = await prepareAdminToken(config.dataDir, config.adminToken);
  const adminToken = config.adminToken ?? demo?.adminToken;
  if (!adminToken) logger.warn('TICKETBOSS_ADMIN_TOKEN is not set: the admin routes answer 401 to everyone');
  if (config.auth === 'none') {
    logger.warn(
      'TICKETBOSS_AUTH=none: POST and DELETE /reservations are open to anyone, with the partnerId of the body; ' +
        'for trials and the seed clients only',
    );
  }
  rateLimit = createRateLimit(config);
  const server = buildApp({
    ...services,
    reservations,
    metrics,
    readiness: createReadinessCheck(readinessDb, (await readMigrations()).files, READY_TIMEOUT_MS),
    defaultEventId: DEFAULT_EVENT.eventId,
    seedAuth: config.auth,
    adminTokenHash: adminToken ? sha256(adminToken) : undefined,
    rateLimit,
    logger,
  });
  await server.listen({ port: config.port, host: config.host });
  sweeper = startSweeper({
    reservations,
    idempotency: services.idempotency,
    intervalMs: config.sweepIntervalMs,
    logger,
  });
  if (demo) demo = await addDemoPartner(demo, services.partners);
  if (demo && (demo.newAdminToken || demo.demoPartnerToken)) {
    const address = server.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const baseUrl = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
    process.stdout.write(firstStartBanner(demo, baseUrl, DEFAULT_EVENT.eventId));
  }
  app = server;
} catch (error) {
  // One line that says what stopped start-up, with the error's stack (and cause) for whoever has to find out why.
  logger.fatal({ err: error }, error instanceof Error ? error.message : String(error));
  await database?.close().catch(() => undefined);
  process.exit(1);
}
