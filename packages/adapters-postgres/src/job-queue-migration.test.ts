import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Logger, runMigrations } from 'graphile-worker';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { generateJobQueueMigration, JOB_QUEUE_MIGRATION_FILE } from './job-queue-migration.js';
import { DEFAULT_MIGRATIONS_DIR, findPendingMigrations, readMigrations } from './migrate.js';
import { createTestDatabase, type TestDatabase } from './testing/index.js';

let database: TestDatabase | undefined;
afterEach(async () => {
  await database?.drop();
  database = undefined;
});

/** graphile-worker's own ledger of its migrations. */
async function jobQueueLedger(db: TestDatabase['db']) {
  const { rows } = await sql<{ id: number; breaking: boolean; ts: Date }>`
    SELECT id, breaking, ts FROM graphile_worker.migrations ORDER BY id`.execute(db);
  return rows;
}

/** Runs graphile-worker's migrate() as its runner does at start; returns what it logged. */
async function graphileWorkerMigrates(url: string): Promise<string[]> {
  const messages: string[] = [];
  const logger = new Logger(() => (_level, message) => {
    messages.push(message);
  });
  await runMigrations({ connectionString: url, logger });
  return messages;
}

/** Checks that graphile-worker finds its schema complete: it migrates nothing and its ledger is unchanged. */
async function expectNothingForGraphileWorker(db: TestDatabase) {
  const before = await jobQueueLedger(db.db);
  expect(before.map((row) => row.id)).toEqual(Array.from({ length: before.length }, (_, i) => i + 1));
  const messages = await graphileWorkerMigrates(db.url);
  expect(messages.filter((m) => /migration/i.test(m))).toEqual([]);
  expect(await jobQueueLedger(db.db)).toEqual(before);
}

describe(`migrations/${JOB_QUEUE_MIGRATION_FILE}`, () => {
  it('is what the installed graphile-worker generates (run `pnpm job-queue-migration` after upgrading it)', async () => {
    const checkedIn = await readFile(join(DEFAULT_MIGRATIONS_DIR, JOB_QUEUE_MIGRATION_FILE), 'utf8');
    expect(checkedIn === (await generateJobQueueMigration())).toBe(true);
  });

  it("records graphile-worker's migrations as its migrate() does, breaking ones marked", async () => {
    const text = await generateJobQueueMigration();
    expect(text).toContain('insert into "graphile_worker".migrations (id, breaking) values (1, true);');
    expect(text).toContain('insert into "graphile_worker".migrations (id, breaking) values (2, false);');
    expect(text).not.toMatch(/:GRAPHILE_WORKER_SCHEMA/);
  });

  it('applied by the runner, graphile-worker then finds nothing to migrate', async () => {
    database = await createTestDatabase();
    await expectNothingForGraphileWorker(database);
  });
});

const hasPsql = await promisify(execFile)('psql', ['--version']).then(
  () => true,
  () => false,
);
const skipped = { needs: 'psql', reason: 'no psql on PATH; install the PostgreSQL client' };

describe.skipIf(!hasPsql)(`${JOB_QUEUE_MIGRATION_FILE} by apply-with-psql.sh`, { meta: { skipped } }, () => {
  it('applied by psql, nothing is pending for the runner and graphile-worker finds nothing to migrate', async () => {
    database = await createTestDatabase({ migrated: false });
    const run = await promisify(execFile)(join(DEFAULT_MIGRATIONS_DIR, 'apply-with-psql.sh'), [database.url]);
    expect(run.stdout).toContain(`applying ${JOB_QUEUE_MIGRATION_FILE}`);
    expect(await findPendingMigrations(database.db, (await readMigrations()).files)).toEqual([]);
    await expectNothingForGraphileWorker(database);
  });
});
