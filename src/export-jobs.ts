import { Queue, WaitingError, Worker, type Job } from 'bullmq';
import pLimit from 'p-limit';
import type { ExportJobsConfig } from './config.js';
import type { Db } from './db/database.js';
import type { Logger } from './logger.js';
import { toPost } from './representations/resources.js';
import { failExport, runExport, unfinishedExports, type ExportJobOptions, type ExportQueue } from './services/exports.js';

/** The runner of exports: their queue, and the workers that take them from it. */
export interface ExportJobs {
  queue: ExportQueue;
  /** Takes exports from the queue, and queues again those left unfinished (a killed server's). */
  start(): Promise<void>;
  /**
   * Stops taking exports. The batch under way is written, and its export left where it
   * stands for a worker to take up again (here after a restart, or another instance's).
   */
  stop(): Promise<void>;
}

/** Runs of one export before it is marked failed, the first retry a second after. */
const ATTEMPTS = 5;
const BACKOFF_MS = 1000;
/** How often exports left unqueued (Redis was away when they were asked for) are queued again. */
const REQUEUE_EVERY_MS = 60_000;
/** How long a request waits to queue an export on Redis: the export is in PostgreSQL already, and queued again later. */
const ENQUEUE_TIMEOUT_MS = 2_000;

export interface ExportJobsDeps {
  db: Db;
  logger: Logger;
  config: ExportJobsConfig;
  /** Redis, shared by the instances: set, any instance runs any export (BullMQ); else each in its own process. */
  redis?: { url: string; prefix: string };
}

export function createExportJobs(deps: ExportJobsDeps): ExportJobs {
  return deps.redis ? bullmqExportJobs(deps, deps.redis) : inProcessExportJobs(deps);
}

function jobOptions({ config, logger }: ExportJobsDeps, shouldStop: () => boolean): ExportJobOptions {
  return { batchSize: config.batchSize, render: toPost, shouldStop, onStart: (row) => logResumed(logger, row.id, row.post_count) };
}

function logOutcome(logger: Logger, exportId: number, { outcome, resumedAt }: Awaited<ReturnType<typeof runExport>>): void {
  if (outcome === 'done') logger.info({ exportId, resumedAt }, 'export done');
  else if (outcome === 'stopped') logger.info({ exportId }, 'export stopped: to be taken up again');
  else if (outcome === 'lost') logger.info({ exportId }, 'export left to the worker writing it');
}

function logResumed(logger: Logger, exportId: number, postCount: number): void {
  logger.info({ exportId, postCount }, postCount > 0 ? 'export resumed' : 'export started');
}

/**
 * Exports run one at a time in this process. Unfinished ones (a killed server's) are taken
 * up again at start; a run that fails is tried again after a backoff, ATTEMPTS times.
 */
function inProcessExportJobs(deps: ExportJobsDeps): ExportJobs {
  const { db, logger } = deps;
  const limit = pLimit(1);
  const queued = new Set<number>();
  const failures = new Map<number, number>();
  const retries = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  let stopping = false;

  const attempt = async (exportId: number) => {
    try {
      const result = await runExport(db, exportId, jobOptions(deps, () => stopping));
      logOutcome(logger, exportId, result);
      failures.delete(exportId);
    } catch (err) {
      const failed = (failures.get(exportId) ?? 0) + 1;
      if (failed >= ATTEMPTS) {
        failures.delete(exportId);
        logger.error({ err, exportId, attempts: failed }, 'export failed');
        await failExport(db, exportId).catch((failure: unknown) => logger.warn({ err: failure, exportId }, 'export could not be marked failed'));
        return;
      }
      failures.set(exportId, failed);
      logger.warn({ err, exportId, attempt: failed }, 'export run failed: trying again');
      const timer = setTimeout(() => {
        retries.delete(timer);
        enqueue(exportId);
      }, BACKOFF_MS * 2 ** (failed - 1));
      timer.unref();
      retries.add(timer);
    }
  };

  const enqueue = (exportId: number) => {
    if (stopping || queued.has(exportId)) return;
    queued.add(exportId);
    const run = limit(async () => {
      if (!stopping) await attempt(exportId);
    }).finally(() => {
      queued.delete(exportId);
      running.delete(run);
    });
    running.add(run);
  };

  return {
    queue: { enqueue: async (exportId) => enqueue(exportId) },
    async start() {
      for (const exportId of await unfinishedExports(db)) enqueue(exportId);
    },
    async stop() {
      stopping = true;
      for (const timer of retries) clearTimeout(timer);
      limit.clearQueue();
      await Promise.all(running);
    },
  };
}

