/** Which database a command works on, and the one-line failures when it cannot. */
import { connectToRunningEmbeddedPostgres, findPendingMigrations, readMigrations } from '@ticketboss/adapters-postgres';
import { StoreUnavailable } from '@ticketboss/domain';
import type { Logger } from 'pino';
import type { Config } from '../server/config.js';
import { openDatabase, prepareSchema, type OpenDatabase } from '../server/database.js';
import { Failure } from './output.js';

export function reasonOf(error: unknown): string {
  // Connecting to "localhost" tries each address; the refusal comes as an AggregateError with an empty message.
  if (error instanceof AggregateError && error.errors.length > 0) return reasonOf(error.errors[0]);
  // The driver's own words, not the wrapper's: "connect ECONNREFUSED 127.0.0.1:5432".
  if (error instanceof StoreUnavailable && error.cause) return reasonOf(error.cause);
  return error instanceof Error ? error.message || error.name : String(error);
}

/**
 * The database the server uses, never a copy of it: DATABASE_URL; else the embedded PostgreSQL that `pnpm start`
 * runs on the data folder; else one started for this command only. Only in that last case does the command
 * migrate (as `pnpm start` would, so a fresh data folder works); a database someone else serves is left to them.
 */
export async function connect(config: Config, logger: Logger): Promise<OpenDatabase> {
  const running = config.databaseUrl ? undefined : await connectToRunningEmbeddedPostgres(config.dataDir);
  const ours = !config.databaseUrl && !running;
  const database = await openDatabase({ ...config, databaseUrl: config.databaseUrl ?? running }, logger, {
    logOutages: false,
  });
  try {
    await database.db
      .connection()
      .execute(async () => undefined)
      .catch((error: unknown) => {
        throw new Failure('DATABASE_UNAVAILABLE', `cannot connect to the database: ${reasonOf(error)}`);
      });
    if (ours) {
      await prepareSchema(database.connectionString, config, logger);
    } else {
      const pending = await findPendingMigrations(database.db, (await readMigrations()).files);
      if (pending.length > 0) {
        throw new Failure(
          'MIGRATIONS_PENDING',
          `the database lacks ${pending.length} migration(s): ${pending.map((f) => f.name).join(', ')}; ` +
            'apply them first (pnpm migrate, or restart the server)',
        );
      }
    }
    return database;
  } catch (error) {
    await database.close().catch(() => undefined);
    throw error;
  }
}
