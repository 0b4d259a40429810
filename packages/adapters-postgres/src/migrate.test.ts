import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDatabase } from './database.js';
import {
  DEFAULT_MIGRATIONS_DIR,
  findPendingMigrations,
  migrate,
  MigrationError,
  readMigrations,
  splitStatements,
} from './migrate.js';
import { createTestDatabase, type TestDatabase } from './testing/index.js';

let database: TestDatabase;
let dir: string;

beforeEach(async () => {
  database = await createTestDatabase({ migrated: false });
  dir = await mkdtemp(join(tmpdir(), 'ticketboss-migrations-'));
  await copyFile(join(DEFAULT_MIGRATIONS_DIR, 'schema_migrations.sql'), join(dir, 'schema_migrations.sql'));
});
afterEach(async () => {
  await database.drop();
  await rm(dir, { recursive: true, force: true });
});

async function ledger() {
  return database.db.selectFrom('schema_migrations').select(['name', 'checksum']).orderBy('name').execute();
}

/**
 * A no-transaction migration as docs/operations.md advises writing one: re-runnable (an index a failed run left
 * invalid is dropped first), with a semicolon in a comment and in a string that must not split a statement.
 */
const CONCURRENT_INDEX = `-- ticketboss:no-transaction
-- Two indexes; a semicolon in a comment; does not end a statement.
DROP INDEX CONCURRENTLY IF EXISTS big_a_idx;
CREATE INDEX CONCURRENTLY big_a_idx ON big (a);
DROP INDEX CONCURRENTLY IF EXISTS big_a_twice_idx;
CREATE INDEX CONCURRENTLY big_a_twice_idx ON big ((a * 2)) WHERE a <> length('x;y');
`;

/** Waits, up to about 30 s, until another session of this database has asked for the runners' lock. */
const WAIT_FOR_OTHER_RUNNER = `DO $$
BEGIN
  FOR attempt IN 1..3000 LOOP
    PERFORM pg_stat_clear_snapshot();
    EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                      AND pid <> pg_backend_pid() AND query LIKE '%advisory_lock%');
    PERFORM pg_sleep(0.01);
  END LOOP;
END $$;`;

