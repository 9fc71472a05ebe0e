import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));

export default defineConfig({
  define: { LEASEHOLD_VERSION: JSON.stringify(version) },
  test: {
    include: ['test/**/*.test.ts'],
    // The arm64 executable's suite runs with its own config (vitest.arm64.config.mts).
    exclude: ['test/arm64/**'],
    // Several suites spawn hundreds of plugin processes or build network namespaces: on a 2-core
    // machine they run one file at a time so their timings stay meaningful.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
