import { ConfigError, loadConfig, type Config } from '../config.js';
import { DatabaseStartError, prepareDatabase } from '../db/connect.js';
import { closeDb, openDb, type Db } from '../db/database.js';
import { EmbeddedPostgresError } from '../db/embedded.js';
import { createLogger, type Logger } from '../logger.js';
import { exitOnStopSignals } from '../signals.js';

/**
 * Runs a db:* command on the database the server uses: DATABASE_URL, or this clone's
 * embedded PostgreSQL (the running server's, or started for the command and stopped after).
 * Migrations are applied first. A failure is one line on stderr and exit status 1.
 */
export async function withDatabase(
  name: string,
  work: (db: Db, context: { config: Config; logger: Logger }) => Promise<void>,
): Promise<void> {
  exitOnStopSignals();
  try {
    const config = loadConfig();
    const logger = createLogger(config.logLevel);
    const { url, embedded } = await prepareDatabase(config, logger, { role: 'tool', migrate: true });
    const db = openDb({ url, poolMax: 2, connectTimeoutMs: config.databaseConnectTimeoutMs, logger });
    try {
      await work(db, { config, logger });
    } finally {
      await closeDb(db);
      await embedded?.stop();
    }
  } catch (err) {
    fail(name, err);
  }
}

/** Prints `name: message` and exits 1; an unexpected error keeps its stack. */
export function fail(name: string, err: unknown): never {
  const known = err instanceof ConfigError || err instanceof DatabaseStartError || err instanceof EmbeddedPostgresError;
  const message = err instanceof Error ? (known ? err.message : (err.stack ?? err.message)) : String(err);
  process.stderr.write(`${name}: ${message}\n`);
  process.exit(1);
}