/** The table's indexes that are valid (a failed CREATE INDEX CONCURRENTLY leaves an invalid one). */
async function validIndexes(table: string): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid = to_regclass(${table}) AND i.indisvalid ORDER BY 1`.execute(database.db);
  return rows.map((row) => row.name);
}

async function tableExists(name: string): Promise<boolean> {
  const { rows } = await sql<{ found: boolean }>`SELECT to_regclass(${name}) IS NOT NULL AS found`.execute(database.db);
  return rows[0]!.found;
}

describe('migrate', () => {
  it('applies the repository migrations once, recording name and checksum', async () => {
    const migrations = await readMigrations();
    expect(await migrate(database.db, migrations)).toEqual(migrations.files.map((f) => f.name));
    expect(await migrate(database.db, migrations)).toEqual([]);
    expect(await ledger()).toEqual(migrations.files.map((f) => ({ name: f.name, checksum: f.checksum })));
    expect(await tableExists('events')).toBe(true);
  });

  it('applies files in numeric order and ignores files that are not numbered migrations', async () => {
    await writeFile(join(dir, '0002_second.sql'), 'ALTER TABLE first ADD COLUMN b int;');
    await writeFile(join(dir, '0001_first.sql'), 'CREATE TABLE first (a int);');
    await writeFile(join(dir, 'notes.md'), 'not SQL');
    expect(await migrate(database.db, await readMigrations(dir))).toEqual(['0001_first.sql', '0002_second.sql']);
  });

  it('refuses a misnamed migration rather than skipping it', async () => {
    await writeFile(join(dir, '0001_first.sql'), 'CREATE TABLE first (a int);');
    await writeFile(join(dir, '0002_Add-Partners.sql'), 'CREATE TABLE partners (a int);');
    await expect(readMigrations(dir)).rejects.toThrow(/0002_Add-Partners\.sql does not match/);
  });

  it('when two runners start at once, each file is applied exactly once', async () => {
    // Slow, non-idempotent files: a second application would fail on the CREATE TABLE.
    await writeFile(join(dir, '0001_slow.sql'), 'SELECT pg_sleep(0.3); CREATE TABLE once_a (id int);');
    await writeFile(join(dir, '0002_slow.sql'), 'SELECT pg_sleep(0.3); CREATE TABLE once_b (id int);');
    const migrations = await readMigrations(dir);
    const other = createDatabase({ connectionString: database.url });
    try {
      const [first, second] = await Promise.all([migrate(database.db, migrations), migrate(other, migrations)]);
      expect([...first, ...second].sort()).toEqual(['0001_slow.sql', '0002_slow.sql']);
      expect(await ledger()).toHaveLength(2);
    } finally {
      await other.destroy();
    }
  });

  it('refuses a file whose checksum changed after it was applied, naming the file', async () => {
    await writeFile(join(dir, '0001_first.sql'), 'CREATE TABLE first (a int);');
    await migrate(database.db, await readMigrations(dir));
    await writeFile(join(dir, '0001_first.sql'), 'CREATE TABLE first (a bigint);');
    await writeFile(join(dir, '0002_second.sql'), 'CREATE TABLE second (a int);');
    const tampered = await readMigrations(dir);
    await expect(migrate(database.db, tampered)).rejects.toThrow(MigrationError);
    await expect(migrate(database.db, tampered)).rejects.toThrow(/migration 0001_first\.sql was changed/);
    await expect(findPendingMigrations(database.db, tampered.files)).rejects.toThrow(/0001_first\.sql/);
    expect(await tableExists('second')).toBe(false);
  });

  it('a failing file leaves nothing of itself behind and is not recorded', async () => {
    await writeFile(join(dir, '0001_good.sql'), 'CREATE TABLE good (a int);');
    await writeFile(join(dir, '0002_bad.sql'), 'CREATE TABLE half (a int); SELECT no_such_function();');
    await expect(migrate(database.db, await readMigrations(dir))).rejects.toThrow(/no_such_function/);
    expect((await ledger()).map((r) => r.name)).toEqual(['0001_good.sql']);
    expect(await tableExists('good')).toBe(true);
    expect(await tableExists('half')).toBe(false);
  });

  it('refuses a database whose ledger has migrations this build does not know, naming them', async () => {
    await writeFile(join(dir, '0001_first.sql'), 'CREATE TABLE first (a int);');
    await writeFile(join(dir, '0002_second.sql'), 'CREATE TABLE second (a int);');
    await writeFile(join(dir, '0003_third.sql'), 'CREATE TABLE third (a int);');
    await migrate(database.db, await readMigrations(dir));
    // An older build: it has only the first file, and a newer one has applied the other two.
    await rm(join(dir, '0002_second.sql'));
    await rm(join(dir, '0003_third.sql'));
    const older = await readMigrations(dir);
    await expect(findPendingMigrations(database.db, older.files)).rejects.toThrow(MigrationError);
    await expect(findPendingMigrations(database.db, older.files)).rejects.toThrow(
      /2 migration\(s\) this build does not know: 0002_second\.sql, 0003_third\.sql/,
    );
    await expect(migrate(database.db, older)).rejects.toThrow(/does not know: 0002_second\.sql, 0003_third\.sql/);
  });

  it('runs a file marked no-transaction statement by statement: CREATE INDEX CONCURRENTLY applies', async () => {
    await writeFile(
      join(dir, '0001_table.sql'),
      'CREATE TABLE big (a int); INSERT INTO big SELECT generate_series(1, 1000);',
    );
    await writeFile(join(dir, '0002_index.sql'), CONCURRENT_INDEX);
    const migrations = await readMigrations(dir);
    expect(await migrate(database.db, migrations)).toEqual(['0001_table.sql', '0002_index.sql']);
    expect(await ledger()).toEqual(migrations.files.map((f) => ({ name: f.name, checksum: f.checksum })));
    expect(await validIndexes('big')).toEqual(['big_a_idx', 'big_a_twice_idx']);
    expect(await migrate(database.db, migrations)).toEqual([]);
  });

  it('runs the same file without the marker in one transaction, where CREATE INDEX CONCURRENTLY fails', async () => {
    await writeFile(join(dir, '0001_table.sql'), 'CREATE TABLE big (a int);');
    await writeFile(join(dir, '0002_index.sql'), CONCURRENT_INDEX.replace(/^.*\n/, '-- no marker\n'));
    await expect(migrate(database.db, await readMigrations(dir))).rejects.toThrow(
      /cannot run inside a transaction block/,
    );
    expect((await ledger()).map((r) => r.name)).toEqual(['0001_table.sql']);
    expect(await validIndexes('big')).toEqual([]);
  });

  it('a no-transaction file that fails halfway keeps what ran, is not recorded, and runs again from the top', async () => {
    await writeFile(join(dir, '0001_table.sql'), 'CREATE TABLE big (a int);');
    const failing = `${CONCURRENT_INDEX}\nSELECT no_such_function();\n`;
    await writeFile(join(dir, '0002_index.sql'), failing);
    await expect(migrate(database.db, await readMigrations(dir))).rejects.toThrow(/no_such_function/);
    expect((await ledger()).map((r) => r.name)).toEqual(['0001_table.sql']);
    expect(await validIndexes('big')).toEqual(['big_a_idx', 'big_a_twice_idx']);
    // Written to be re-runnable, it applies once fixed (a new file here, since it was never recorded).
    await writeFile(join(dir, '0002_index.sql'), `${CONCURRENT_INDEX}\nSELECT 1;\n`);
    expect(await migrate(database.db, await readMigrations(dir))).toEqual(['0002_index.sql']);
  });

  it('when two runners start at once and one applies a no-transaction file, each file is applied once', async () => {
    // Whichever runner takes the lock first waits here until the other has asked for it, so that the other is
    // waiting for it while the indexes are built concurrently.
    await writeFile(join(dir, '0001_meet.sql'), `${WAIT_FOR_OTHER_RUNNER}\nCREATE TABLE big (a int);`);
    await writeFile(join(dir, '0002_index.sql'), CONCURRENT_INDEX);
    const migrations = await readMigrations(dir);
    const other = createDatabase({ connectionString: database.url });
    try {
      const [first, second] = await Promise.all([migrate(database.db, migrations), migrate(other, migrations)]);
      expect([...first, ...second].sort()).toEqual(['0001_meet.sql', '0002_index.sql']);
      expect(await validIndexes('big')).toEqual(['big_a_idx', 'big_a_twice_idx']);
    } finally {
      await other.destroy();
    }
  });

  it('lists pending files without applying them', async () => {
    const migrations = await readMigrations();
    expect((await findPendingMigrations(database.db, migrations.files)).map((f) => f.name)).toContain('0001_init.sql');
    expect(await tableExists('schema_migrations')).toBe(false);
  });
});

describe('splitStatements', () => {
  it('splits at the semicolons that end statements, not at those in quotes or comments', () => {
    const text = [
      "-- a comment; with a semicolon\nSELECT 'it''s; quoted', E'back\\'slash;';",
      ' /* block /* nested; */ still; */ SELECT "odd;name" FROM t;',
      'CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;',
      'SELECT $$a;b$$, x$y FROM t;',
      '-- only a comment after the last statement;',
    ].join('\n');
    expect(splitStatements(text)).toEqual([
      "-- a comment; with a semicolon\nSELECT 'it''s; quoted', E'back\\'slash;'",
      '/* block /* nested; */ still; */ SELECT "odd;name" FROM t',
      'CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$',
      'SELECT $$a;b$$, x$y FROM t',
    ]);
  });
});

const hasPsql = await promisify(execFile)('psql', ['--version']).then(
  () => true,
  () => false,
);

const skipped = { needs: 'psql', reason: 'no psql on PATH; install the PostgreSQL client' };

describe.skipIf(!hasPsql)('migrations/apply-with-psql.sh (the DBA path)', { meta: { skipped } }, () => {
  const script = join(DEFAULT_MIGRATIONS_DIR, 'apply-with-psql.sh');

  it('applies the same files and records them so that nothing is pending for the runner', async () => {
    const run = await promisify(execFile)(script, [database.url]);
    expect(run.stdout).toContain('applying 0001_init.sql');
    const migrations = await readMigrations();
    expect(await findPendingMigrations(database.db, migrations.files)).toEqual([]);
    expect(await migrate(database.db, migrations)).toEqual([]);
    expect(await tableExists('reservations')).toBe(true);
    // A second run is a no-op.
    expect((await promisify(execFile)(script, [database.url])).stdout).toBe('');
  });

  it('runs a file marked no-transaction statement by statement, as the runner does', async () => {
    // A copy of the script in the temporary folder applies that folder's files.
    await copyFile(script, join(dir, 'apply-with-psql.sh'));
    await writeFile(join(dir, '0001_table.sql'), 'CREATE TABLE big (a int);');
    await writeFile(join(dir, '0002_index.sql'), CONCURRENT_INDEX);
    const run = await promisify(execFile)(join(dir, 'apply-with-psql.sh'), [database.url]);
    expect(run.stdout).toBe('applying 0001_table.sql\napplying 0002_index.sql\n');
    expect(await validIndexes('big')).toEqual(['big_a_idx', 'big_a_twice_idx']);
    const migrations = await readMigrations(dir);
    expect(await ledger()).toEqual(migrations.files.map((f) => ({ name: f.name, checksum: f.checksum })));
    expect(await migrate(database.db, migrations)).toEqual([]);
  });

  it('runs the same file without the marker in one transaction, where it fails and is not recorded', async () => {
    await copyFile(script, join(dir, 'apply-with-psql.sh'));
    await writeFile(join(dir, '0001_table.sql'), 'CREATE TABLE big (a int);');
    await writeFile(join(dir, '0002_index.sql'), CONCURRENT_INDEX.replace(/^.*\n/, '-- no marker\n'));
    await expect(promisify(execFile)(join(dir, 'apply-with-psql.sh'), [database.url])).rejects.toThrow(
      /cannot run inside a transaction block/,
    );
    expect((await ledger()).map((r) => r.name)).toEqual(['0001_table.sql']);
    expect(await validIndexes('big')).toEqual([]);
  });

  it('after the runner applied them, the script agrees on every checksum', async () => {
    await migrate(database.db, await readMigrations());
    // A checksum mismatch would make the script exit non-zero, rejecting this promise.
    expect((await promisify(execFile)(script, [database.url])).stdout).toBe('');
  });
});
