import { defineConfig } from 'vitest/config';

/**
 * `pnpm test:faults`: the fault suite. Each scenario owns its PostgreSQL (embedded, on a port of its own, so it
 * may stop it) and runs the API as real child processes under real HTTP load. Files run one at a time: they load
 * the machine on purpose. The last step writes docs/reliability.md from what the scenarios recorded.
 */
export default defineConfig({
  resolve: { conditions: ['@ticketboss/source'] },
  ssr: { resolve: { conditions: ['@ticketboss/source'] } },
  test: {
    include: ['packages/http-api/src/faults/**/*.test.ts'],
    globalSetup: ['packages/http-api/src/faults/report-setup.ts'],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
