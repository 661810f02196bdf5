import { withDatabase } from './command.js';

/** npm run db:migrate: applies pending migrations (withDatabase does) and says so. */
await withDatabase('db:migrate', async (_db, { logger }) => {
  logger.info('the database is up to date');
});
