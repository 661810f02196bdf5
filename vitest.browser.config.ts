import { configDefaults, defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/** `npm run test:browser`: Swagger UI in Chromium, against the real server and database. */
export default defineConfig({
  test: {
    ...base.test,
    include: ['test/browser/**/*.test.ts'],
    exclude: configDefaults.exclude,
    testTimeout: 60_000,
  },
});
