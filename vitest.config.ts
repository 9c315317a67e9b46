import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Suites start worker pools of their own; on a 2-core machine running them one file at a time keeps
    // timing-sensitive fault tests (timeouts, crashes) from starving each other.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
