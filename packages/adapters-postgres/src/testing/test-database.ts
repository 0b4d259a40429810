import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createDatabase, type DatabaseHandle } from '../database.js';
import { migrate, readMigrations } from '../migrate.js';

export interface TestDatabase {
  readonly url: string;
  readonly db: DatabaseHandle;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: inject('postgresAdminUrl') });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database on the run's server (see global-setup.ts); migrated unless `migrated: false`. */
export async function createTestDatabase(
  options: { migrated?: boolean; lockTimeoutMs?: number } = {},
): Promise<TestDatabase> {
  const name = `ticketboss_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(inject('postgresAdminUrl'));
  url.pathname = `/${name}`;
  const db = createDatabase({ connectionString: url.toString(), poolSize: 20, lockTimeoutMs: options.lockTimeoutMs });
  if (options.migrated !== false) await migrate(db, await readMigrations());
  return {
    url: url.toString(),
    db,
    async drop() {
      await db.destroy();
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
