import {
  createDatabase,
  findPendingMigrations,
  migrate,
  readMigrations,
  startEmbeddedPostgres,
  type DatabaseHandle,
} from '@ticketboss/adapters-postgres';
import type { Logger } from 'pino';
import type { Config } from './config.js';

export interface OpenDatabase {
  readonly db: DatabaseHandle;
  readonly connectionString: string;
  /** Closes the pool, then stops the embedded server if we started one. */
  close(): Promise<void>;
}

/**
 * DATABASE_URL when set; otherwise an embedded PostgreSQL with its data under TICKETBOSS_DATA_DIR. A server logs
 * each outage of the database (`logOutages`, the default); a one-shot command reports its own failure instead.
 */
export async function openDatabase(
  config: Config,
  logger: Logger,
  { logOutages = true }: { logOutages?: boolean } = {},
): Promise<OpenDatabase> {
  const embedded = config.databaseUrl
    ? undefined
    : await startEmbeddedPostgres({
        dataDir: config.dataDir,
        port: config.embeddedPostgresPort,
        log: (message) => logger.info(message),
      });
  const connectionString = config.databaseUrl ?? embedded?.connectionString;
  if (!connectionString) throw new Error('no database: neither DATABASE_URL nor an embedded server');
  let closing = false;
  const db = createDatabase({
    connectionString,
    poolSize: config.databasePoolSize,
    // A statement stuck behind someone else's lock, or running long, gives up in time for the request to answer
    // 503 CONTENDED; a connection that stops answering altogether is given up a little later.
    lockTimeoutMs: Math.max(50, config.maxWaitMs / 2),
    statementTimeoutMs: config.maxWaitMs,
    queryTimeoutMs: config.maxWaitMs + 5_000,
    // An outage is one warn line when it starts and one info line when the database answers again, however
    // many requests meet it (each answered 503 DATABASE_UNAVAILABLE). While closing, a connection may still be
    // ending when the embedded server stops and cuts it: not news.
    onAvailabilityChange: (change) => {
      if (closing || !logOutages) return;
      if (change.available) {
        logger.info({ unavailableForMs: change.unavailableForMs }, 'database answers again');
      } else {
        logger.warn({ err: change.error }, 'database unavailable: answering 503 until it answers again');
      }
    },
  });
  return {
    db,
    connectionString,
    async close() {
      closing = true;
      await db.destroy();
      await embedded?.stop();
    },
  };
}

/**
 * With migrations on, applies what is pending. With them off (a DBA applies them), refuses to go on while any
 * file is pending, naming them. Either way an applied file whose checksum changed stops start-up.
 */
export async function prepareSchema(connectionString: string, config: Config, logger: Logger): Promise<void> {
  // A connection of its own, without the request timeouts: a migration, or waiting for another process's, may
  // take as long as it takes.
  const db = createDatabase({ connectionString, poolSize: 1 });
  try {
    await applyOrCheck(db, config, logger);
  } finally {
    await db.destroy();
  }
}

async function applyOrCheck(db: DatabaseHandle, config: Config, logger: Logger): Promise<void> {
  const migrations = await readMigrations();
  if (config.migrate === 'on') {
    const applied = await migrate(db, migrations);
    logger.info({ applied }, applied.length ? `applied ${applied.length} migration(s)` : 'schema is up to date');
    return;
  }
  const pending = await findPendingMigrations(db, migrations.files);
  if (pending.length > 0) {
    throw new Error(
      `TICKETBOSS_MIGRATE=off and ${pending.length} migration(s) are pending: ${pending.map((f) => f.name).join(', ')}; apply them (see docs/operations.md, "Migrations") and start again`,
    );
  }
}
