import type { TestProject } from 'vitest/node';
import { startTestPostgresServer } from './postgres-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
  }
}

/** Vitest global setup: one PostgreSQL server per test run; each test file creates its own database on it. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startTestPostgresServer((message) => console.warn(`[test-postgres] ${message}`));
  console.warn(`[test-postgres] using ${server.source}`);
  project.provide('postgresAdminUrl', server.adminUrl);
  return () => server.stop();
}
