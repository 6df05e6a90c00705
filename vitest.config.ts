import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Closes what the support helpers started and the test did not: gateways, processes, temp dirs, Redis keys.
    setupFiles: ['test/support/setup-file.ts'],
    // Tests share two cores with onnxruntime workers; run files one at a time for stable timing-free counts.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