interface ExportJobData {
  exportId: number;
}

/**
 * Exports queued on Redis with BullMQ: any instance's worker runs any export. A worker that
 * dies loses its job's lock after EXPORT_STALLED_INTERVAL_MS; another worker's stalled-job
 * check then moves the job back to the queue, and the export goes on from its last batch.
 */
function bullmqExportJobs(deps: ExportJobsDeps, redis: { url: string; prefix: string }): ExportJobs {
  const { db, logger, config } = deps;
  // BullMQ's own connections (its blocking commands need maxRetriesPerRequest: null), not the rate limits'.
  const connection = { url: redis.url, maxRetriesPerRequest: null };
  const prefix = `${redis.prefix}bull`;
  const queue = new Queue<ExportJobData>('exports', {
    connection,
    prefix,
    defaultJobOptions: {
      attempts: ATTEMPTS,
      backoff: { type: 'exponential', delay: BACKOFF_MS },
      // PostgreSQL keeps the state of record; Redis only what is still to run.
      removeOnComplete: true,
      removeOnFail: true,
    },
  });
  queue.on('error', (err) => logger.warn({ err }, 'export queue: Redis error'));
  let worker: Worker<ExportJobData> | undefined;
  let requeue: NodeJS.Timeout | undefined;
  let stopping = false;
  let stopped: Promise<void> | undefined;

  const enqueue = async (exportId: number) => {
    // One job per export (its id), so queuing again what is queued or running changes nothing.
    const added = queue.add('export', { exportId }, { jobId: `export-${exportId}` });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('Redis did not answer in time')), ENQUEUE_TIMEOUT_MS);
    });
    try {
      await Promise.race([added, timeout]);
    } catch (err) {
      added.catch(() => undefined);
      logger.warn({ err, exportId }, `export not queued on Redis: queued again within ${REQUEUE_EVERY_MS / 1000} s`);
    } finally {
      clearTimeout(timer);
    }
  };

  const requeueUnfinished = async () => {
    for (const exportId of await unfinishedExports(db)) await enqueue(exportId);
  };

  const process = async (job: Job<ExportJobData>, token?: string) => {
    const { exportId } = job.data;
    const result = await runExport(db, exportId, {
      ...jobOptions(deps, () => stopping),
      onProgress: (progress) => job.updateProgress(progress),
    });
    logOutcome(logger, exportId, result);
    if (result.outcome === 'stopped') {
      // Back in the queue without using up an attempt: this instance is shutting down.
      await job.moveToWait(token);
      throw new WaitingError();
    }
  };

  return {
    queue: { enqueue },
    async start() {
      worker = new Worker<ExportJobData>(
        'exports',
        async (job, token) => {
          logger.info({ exportId: job.data.exportId, attempt: job.attemptsStarted }, 'export job taken');
          await process(job, token);
        },
        {
          connection,
          prefix,
          concurrency: 1,
          lockDuration: config.stalledIntervalMs,
          stalledInterval: config.stalledIntervalMs,
          // A crashed worker's job is taken up again this many times; then marked failed.
          maxStalledCount: ATTEMPTS,
        },
      );
      worker.on('error', (err) => logger.warn({ err }, 'export worker: Redis error'));
      worker.on('failed', (job, err) => {
        if (!job) return;
        const { exportId } = job.data;
        if (job.attemptsMade < (job.opts.attempts ?? 1) && !/stalled more than/.test(err.message)) {
          logger.warn({ err, exportId, attempt: job.attemptsMade }, 'export run failed: trying again');
          return;
        }
        logger.error({ err, exportId, attempts: job.attemptsMade }, 'export failed');
        failExport(db, exportId).catch((failure: unknown) => logger.warn({ err: failure, exportId }, 'export could not be marked failed'));
      });
      requeue = setInterval(() => {
        requeueUnfinished().catch((err: unknown) => logger.warn({ err }, 'unfinished exports could not be queued again'));
      }, REQUEUE_EVERY_MS);
      requeue.unref();
      await requeueUnfinished();
    },
    stop() {
      stopping = true;
      clearInterval(requeue);
      stopped ??= (async () => {
        await worker?.close();
        await queue.close();
      })();
      return stopped;
    },
  };
}
