import cluster, { type Worker } from 'node:cluster';
import type { Config } from './config.js';
import { openDatabase } from './db/open.js';
import { countRateLimitsForWorkers } from './http/rate-limit.js';
import { startMetricsServer } from './http/metrics.js';
import type { Logger } from './logger.js';
import { STOP_SIGNALS } from './signals.js';
import { clusterMetrics } from './metrics.js';

const FIRST_RESTART_DELAY_MS = 250;
const MAX_RESTART_DELAY_MS = 30_000;
/** A worker that lived this long is healthy: the next crash restarts at once again. */
const HEALTHY_AFTER_MS = 30_000;

/**
 * WEB_CONCURRENCY=N (N > 1) runs the server in N processes sharing one port (node:cluster),
 * so one machine's cores are used. This process becomes the primary: it finds the database
 * (starting the embedded one if need be) and migrates once, then forks workers that run
 * the ordinary start with that DATABASE_URL and migrations off, and keeps the rate-limit
 * counts of all of them (without Redis, one count per machine). A worker that dies is
 * replaced after a delay that doubles while crashes repeat. SIGTERM or SIGINT is passed on
 * to every worker, which drains as a single server would; the primary exits 0 once all
 * have exited cleanly. With METRICS_PORT, the primary serves /metrics: every worker's,
 * added up.
 *
 * Returns true in the primary of a cluster (which never serves itself), false where the
 * caller should serve: in a worker, or when WEB_CONCURRENCY is 1.
 */
export async function startClusterPrimary(config: Config, logger: Logger): Promise<boolean> {
  if (config.webConcurrency <= 1 || !cluster.isPrimary) return false;
  // The workers open their own pools; this one, which never connects, only closes with it.
  const database = await openDatabase(config, logger, { role: 'server', migrate: config.migrateOnStart });
  const { url, embedded } = database;
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
  if (config.metrics) {
    try {
      metricsServer = await startMetricsServer(clusterMetrics(), config.metrics, logger);
    } catch (err) {
      await database.close();
      throw err;
    }
  }

  const env = { DATABASE_URL: url, MIGRATE_ON_START: 'false' };
  countRateLimitsForWorkers();
  const started = new Map<Worker, number>();
  let delay = FIRST_RESTART_DELAY_MS;
  let stopping = false;
  let failed = false;

  const fork = () => {
    const worker = cluster.fork(env);
    started.set(worker, Date.now());
  };

  // A worker that dies before any listened could not start (its one-line error says why):
  // starting more would only fail the same way.
  let listened = false;
  cluster.once('listening', () => {
    listened = true;
    void embedded?.announce(`http://localhost:${config.port}/api`);
  });

  cluster.on('exit', (worker, code, signal) => {
    const lived = Date.now() - (started.get(worker) ?? Date.now());
    started.delete(worker);
    if (!listened && !stopping) {
      stopping = true;
      failed = true;
      for (const other of started.keys()) other.process.kill('SIGTERM');
    }
    if (stopping) {
      if (code !== 0) failed = true;
      if (started.size === 0) void finish();
      return;
    }
    if (lived >= HEALTHY_AFTER_MS) delay = FIRST_RESTART_DELAY_MS;
    logger.error({ pid: worker.process.pid, code, signal, restartInMs: delay }, 'worker died; starting another');
    setTimeout(() => stopping || fork(), delay);
    delay = Math.min(delay * 2, MAX_RESTART_DELAY_MS);
  });

  const finish = async () => {
    metricsServer?.close();
    metricsServer?.closeAllConnections();
    await database.close();
    logger.info('stopped');
    process.exit(failed ? 1 : 0);
  };

  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, workers: started.size }, 'shutting down: workers finish their requests in flight');
    if (started.size === 0) void finish();
    for (const worker of started.keys()) worker.process.kill('SIGTERM');
  };
  for (const signal of STOP_SIGNALS) process.on(signal, () => shutdown(signal));

  for (let i = 0; i < config.webConcurrency; i++) fork();
  logger.info({ workers: config.webConcurrency }, `cluster of ${config.webConcurrency} workers starting`);
  return true;
}

/** True in a worker forked by startClusterPrimary, whose primary keeps the rate-limit counts. */
export function isClusterWorker(config: Config): boolean {
  return config.webConcurrency > 1 && cluster.isWorker;
}
