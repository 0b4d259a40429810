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
  override readonly name: string = 'MigrationError';
}

/** The ledger records migrations this build does not have: a newer build migrated the database. */
export class UnknownMigrationsError extends MigrationError {
  override readonly name = 'UnknownMigrationsError';
  constructor(readonly unknown: readonly string[]) {
    super(
      `the database has ${unknown.length} migration(s) this build does not know: ${unknown.join(', ')} (applied by a newer build?); run a build that has them`,
    );
  }
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
 * no longer matches what is on disk (released migrations are never edited), and naming the files when the
 * ledger records migrations this build does not have: a newer build migrated the database, and a build must not
 * run on a schema it does not know (it could write where the newer one no longer looks, and oversell).
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
  const known = new Set(files.map((file) => file.name));
  const unknown = applied.map((row) => row.name).filter((name) => !known.has(name));
  if (unknown.length > 0) throw new UnknownMigrationsError(unknown.sort());
  return files.filter((file) => !appliedChecksums.has(file.name));
}

/**
 * The first line that makes a file run outside a transaction, statement by statement (for `CREATE INDEX
 * CONCURRENTLY`, which a transaction refuses). Its ledger row is written after its last statement, so a file
 * that fails halfway is run again from the top: such files must be re-runnable (see docs/operations.md,
 * "Migrations"). migrations/apply-with-psql.sh honours the same line.
 */
export const NO_TRANSACTION_MARKER = '-- ticketboss:no-transaction';

const runsOutsideTransaction = (file: MigrationFile): boolean =>
  file.sql.split('\n', 1)[0]!.trimEnd() === NO_TRANSACTION_MARKER;

/**
 * A file's statements, split at the semicolons that end them, as psql splits a file: not at those inside quotes
 * ('...', E'...' with backslash escapes, "...", $tag$...$tag$) or comments (-- to the end of the line, and
 * block comments, which nest). Statements that are only comments are left out.
 */
export function splitStatements(text: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let content = false; // whether the statement so far has anything but comments and white space
  let i = 0;
  const skipTo = (end: number) => {
    i = end < 0 ? text.length : end;
  };
  while (i < text.length) {
    const char = text[i]!;
    const rest = text.slice(i, i + 2);
    if (rest === '--') {
      skipTo(text.indexOf('\n', i));
      continue;
    }
    if (rest === '/*') {
      skipTo(endOfBlockComment(text, i));
      continue;
    }
    if (char === ';') {
      if (content) statements.push(text.slice(start, i).trim());
      start = i + 1;
      content = false;
      i += 1;
      continue;
    }
    if (!/\s/.test(char)) content = true;
    if (char === "'") {
      const escapes = /[eE]/.test(text[i - 1] ?? '') && !/[\w$]/.test(text[i - 2] ?? '');
      skipTo(endOfQuoted(text, i, "'", escapes));
    } else if (char === '"') {
      skipTo(endOfQuoted(text, i, '"', false));
    } else if (char === '$' && !/[\w$]/.test(text[i - 1] ?? '')) {
      const tag = /^\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$/.exec(text.slice(i))?.[0];
      if (tag) {
        const close = text.indexOf(tag, i + tag.length);
        skipTo(close < 0 ? -1 : close + tag.length);
      } else {
        i += 1;
      }
    } else {
      i += 1;
    }
  }
  if (content) statements.push(text.slice(start).trim());
  return statements;
}

/** The index just past the quote that closes the one at `open` (a doubled quote is part of the text). */
function endOfQuoted(text: string, open: number, quote: string, backslashEscapes: boolean): number {
  for (let i = open + 1; i < text.length; i += 1) {
    if (backslashEscapes && text[i] === '\\') i += 1;
    else if (text[i] === quote) {
      if (text[i + 1] !== quote) return i + 1;
      i += 1;
    }
  }
  return -1;
}

/** The index just past the end of the block comment at `open`; block comments nest in PostgreSQL. */
function endOfBlockComment(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length - 1; i += 1) {
    const pair = text.slice(i, i + 2);
    if (pair === '/*') {
      depth += 1;
      i += 1;
    } else if (pair === '*/') {
      depth -= 1;
      i += 1;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/**
 * Takes the runners' advisory lock, waiting for it without holding a snapshot meanwhile: a runner blocked in
 * `pg_advisory_lock` would hold one, and CREATE INDEX CONCURRENTLY, run by the runner holding the lock, waits for
 * every older snapshot to go (a deadlock, which PostgreSQL breaks by failing one of them). So it tries, and
 * between tries waits in this process, up to a second at a time.
 */
async function lockMigrations(conn: Kysely<Database>): Promise<void> {
  for (let waitMs = 25; ; waitMs = Math.min(waitMs * 2, 1000)) {
    const { rows } = await sql<{ locked: boolean }>`
      SELECT pg_try_advisory_lock(${MIGRATION_LOCK_ID}) AS locked`.execute(conn);
    if (rows[0]?.locked) return;
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}

/**
 * Applies pending migrations in order, each in its own transaction together with its ledger row (or, for a file
 * that starts with NO_TRANSACTION_MARKER, statement by statement and then its ledger row), while holding a
 * session advisory lock so that processes starting together apply each file once. Returns the names applied.
 */
export async function migrate(db: Kysely<Database>, { ledgerSql, files }: MigrationSet): Promise<string[]> {
  return db.connection().execute(async (conn) => {
    // Waiting for another process's migrations, or running ours, may take as long as it takes: no timeouts here.
    await sql`SET lock_timeout = 0`.execute(conn);
    await sql`SET statement_timeout = 0`.execute(conn);
    await lockMigrations(conn);
    try {
      await sql.raw(ledgerSql).execute(conn);
      const pending = await findPendingMigrations(conn, files);
      for (const file of pending) {
        if (runsOutsideTransaction(file)) {
          // One statement per query: several in one query would run as one implicit transaction.
          for (const statement of splitStatements(file.sql)) await sql.raw(statement).execute(conn);
          await conn.insertInto('schema_migrations').values({ name: file.name, checksum: file.checksum }).execute();
          continue;
        }
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
