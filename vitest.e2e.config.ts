import { defineConfig } from 'vitest/config';

// Tests that need real servers or browsers installed by .ci/run (apt-get).
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
