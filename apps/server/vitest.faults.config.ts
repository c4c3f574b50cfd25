import { defineConfig } from 'vitest/config';

/**
 * `npm run test:faults`: the fault suite. Each test starts its own PostgreSQL and Redis servers
 * and Phos as separate processes, so files run one at a time: two cores run one deployment well.
 */
export default defineConfig({
  test: {
    include: ['faults/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
