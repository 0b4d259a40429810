import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import pg from 'pg';

/**
 * migrations/0005_job_queue.sql is graphile-worker's own schema, made one of our migrations so that a DBA applies
 * it like the others and graphile-worker, when it starts, finds every one of its migrations applied. This module
 * writes that file from the installed package exactly as graphile-worker's migrate() would apply it: its bootstrap
 * (the schema and the `migrations` table with its `breaking` column), then each `sql/NNNNNN.sql` with
 * `:GRAPHILE_WORKER_SCHEMA` replaced by the escaped schema name, preceded by the row graphile-worker records for it.
 */

export const JOB_QUEUE_SCHEMA = 'graphile_worker';
export const JOB_QUEUE_MIGRATION_FILE = '0005_job_queue.sql';

const require = createRequire(import.meta.url);

/** The installed graphile-worker's folder. */
function packageDir(): string {
  return dirname(require.resolve('graphile-worker/package.json'));
}

/** The schema's name as graphile-worker writes it into its SQL (lib.js: `Client.prototype.escapeIdentifier`). */
const escapedSchema = pg.Client.prototype.escapeIdentifier(JOB_QUEUE_SCHEMA);

/** graphile-worker's bootstrap (migrate.js, installSchema), the same statements. */
const BOOTSTRAP = `\
create schema if not exists ${escapedSchema};
create table if not exists ${escapedSchema}.migrations(
  id int primary key,
  ts timestamptz default now() not null
);
alter table ${escapedSchema}.migrations add column if not exists breaking boolean not null default false;
`;

/** The text of migrations/0005_job_queue.sql for the installed graphile-worker. */
export async function generateJobQueueMigration(): Promise<string> {
  const dir = packageDir();
  const { version } = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version: string };
  const names = (await readdir(join(dir, 'sql'))).filter((name) => /^\d{6}\.sql$/.test(name)).sort();
  const parts = [
    `-- TicketBoss schema, part 5: the job queue, graphile-worker ${version}'s own schema ("${JOB_QUEUE_SCHEMA}").`,
    '-- GENERATED from node_modules/graphile-worker/sql/*.sql by `pnpm job-queue-migration`; do not edit by hand.',
    "-- It applies what graphile-worker's migrate() would (its bootstrap, then each of its migrations with the row",
    '-- it records for it), so that graphile-worker, when it starts, finds them all applied and changes nothing.',
    '-- A test fails when this file differs from what the installed graphile-worker would generate.',
    '',
    '-- Bootstrap',
    BOOTSTRAP,
  ];
  for (const name of names) {
    const text = await readFile(join(dir, 'sql', name), 'utf8');
    const id = parseInt(name.slice(0, 6), 10);
    // lib.js: BREAKING_MIGRATIONS are the files that start with this marker.
    const breaking = text.startsWith('--! breaking');
    parts.push(
      `-- graphile-worker migration ${name}${breaking ? ' (breaking)' : ''}`,
      `insert into ${escapedSchema}.migrations (id, breaking) values (${id}, ${breaking});`,
      text.replace(/:GRAPHILE_WORKER_SCHEMA\b/g, escapedSchema).trimEnd(),
      '',
    );
  }
  return parts.join('\n');
}
