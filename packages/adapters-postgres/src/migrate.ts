import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';

/** The repository's migrations/ folder: the schema's only source. */
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/', import.meta.url));

/** Any fixed number, shared by every TicketBoss process, so only one applies migrations at a time. */
const MIGRATION_LOCK_ID = 0x7469_636b; // "tick"

const MIGRATION_FILE = /^\d{4}_[a-z0-9_]+\.sql$/;

export interface MigrationFile {
  readonly name: string;
  readonly checksum: string;
  readonly sql: string;
}

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

/** Creates the ledger table; shared with migrations/apply-with-psql.sh so both keep the same records. */
const LEDGER_FILE = 'schema_migrations.sql';

export interface MigrationSet {
  /** The ledger's DDL (schema_migrations.sql). */
  readonly ledgerSql: string;
  /** The numbered files, in the order they apply. */
  readonly files: readonly MigrationFile[];
}

export async function readMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Promise<MigrationSet> {
  const entries = await readdir(dir);
  // A misnamed migration would be skipped silently by a strict filter (and applied by apply-with-psql.sh).
  const misnamed = entries.filter((name) => /^\d+_.*\.sql$/.test(name) && !MIGRATION_FILE.test(name));
  if (misnamed.length > 0) {
    throw new MigrationError(
      `migration file name ${misnamed.join(', ')} does not match NNNN_lower_case_words.sql; rename it before it is applied`,
    );
  }
  const names = entries.filter((name) => MIGRATION_FILE.test(name)).sort();
  const files = await Promise.all(
    names.map(async (name) => {
      const content = await readFile(join(dir, name));
      return {
        name,
        checksum: createHash('sha256').update(content).digest('hex'),
        sql: content.toString('utf8'),
      };
    }),
  );
  return { ledgerSql: await readFile(join(dir, LEDGER_FILE), 'utf8'), files };
}

async function ledgerExists(db: Kysely<Database>): Promise<boolean> {
  const { rows } = await sql<{ exists: boolean }>`
    SELECT to_regclass('schema_migrations') IS NOT NULL AS exists`.execute(db);
  return rows[0]?.exists ?? false;
}

/**
 * The files not yet applied, in order. Throws a MigrationError naming the file when an applied file's checksum
 * no longer matches what is on disk: released migrations are never edited.
 */
export async function findPendingMigrations(
  db: Kysely<Database>,
  files: readonly MigrationFile[],
): Promise<MigrationFile[]> {
  const applied = (await ledgerExists(db))
    ? await db.selectFrom('schema_migrations').select(['name', 'checksum']).execute()
    : [];
  const appliedChecksums = new Map(applied.map((row) => [row.name, row.checksum]));
  for (const file of files) {
    const checksum = appliedChecksums.get(file.name);
    if (checksum !== undefined && checksum !== file.checksum) {
      throw new MigrationError(
        `migration ${file.name} was changed after it was applied (checksum ${checksum.slice(0, 12)} in the database, ${file.checksum.slice(0, 12)} on disk); restore the file and add a new migration instead`,
      );
    }
  }
  return files.filter((file) => !appliedChecksums.has(file.name));
}

/**
 * Applies pending migrations in order, each in its own transaction together with its ledger row, while holding
 * a session advisory lock so that processes starting together apply each file once. Returns the names applied.
 */
export async function migrate(db: Kysely<Database>, { ledgerSql, files }: MigrationSet): Promise<string[]> {
  return db.connection().execute(async (conn) => {
    // Waiting for another process's migrations, or running ours, may take as long as it takes: no timeouts here.
    await sql`SET lock_timeout = 0`.execute(conn);
    await sql`SET statement_timeout = 0`.execute(conn);
    await sql`SELECT pg_advisory_lock(${MIGRATION_LOCK_ID})`.execute(conn);
    try {
      await sql.raw(ledgerSql).execute(conn);
      const pending = await findPendingMigrations(conn, files);
      for (const file of pending) {
        await conn.transaction().execute(async (trx) => {
          await sql.raw(file.sql).execute(trx);
          await trx.insertInto('schema_migrations').values({ name: file.name, checksum: file.checksum }).execute();
        });
      }
      return pending.map((file) => file.name);
    } finally {
      await sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK_ID})`.execute(conn);
      await sql`RESET lock_timeout`.execute(conn);
      await sql`RESET statement_timeout`.execute(conn);
    }
  });
}
