import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../embedded-postgres.js';

export interface TestPostgresServer {
  /** A superuser connection string; test databases are created on this server. */
  readonly adminUrl: string;
  readonly source: 'TEST_DATABASE_URL' | 'testcontainers' | 'embedded';
  stop(): Promise<void>;
}

const CONTAINER_IMAGE = 'postgres:17-alpine';

async function startContainer(): Promise<TestPostgresServer> {
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer(CONTAINER_IMAGE).start();
  return {
    adminUrl: container.getConnectionUri(),
    source: 'testcontainers',
    stop: async () => {
      await container.stop();
    },
  };
}

async function startEmbedded(): Promise<TestPostgresServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ticketboss-test-pg-'));
  const server = await startEmbeddedPostgres({ dataDir, durable: false });
  return {
    adminUrl: server.connectionString,
    source: 'embedded',
    stop: async () => {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The one place tests get PostgreSQL from: TEST_DATABASE_URL when set; else a Testcontainers container when a
 * Docker engine answers; else an embedded PostgreSQL in a temporary folder.
 */
export async function startTestPostgresServer(
  log: (message: string) => void = () => undefined,
): Promise<TestPostgresServer> {
  const url = process.env.TEST_DATABASE_URL;
  if (url) return { adminUrl: url, source: 'TEST_DATABASE_URL', stop: async () => undefined };
  try {
    return await startContainer();
  } catch (error) {
    log(
      `Testcontainers unavailable (${error instanceof Error ? error.message : String(error)}); using embedded PostgreSQL`,
    );
    return startEmbedded();
  }
}
