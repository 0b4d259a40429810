import { randomUUID } from 'node:crypto';
import {
  createDatabase,
  createPostgresEventRepository,
  ensureEvent,
  findInvariantBreaches,
} from '@ticketboss/adapters-postgres';
import { createTestDatabase, type TestDatabase } from '@ticketboss/adapters-postgres/testing';
import { createReservationService, DEFAULT_EVENT } from '@ticketboss/domain';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { buildApp } from '../app.js';

export interface AppWithDatabase {
  readonly app: FastifyInstance;
  readonly database: TestDatabase;
  /** Rows of the invariant check that fail; [] when every event's seats agree with its reservations. */
  invariantBreaches(): ReturnType<typeof findInvariantBreaches>;
  close(): Promise<void>;
}

/**
 * The real app on a fresh, migrated and seeded database, wired as main.ts wires it. Pass `database` to run a
 * second instance (its own pool and queues, like another process) on the same database.
 */
export async function createAppWithDatabase(
  options: { maxWaitMs?: number; logger?: FastifyBaseLogger; database?: TestDatabase; lockTimeoutMs?: number } = {},
): Promise<AppWithDatabase> {
  const ownsDatabase = !options.database;
  const database = options.database ?? (await createTestDatabase({ lockTimeoutMs: options.lockTimeoutMs }));
  // A second instance on a given database gets a pool of its own, as another process would.
  const pool = ownsDatabase
    ? database.db
    : createDatabase({ connectionString: database.url, lockTimeoutMs: options.lockTimeoutMs });
  await ensureEvent(pool, DEFAULT_EVENT);
  const reservations = createReservationService({
    repository: createPostgresEventRepository(pool),
    clock: { now: () => new Date() },
    ids: { reservationId: randomUUID },
    maxWaitMs: options.maxWaitMs ?? 2000,
  });
  const app = buildApp({ reservations, defaultEventId: DEFAULT_EVENT.eventId, logger: options.logger });
  return {
    app,
    database,
    invariantBreaches: () => findInvariantBreaches(database.db),
    async close() {
      await app.close();
      if (ownsDatabase) await database.drop();
      else await pool.destroy();
    },
  };
}
