/**
 * The one composition root: database, schema, default event, use cases, HTTP, background work, and close(),
 * which undoes all of it. main.ts calls it for `pnpm start`; tests call it in-process.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  createDatabase,
  createPostgresLease,
  ensureEvent,
  poolStats,
  readMigrations,
  webhookQueueDepth,
} from '@ticketboss/adapters-postgres';
import { DEFAULT_EVENT, type ReservationService } from '@ticketboss/domain';
import pino, { type Logger } from 'pino';
import type { RateLimit } from '../plugins/access.js';
import { createMetrics, type Metrics } from '../plugins/metrics.js';
import { createMemoryRateLimiter } from '../plugins/rate-limit.js';
import { createRedisRateLimiter } from '../plugins/rate-limit-redis.js';
import { sha256 } from './api-keys.js';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { openDatabase, prepareSchema, type OpenDatabase } from './database.js';
import { addDemoPartner, firstStartBanner, prepareAdminToken, type DemoAccess } from './first-start.js';
import { createPartnerActivityRecorder } from './partner-activity.js';
import { holdPort } from './port.js';
import { createReadinessCheck, type ReadinessCheck } from './readiness.js';
import { createServices, unrefTimers, type Services } from './services.js';
import { startSweeper, sweepLeaseTtlMs } from './sweeper.js';
import { Teardown } from './teardown.js';
import { startWebhookWorker } from './webhook-worker.js';

export interface Started {
  /** Where the server listens, e.g. `http://127.0.0.1:3000`. */
  readonly url: string;
  /**
   * Stops the sweeper (releasing its lease), stops taking connections and finishes the requests in flight, then
   * flushes the partner activity they counted, stops the rate limiter, the webhook worker (finishing the jobs it
   * runs), the database clock and the database pools (and an embedded PostgreSQL): the reverse of start-up, each
   * step even if an earlier one failed.
   */
  close(): Promise<void>;
}

const READY_TIMEOUT_MS = 2000;

/**
 * Asynchronous writes: under load, lines queue behind the write in progress and leave in one syscall, instead of
 * one blocking write per line; pino flushes what is queued when the process exits.
 */
export function createLogger(config: Config): Logger {
  return pino({ level: config.logLevel }, pino.destination({ dest: 1, sync: false }));
}

/**
 * Starts the server. A failure part-way undoes what was started, then throws; PortInUseError (from port.ts) comes
 * before anything is created.
 */
export async function start(config: Config, logger: Logger): Promise<Started> {
  const teardown = new Teardown();
  try {
    const port = await holdPort(config.port, config.host);
    teardown.add('port placeholder', () => port.release());
    const storage = await openStorage(config, logger, teardown);
    const metrics = createMetrics({
      pool: () => poolStats(storage.database.db),
      events: (query) => services.events.listEvents(query),
      webhookQueueDepth: () => webhookQueueDepth(storage.database.db),
    });
    // The database's clock, from its first samples on, before anything is served.
    const services = await createServices(storage.database.db, {
      maxWaitMs: config.maxWaitMs,
      timers: unrefTimers,
      observer: metrics.commits,
      idempotencyRetentionSeconds: config.idempotencyRetentionSeconds,
      seatPools: config.seatPools,
    });
    teardown.add('database clock', () => services.close());
    const reservations = metrics.instrument(services.reservations);
    const demo = config.databaseUrl ? undefined : await prepareAdminToken(config.dataDir, config.adminToken);
    // Before listening: once the server says it listens, start-up is over (a signal then is a shutdown).
    if (config.webhookWorker === 'on') {
      const worker = await startWebhookWorker({
        config,
        connectionString: storage.database.connectionString,
        store: services.webhooks,
        reservations,
        clock: services.clock,
        observer: metrics.webhooks,
        logger,
      });
      teardown.add('webhook worker', () => worker.stop());
    } else {
      logger.info(
        'TICKETBOSS_WEBHOOK_WORKER=off: this process posts no webhooks (another process or pnpm worker does)',
      );
    }
    const url = await serve({ config, logger, teardown, services, reservations, metrics, demo, port, ...storage });
    const sweeper = startSweeper({
      reservations,
      idempotency: services.idempotency,
      lease: createPostgresLease(storage.database.db, {
        name: 'sweeper',
        holder: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
        ttlMs: sweepLeaseTtlMs(config.sweepIntervalMs),
      }),
      intervalMs: config.sweepIntervalMs,
      rollups: { console: services.console, clock: services.clock },
      logger,
    });
    teardown.add('sweeper', () => sweeper.stop());
    if (demo) announceFirstStart(await addDemoPartner(demo, services.partners), url);
    return { url, close: () => close(teardown, logger, reservations) };
  } catch (error) {
    await teardown.run().catch((err: unknown) => logger.error({ err }, 'undoing a failed start-up failed'));
    throw error;
  }
}

