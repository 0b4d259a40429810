import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@ticketboss/source'] },
  ssr: { resolve: { conditions: ['@ticketboss/source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts'],
    // The fault suite has a command of its own: pnpm test:faults (vitest.faults.config.ts).
    exclude: ['**/node_modules/**', 'packages/http-api/src/faults/**'],
    globalSetup: ['packages/adapters-postgres/src/testing/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
