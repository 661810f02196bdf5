import { defineConfig } from 'vitest/config';

/**
 * System tests: the server as separate processes behind real infrastructure (nginx, Redis,
 * PgBouncer, Prometheus).
 * They need Debian packages a fresh machine lacks, so `.ci/run` installs those and runs
 * `npm run test:system`; `npm test` stays runnable anywhere.
 */
export default defineConfig({
  test: {
    include: ['test/system/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
