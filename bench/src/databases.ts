/**
 * The PostgreSQL server the bench runs against, and the databases it creates on it (each dropped at the end).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createDatabase,
  ensureEvent,
  migrate,
  readMigrations,
  startEmbeddedPostgres,
} from '@ticketboss/adapters-postgres';
import { DEFAULT_EVENT } from '@ticketboss/domain';
import pg from 'pg';

export interface AdminServer {
  /** A superuser URL. */
  readonly url: string;
  readonly label: string;
  stop(): Promise<void>;
}

/** BENCH_DATABASE_URL (a superuser URL) when set; otherwise an embedded PostgreSQL in a temporary directory. */
export async function adminServer(): Promise<AdminServer> {
  const given = process.env.BENCH_DATABASE_URL;
  if (given) return { url: given, label: 'BENCH_DATABASE_URL', stop: async () => undefined };
  const dataDir = await mkdtemp(join(tmpdir(), 'ticketboss-bench-pg-'));
  // Eight API processes (each with its requests' pool and its job queue's), pgbench's 32 clients and the load's
  // own connections exceed PostgreSQL's default of 100.
  const server = await startEmbeddedPostgres({ dataDir, settings: { max_connections: '400' } });
  return {
    url: server.connectionString,
    label: 'embedded',
    stop: async () => {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** One statement (or several separated by semicolons, without parameters) on a connection of its own. */
export async function query<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

export interface Databases {
  /** A new database with the schema and the default event, as `pnpm start` would leave it. */
  fresh(): Promise<string>;
  /** Drops every database `fresh` made. */
  dropAll(): Promise<void>;
}

export function databases(adminUrl: string): Databases {
  const created: string[] = [];
  return {
    async fresh() {
      const name = `ticketboss_bench_${randomBytes(4).toString('hex')}`;
      created.push(name);
      await query(adminUrl, `CREATE DATABASE ${name}`);
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      const db = createDatabase({ connectionString: url.toString() });
      try {
        await migrate(db, await readMigrations());
        await ensureEvent(db, DEFAULT_EVENT);
      } finally {
        await db.destroy();
      }
      return url.toString();
    },
    async dropAll() {
      for (const name of created.splice(0)) await query(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