async function close(teardown: Teardown, logger: Logger, reservations: ReservationService): Promise<void> {
  await teardown.run();
  logger.info({ commits: reservations.commitStats() }, 'stopped');
}

interface Storage {
  readonly database: OpenDatabase;
  readonly readiness: ReadinessCheck;
}

/** The database (DATABASE_URL, or an embedded PostgreSQL), its schema, the default event, and /ready's check. */
async function openStorage(config: Config, logger: Logger, teardown: Teardown): Promise<Storage> {
  if (!config.databaseUrl) logger.info(`DATABASE_URL is not set: using an embedded PostgreSQL in ${config.dataDir}`);
  const database = await openDatabase(config, logger);
  teardown.add('database', () => database.close());
  await prepareSchema(database.connectionString, config, logger);
  if (await ensureEvent(database.db, DEFAULT_EVENT, config.seatPools))
    logger.info(`created event ${DEFAULT_EVENT.eventId}`);
  // A connection of its own for /ready: on the requests' pool, a pool busy with traffic would look like a dead
  // database. It gives up on connecting or on a statement in time for the probe's answer.
  const readinessDb = createDatabase({
    connectionString: database.connectionString,
    poolSize: 1,
    connectTimeoutMs: READY_TIMEOUT_MS,
    statementTimeoutMs: READY_TIMEOUT_MS,
    queryTimeoutMs: READY_TIMEOUT_MS + 500,
  });
  teardown.add('readiness pool', () => readinessDb.destroy());
  const readiness = createReadinessCheck(readinessDb, (await readMigrations()).files, READY_TIMEOUT_MS);
  return { database, readiness };
}

interface ServeDeps extends Storage {
  readonly config: Config;
  readonly logger: Logger;
  readonly teardown: Teardown;
  readonly services: Services;
  readonly reservations: ReservationService;
  readonly metrics: Metrics;
  readonly demo: DemoAccess | undefined;
  readonly port: { release(): Promise<void> };
}

/** The HTTP API on PORT, taken over from the placeholder that held it during start-up; returns its URL. */
async function serve(deps: ServeDeps): Promise<string> {
  const { config, logger, teardown } = deps;
  const adminToken = config.adminToken ?? deps.demo?.adminToken;
  if (!adminToken) logger.warn('TICKETBOSS_ADMIN_TOKEN is not set: the admin routes answer 401 to everyone');
  if (config.auth === 'none') {
    logger.warn(
      'TICKETBOSS_AUTH=none: POST and DELETE /reservations are open to anyone, with the partnerId of the body; ' +
        'for trials and the seed clients only',
    );
  }
  if (config.trustProxy === true) {
    logger.warn(
      'TICKETBOSS_TRUST_PROXY=true: any client can choose the address it is counted and logged under; ' +
        "name the load balancers' addresses instead",
    );
  }
  const rateLimit = createRateLimit(config, logger);
  if (rateLimit) teardown.add('rate limiter', () => rateLimit.limiter.close());
  // Closed once the server has finished its requests (steps run last added first): their counts go in its last flush.
  const partnerActivity = createPartnerActivityRecorder({
    store: deps.services.console,
    clock: deps.services.clock,
    logger,
  });
  teardown.add('partner activity', () => partnerActivity.close());
  const app = buildApp({
    ...deps.services,
    partnerActivity,
    reservations: deps.reservations,
    metrics: deps.metrics,
    readiness: deps.readiness,
    defaultEventId: DEFAULT_EVENT.eventId,
    seedAuth: config.auth,
    adminTokenHash: adminToken ? sha256(adminToken) : undefined,
    rateLimit,
    trustProxy: config.trustProxy,
    webhookUrls: { allowPrivate: config.webhookAllowPrivate },
    logger,
  });
  teardown.add('HTTP server', () => app.close());
  // Everything is registered before the placeholder lets go of the port, so the moment between the two is short.
  await app.ready();
  await deps.port.release();
  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  return `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
}

function createRateLimit(config: Config, logger: Logger): RateLimit | undefined {
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

/** Embedded mode's first start: the tokens made by this start, shown once, with requests that use them. */
function announceFirstStart(demo: DemoAccess, url: string): void {
  if (!demo.newAdminToken && !demo.demoPartnerToken) return;
  process.stdout.write(firstStartBanner(demo, url, DEFAULT_EVENT.eventId));
}
