import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@ticketboss/source'] },
  ssr: { resolve: { conditions: ['@ticketboss/source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts'],
    // The fault suite has a command of its own: pnpm test:faults (vitest.faults.config.ts).
    exclude: ['**/node_modules/**', 'packages/http-api/src/faults/**'],
    globalSetup: ['packages/adapters-postgres/src/testing/global-setup.ts'],
    // The default report, then one line naming what did not run and why (TEST_REQUIRE_ALL=1 fails on a skip).
    reporters: ['default', './vitest.skipped-reporter.ts'],
    // Generous: many tests start API processes or an embedded PostgreSQL, which a loaded 2-core machine can make
    // take tens of seconds. The tests themselves wait for conditions, never for time.
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
