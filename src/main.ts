import { createApp } from './app.js';
import { startClusterPrimary } from './cluster.js';
import { ConfigError, loadConfig } from './config.js';
import { loadContract } from './contract.js';
import { resolveDatabase } from './db/connect.js';
import { migrateLatest, openDb } from './db/database.js';
import { idempotencyRepository } from './db/idempotency.js';
import { createLogger } from './logger.js';
import { createHttpServer } from './server.js';
import { openRedis } from './redis.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  // Logged as JSON with the stack rather than left to Node's default print and exit.
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled rejection');
    process.exit(1);
  });
  if (await startClusterPrimary(config, logger)) return;
  const { url, embedded } = await resolveDatabase(config, logger);

  if (config.migrateOnStart) {
    const migrator = openDb({ url, poolMax: 2, connectTimeoutMs: config.databaseConnectTimeoutMs, logger });
    try {
      const applied = await migrateLatest(migrator);
      if (applied.length) logger.info({ applied }, 'migrations applied');
    } finally {
      await migrator.destroy();
    }
  }

  const db = openDb({ url, poolMax: config.databasePoolMax, connectTimeoutMs: config.databaseConnectTimeoutMs, logger });
  const redis = config.rateLimits.redisUrl ? openRedis(config.rateLimits.redisUrl, logger) : undefined;
  const app = createApp({ db, config, contract: loadContract(), logger, redis });
  const { server, drain } = createHttpServer(app, config.http);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
    if (config.host) server.listen(config.port, config.host);
    else server.listen(config.port);
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
    clearInterval(sweep);
    const draining = drain(config.shutdownTimeoutMs);
    // Only now, with the listening socket closed, is it true that no new connection gets in.
    logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down: finishing requests in flight');
    const drained = await draining;
    if (!drained) logger.warn('requests still running after SHUTDOWN_TIMEOUT_MS were cut off');
    // A request cut off may still hold a connection (waiting on a lock, say): don't wait for it.
    await Promise.race([db.destroy(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    redis?.disconnect();
    await embedded?.stop();
    logger.info({ drained }, 'stopped');
    process.exit(drained ? 0 : 1);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`microblog-api: ${err instanceof ConfigError ? message : `cannot start: ${message}`}\n`);
  process.exit(1);
});
