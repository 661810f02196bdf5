import type { Server } from 'node:http';
import { createApp } from './app.js';
import { isClusterWorker, startClusterPrimary } from './cluster.js';
import { ConfigError, loadConfig } from './config.js';
import { loadContract } from './contract.js';
import { poolUsage } from './db/database.js';
import { DatabaseStartError, openDatabase } from './db/open.js';
import { EmbeddedPostgresError } from './db/embedded.js';
import { startMetricsServer } from './http/metrics.js';
import { createExportJobs } from './export-jobs.js';
import { createTasks, startJobs } from './jobs.js';
import { createMailer } from './mail.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, reportToPrimary } from './metrics.js';
import { createHttpServer, listen, ListenError } from './server.js';
import { openRedis } from './redis.js';
import { createNotificationHub } from './services/notifications.js';
import { passwordHashing } from './security/passwords.js';
import { exitOnStopSignals, STOP_SIGNALS } from './signals.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const starting = exitOnStopSignals();
  // Once per start: by the primary of a cluster, not by each of its workers.
  if (config.env === 'production' && !config.mail.smtpUrl && !isClusterWorker(config)) {
    logger.warn('SMTP_URL is unset: password reset mails (and their tokens) are written to the log, not sent');
  }
  if (await startClusterPrimary(config, logger)) return starting();
  const metrics = config.metrics ? createMetrics() : undefined;
  // A cluster's workers leave METRICS_PORT to the primary, which adds up their metrics; they
  // answer it from the start, so that a worker still starting does not fail the scrape.
  if (metrics && isClusterWorker(config)) reportToPrimary(metrics);

  passwordHashing.concurrency = config.passwordHashConcurrency;
  const database = await openDatabase(config, logger, { role: 'server', migrate: config.migrateOnStart });
  const { db } = database;
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

  const { redisUrl, redisPrefix } = config.rateLimits;
  const redis = redisUrl ? openRedis(redisUrl, logger) : undefined;
  const exportJobs = createExportJobs({ db, logger, config: config.exports, redis: redisUrl ? { url: redisUrl, prefix: redisPrefix } : undefined });
  metrics?.watchPool(() => poolUsage(db));
  // Its own connection, to the database itself: PgBouncer in transaction mode cannot LISTEN.
  const notifications = createNotificationHub({
    url: config.notifications.databaseUrl ?? database.url,
    logger,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    keepAliveDelayMs: config.databaseKeepAliveDelayMs,
  });
  let metricsServer: Server | undefined;
  const releaseAll = async () => {
    await notifications.close();
    await exportJobs.stop();
    metricsServer?.close();
    metricsServer?.closeAllConnections();
    redis?.disconnect();
    mailer.close();
    await database.close();
  };

  const mailer = createMailer(config.mail, logger);
  const tasks = createTasks(logger);

  let http: ReturnType<typeof createHttpServer>;
  try {
    if (metrics && config.metrics && !isClusterWorker(config)) {
      metricsServer = await startMetricsServer({ contentType: metrics.registry.contentType, render: () => metrics.registry.metrics() }, config.metrics, logger);
    }
    const app = createApp({ db, config, contract: loadContract(), logger, redis, clusterWorker: isClusterWorker(config), metrics, stopping: () => http.stopping(), mailer, tasks, exports: exportJobs.queue, notifications });
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

  const jobs = startJobs({ db, logger, exports: exportJobs });
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // No new export batch from here; the one under way is written while requests drain.
    const jobsStopped = jobs.stop();
    // Streams end now, not at the shutdown timeout: their clients reconnect to another instance.
    const streamsEnded = notifications.close();
    logger.info({ signal, delayMs: config.shutdownDelayMs, timeoutMs: config.shutdownTimeoutMs }, 'shutting down: not ready, finishing requests');
    const drained = await http.shutdown({ delayMs: config.shutdownDelayMs, timeoutMs: config.shutdownTimeoutMs });
    if (!drained) logger.warn('requests still running after SHUTDOWN_TIMEOUT_MS were cut off');
    // What answered requests left to do (reset mails) is done before the database closes.
    if (tasks.pending() > 0) {
      const timeout = new Promise<false>((resolve) => setTimeout(resolve, config.shutdownTimeoutMs, false).unref());
      const done = await Promise.race([tasks.idle().then(() => true), timeout]);
      if (!done) logger.error({ pending: tasks.pending() }, 'tasks still running after SHUTDOWN_TIMEOUT_MS were cut off (password reset mails not sent)');
    }
    await jobsStopped;
    await streamsEnded;
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

main().catch((err: unknown) => {
  const known = err instanceof ConfigError || err instanceof ListenError || err instanceof DatabaseStartError || err instanceof EmbeddedPostgresError;
  const message = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' | ');
  process.stderr.write(`microblog-api: ${known ? message : `cannot start: ${message}`}\n`);
  process.exit(1);
});
