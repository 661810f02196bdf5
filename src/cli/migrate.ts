import { loadConfig } from '../config.js';
import { resolveDatabase } from '../db/connect.js';
import { migrateLatest, openDb } from '../db/database.js';
import { createLogger } from '../logger.js';

/** npm run db:migrate: applies pending migrations to DATABASE_URL or the embedded database. */
const config = loadConfig();
const logger = createLogger(config.logLevel);
const { url, embedded } = await resolveDatabase(config, logger);
const db = openDb({ url, poolMax: 2 });
try {
  const applied = await migrateLatest(db);
  logger.info({ applied }, applied.length ? 'migrations applied' : 'the database is up to date');
} finally {
  await db.destroy();
  await embedded?.stop();
}
