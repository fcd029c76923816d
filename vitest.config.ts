import { defineConfig } from 'vitest/config';

// Integration tests drive real Open vSwitch and etcd processes; the machine has 2 cores,
// so files run in at most two forked workers and get generous timeouts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
