import {
  createDatabase,
  ensureEvent,
  findInvariantBreaches,
  poolStats,
  readMigrations,
} from '@ticketboss/adapters-postgres';
import { createTestDatabase, type TestDatabase } from '@ticketboss/adapters-postgres/testing';
import { DEFAULT_EVENT, type Clock } from '@ticketboss/domain';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import pino from 'pino';
import type { RateLimit } from '../plugins/access.js';
import { sha256 } from '../server/api-keys.js';
import { buildApp, type AppDeps } from '../server/app.js';
import { createMetrics } from '../plugins/metrics.js';
import { createPartnerActivityRecorder } from '../server/partner-activity.js';
import { createReadinessCheck } from '../server/readiness.js';
import type { SeedAuth } from '../routes/classic/reservations.js';
import { createServices, type Services } from '../server/services.js';

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface AppWithDatabase {
  readonly app: FastifyInstance;
  readonly database: TestDatabase;
  readonly services: Services;
  /** Rows of the invariant check that fail; [] when every event's seats agree with its reservations. */
  invariantBreaches(): ReturnType<typeof findInvariantBreaches>;
  /** Creates a partner (through the use case, as the admin route would) and returns its first token. */
  createPartner(partnerId: string): Promise<string>;
  close(): Promise<void>;
}

export interface AppWithDatabaseOptions {
  readonly maxWaitMs?: number;
  readonly logger?: FastifyBaseLogger;
  /** Run a second instance (its own pool and queues, like another process) on this database. */
  readonly database?: TestDatabase;
  readonly lockTimeoutMs?: number;
  /** Default `none`: the classic routes' open behaviour, which most of their tests are about. */
  readonly seedAuth?: SeedAuth;
  /** Default TEST_ADMIN_TOKEN; null for none. */
  readonly adminToken?: string | null;
  readonly rateLimit?: RateLimit;
  /** TICKETBOSS_TRUST_PROXY; default none. */
  readonly trustProxy?: boolean | readonly string[];
  /** Whose time decides expiries (tests move it to expire holds and keys); the database's by default. */
  readonly clock?: Clock;
  readonly idempotencyRetentionSeconds?: number;
  /** TICKETBOSS_WEBHOOK_ALLOW_PRIVATE (default false), and how webhook hostnames resolve (the system's resolver). */
  readonly webhookUrls?: AppDeps['webhookUrls'];
  /** Whether partners' requests are counted for the console, flushed every second as start.ts does (default true). */
  readonly partnerActivity?: boolean;
}

/** The real app on a fresh, migrated and seeded database, wired as start.ts wires it. */
export async function createAppWithDatabase(options: AppWithDatabaseOptions = {}): Promise<AppWithDatabase> {
  const ownsDatabase = !options.database;
  const database = options.database ?? (await createTestDatabase({ lockTimeoutMs: options.lockTimeoutMs }));
  // A second instance on a given database gets a pool of its own, as another process would.
  const pool = ownsDatabase
    ? database.db
    : createDatabase({ connectionString: database.url, lockTimeoutMs: options.lockTimeoutMs });
  await ensureEvent(pool, DEFAULT_EVENT);
  const metrics = createMetrics({ pool: () => poolStats(pool), events: (query) => services.events.listEvents(query) });
  const services = await createServices(pool, {
    maxWaitMs: options.maxWaitMs ?? 2000,
    observer: metrics.commits,
    clock: options.clock,
    idempotencyRetentionSeconds: options.idempotencyRetentionSeconds,
  });
  const adminToken = options.adminToken === undefined ? TEST_ADMIN_TOKEN : options.adminToken;
  const partnerActivity =
    options.partnerActivity === false
      ? undefined
      : createPartnerActivityRecorder({
          store: services.console,
          clock: services.clock,
          logger: options.logger ?? pino({ level: 'silent' }),
        });
  const app = buildApp({
    ...services,
    partnerActivity,
    reservations: metrics.instrument(services.reservations),
    metrics,
    readiness: createReadinessCheck(pool, (await readMigrations()).files),
    defaultEventId: DEFAULT_EVENT.eventId,
    seedAuth: options.seedAuth ?? 'none',
    adminTokenHash: adminToken === null ? undefined : sha256(adminToken),
    rateLimit: options.rateLimit,
    trustProxy: options.trustProxy,
    webhookUrls: options.webhookUrls,
    logger: options.logger,
  });
  return {
    app,
    database,
    services,
    invariantBreaches: () => findInvariantBreaches(database.db),
    async createPartner(partnerId) {
      const outcome = await services.partners.createPartner({ partnerId, name: `Partner ${partnerId}` });
      if (outcome.kind !== 'created') throw new Error(`partner ${partnerId}: ${outcome.kind}`);
      return outcome.token;
    },
    async close() {
      await app.close();
      await partnerActivity?.close();
      await services.close();
      if (ownsDatabase) await database.drop();
      else await pool.destroy();
    },
  };
}
