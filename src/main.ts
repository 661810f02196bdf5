import type { Server } from 'node:http';
import { createApp } from './app.js';
import { startClusterPrimary } from './cluster.js';
import { ConfigError, loadConfig } from './config.js';
import { loadContract } from './contract.js';
import { resolveDatabase } from './db/connect.js';
import { migrateLatest, openDb } from './db/database.js';
import { idempotencyRepository } from './db/idempotency.js';
import { createLogger } from './logger.js';

const DRAIN_TIMEOUT_MS = 10_000;

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  if (await startClusterPrimary(config, logger)) return;
  const { url, embedded } = await resolveDatabase(config, logger);

  if (config.migrateOnStart) {
    const migrator = openDb({ url, poolMax: 2 });
    try {
      const applied = await migrateLatest(migrator);
      if (applied.length) logger.info({ applied }, 'migrations applied');
    } finally {
      await migrator.destroy();
    }
  }

  const db = openDb({ url, poolMax: config.databasePoolMax });
  const app = createApp({ db, config, contract: loadContract(), logger });
  const server: Server = config.host ? app.listen(config.port, config.host) : app.listen(config.port);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const base = `http://localhost:${config.port}`;
  logger.info({ api: `${base}/api`, docs: `${base}/api/docs` }, `Microblog API on ${base}/api, docs on ${base}/api/docs`);

  // Answers kept under an Idempotency-Key are forgotten after 24 hours.
  const sweep = setInterval(() => {
    idempotencyRepository
      .deleteExpired(db)
      .then((deleted) => deleted > 0 && logger.info({ deleted }, 'expired idempotency keys deleted'))
      .catch((err: unknown) => logger.warn({ err }, 'could not delete expired idempotency keys'));
  }, 3_600_000);
  sweep.unref();

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing requests in flight');
    clearInterval(sweep);
    const drained = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const timer = setTimeout(() => server.closeAllConnections(), DRAIN_TIMEOUT_MS);
    await drained;
    clearTimeout(timer);
    await db.destroy();
    await embedded?.stop();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`microblog-api: ${err instanceof ConfigError ? message : `cannot start: ${message}`}\n`);
  process.exit(1);
});
