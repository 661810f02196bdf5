import type { Server } from 'node:http';
import { createApp } from './app.js';
import { isClusterWorker, startClusterPrimary } from './cluster.js';
import { ConfigError, loadConfig } from './config.js';
import { loadContract } from './contract.js';
import { DatabaseStartError, prepareDatabase } from './db/connect.js';
import { closeDb, openDb, poolUsage, type Db } from './db/database.js';
import { EmbeddedPostgresError } from './db/embedded.js';
import { idempotencyRepository } from './db/idempotency.js';
import { startMetricsServer } from './http/metrics.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, reportToPrimary } from './metrics.js';
import { createHttpServer, listen, ListenError } from './server.js';
import { openRedis } from './redis.js';
import { exitOnStopSignals, STOP_SIGNALS } from './signals.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const starting = exitOnStopSignals();
  if (await startClusterPrimary(config, logger)) return starting();
  const metrics = config.metrics ? createMetrics() : undefined;
  // A cluster's workers leave METRICS_PORT to the primary, which adds up their metrics; they
  // answer it from the start, so that a worker still starting does not fail the scrape.
  if (metrics && isClusterWorker(config)) reportToPrimary(metrics);

  const database = await prepareDatabase(config, logger, { role: 'server', migrate: config.migrateOnStart });
  // Logged as JSON with the stack rather than left to Node's default print and exit; the
  // embedded database is stopped on the way out (see startEmbeddedPostgres).
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled rejection');
    process.exit(1);
  });

  const db = openDb({
    url: database.url,
    poolMax: config.databasePoolMax,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    timeouts: config.databaseTimeouts,
    keepAliveDelayMs: config.databaseKeepAliveDelayMs,
    logger,
  });
  const redis = config.rateLimits.redisUrl ? openRedis(config.rateLimits.redisUrl, logger) : undefined;
  metrics?.watchPool(() => poolUsage(db));
  let metricsServer: Server | undefined;
  const releaseAll = async () => {
    metricsServer?.close();
    metricsServer?.closeAllConnections();
    await Promise.race([closeDb(db), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    redis?.disconnect();
    await database.embedded?.stop();
  };

  let http: ReturnType<typeof createHttpServer>;
  try {
    if (metrics && config.metrics && !isClusterWorker(config)) {
      metricsServer = await startMetricsServer({ contentType: metrics.registry.contentType, render: () => metrics.registry.metrics() }, config.metrics, logger);
    }
    const app = createApp({ db, config, contract: loadContract(), logger, redis, clusterWorker: isClusterWorker(config), metrics, stopping: () => http.stopping() });
    http = createHttpServer(app, config.http);
    warnOnRefusedConnections(http.server, config.http.maxConnections, logger);
    await listen(http.server, config);
  } catch (err) {
    await releaseAll();
    throw err;
  }
  const api = `http://localhost:${config.port}/api`;
  await database.embedded?.announce(api);
  logger.info(
    { api, docs: `${api}/docs`, ...(database.embedded && { database: database.embedded.url }) },
    `Microblog API on ${api}, docs on ${api}/docs${database.embedded ? `, database ${database.embedded.url}` : ''}`,
  );

  const sweep = sweepIdempotencyKeys(db, logger);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(sweep);
    logger.info({ signal, delayMs: config.shutdownDelayMs, timeoutMs: config.shutdownTimeoutMs }, 'shutting down: not ready, finishing requests');
    const drained = await http.shutdown({ delayMs: config.shutdownDelayMs, timeoutMs: config.shutdownTimeoutMs });
    if (!drained) logger.warn('requests still running after SHUTDOWN_TIMEOUT_MS were cut off');
    // A request cut off may still hold a connection (waiting on a lock, say): don't wait for it.
    await releaseAll();
    logger.info({ drained }, 'stopped');
    process.exit(drained ? 0 : 1);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, () => void shutdown(signal));
  starting();
}

/** Connections closed for MAX_CONNECTIONS: the first at once, then at most one line a minute. */
function warnOnRefusedConnections(server: Server, maxConnections: number, logger: Logger): void {
  let refused = 0;
  let warnedAt = -Infinity;
  server.on('drop', () => {
    refused++;
    if (Date.now() - warnedAt < 60_000) return;
    logger.warn({ refused, maxConnections }, 'connections refused: MAX_CONNECTIONS are open');
    warnedAt = Date.now();
    refused = 0;
  });
}

/** Answers kept under an Idempotency-Key are forgotten after 24 hours. */
function sweepIdempotencyKeys(db: Db, logger: Logger): NodeJS.Timeout {
  const sweep = setInterval(() => {
    idempotencyRepository
      .deleteExpired(db)
      .then((deleted) => deleted > 0 && logger.info({ deleted }, 'expired idempotency keys deleted'))
      .catch((err: unknown) => logger.warn({ err }, 'could not delete expired idempotency keys'));
  }, 3_600_000);
  sweep.unref();
  return sweep;
}

main().catch((err: unknown) => {
  const known = err instanceof ConfigError || err instanceof ListenError || err instanceof DatabaseStartError || err instanceof EmbeddedPostgresError;
  const message = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' | ');
  process.stderr.write(`microblog-api: ${known ? message : `cannot start: ${message}`}\n`);
  process.exit(1);
});
