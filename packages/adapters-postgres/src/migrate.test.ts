import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDatabase } from './database.js';
import { DEFAULT_MIGRATIONS_DIR, findPendingMigrations, migrate, MigrationError, readMigrations } from './migrate.js';
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

  it('lists pending files without applying them', async () => {
    const migrations = await readMigrations();
    expect((await findPendingMigrations(database.db, migrations.files)).map((f) => f.name)).toContain('0001_init.sql');
    expect(await tableExists('schema_migrations')).toBe(false);
  });
});

const hasPsql = await promisify(execFile)('psql', ['--version']).then(
  () => true,
  () => false,
);

describe.skipIf(!hasPsql)('migrations/apply-with-psql.sh (the DBA path)', () => {
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

  it('after the runner applied them, the script agrees on every checksum', async () => {
    await migrate(database.db, await readMigrations());
    // A checksum mismatch would make the script exit non-zero, rejecting this promise.
    expect((await promisify(execFile)(script, [database.url])).stdout).toBe('');
  });
});
