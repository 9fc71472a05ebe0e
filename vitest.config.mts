import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Several suites spawn hundreds of plugin processes or build network namespaces: on a 2-core
    // machine they run one file at a time so their timings stay meaningful.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
