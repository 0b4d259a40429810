/**
 * `pnpm migrate`: applies pending migrations to DATABASE_URL (or to the embedded database, as `pnpm start`
 * would use it) and exits. `pnpm migrate --status` only lists what is pending.
 */
import { findPendingMigrations, readMigrations } from '@ticketboss/adapters-postgres';
import pino from 'pino';
import { ConfigError, loadConfig } from '../server/config.js';
import { openDatabase, prepareSchema } from '../server/database.js';

const statusOnly = process.argv.includes('--status');
let config;
try {
  config = { ...loadConfig(process.env), migrate: 'on' as const };
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`ticketboss: ${error.message}\n`);
  process.exit(1);
}
const logger = pino({ level: config.logLevel });
const database = await openDatabase(config, logger);
try {
  if (statusOnly) {
    const pending = await findPendingMigrations(database.db, (await readMigrations()).files);
    process.stdout.write(pending.length ? `pending: ${pending.map((f) => f.name).join(', ')}\n` : 'up to date\n');
  } else {
    await prepareSchema(database.connectionString, config, logger);
  }
} catch (error) {
  logger.fatal(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
} finally {
  await database.close();
}
