import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@ticketboss/source'] },
  ssr: { resolve: { conditions: ['@ticketboss/source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts'],
    globalSetup: ['packages/adapters-postgres/src/testing/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
