import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Need Chromium or nginx: `npm run test:browser`, `npm run test:system`.
    exclude: [...configDefaults.exclude, 'test/browser/**', 'test/system/**'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
