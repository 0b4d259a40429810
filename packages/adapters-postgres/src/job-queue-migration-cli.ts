/**
 * `pnpm job-queue-migration`: writes migrations/0005_job_queue.sql from the installed graphile-worker (after
 * upgrading it, and only before 0005 is released: released migrations are never edited; a later upgrade adds a
 * new file with the new migrations). `--check` only says whether the file is what the package would generate.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateJobQueueMigration, JOB_QUEUE_MIGRATION_FILE } from './job-queue-migration.js';
import { DEFAULT_MIGRATIONS_DIR } from './migrate.js';

const path = join(DEFAULT_MIGRATIONS_DIR, JOB_QUEUE_MIGRATION_FILE);
const generated = await generateJobQueueMigration();
if (process.argv.includes('--check')) {
  const current = await readFile(path, 'utf8').catch(() => '');
  if (current !== generated) {
    process.stderr.write(`${path} differs from what the installed graphile-worker generates\n`);
    process.exitCode = 1;
  }
} else {
  await writeFile(path, generated);
  process.stdout.write(`wrote ${path}\n`);
}
