import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          // In-process tests of pure logic (no threads): they import the TypeScript sources.
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          // Through the public API, as a user imports it (the built package), with real worker pools.
          include: ['test/*.test.ts'],
          // Suites start worker pools of their own; on a 2-core machine running them one file at a time keeps
          // timing-sensitive fault tests (timeouts, crashes) from starving each other.
          fileParallelism: false,
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
    ],
  },
});
