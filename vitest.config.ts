import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Native engines use both cores; running test files one at a time keeps timings sane on CI.
    fileParallelism: false,
  },
});
