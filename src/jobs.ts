import pLimit from 'p-limit';
import type { Db } from './db/database.js';
import { idempotencyRepository } from './db/idempotency.js';
import { passwordResetsRepository } from './db/password-resets.js';
import { sessionsRepository } from './db/sessions.js';
import type { ExportJobs } from './export-jobs.js';
import type { Logger } from './logger.js';

/** Work a server does on a timer, beside its requests. */
interface Job {
  name: string;
  everyMs: number;
  run(): Promise<void>;
}

export interface Jobs {
  /**
   * Stops the timers (a run under way finishes on its own) and the export workers; resolves
   * once the export batch under way is written.
   */
  stop(): Promise<void>;
}

/** Starts the server's background jobs, and the workers of `exports`; `stop()` at shutdown. */
export function startJobs({ db, logger, exports }: { db: Db; logger: Logger; exports: ExportJobs }): Jobs {
  const jobs: Job[] = [
    {
      // Answers kept under an Idempotency-Key are forgotten after 24 hours.
      name: 'idempotency key sweep',
      everyMs: 3_600_000,
      async run() {
        const deleted = await idempotencyRepository.deleteExpired(db);
        if (deleted > 0) logger.info({ deleted }, 'expired idempotency keys deleted');
      },
    },
    {
      // Reset tokens nobody used: gone an hour after they expired at the latest.
      name: 'password reset sweep',
      everyMs: 3_600_000,
      async run() {
        const deleted = await passwordResetsRepository.deleteExpired(db);
        if (deleted > 0) logger.info({ deleted }, 'expired password reset tokens deleted');
      },
    },
    {
      // Sessions past their refresh expiry can never be refreshed again: gone within the
      // hour, with their access and refresh tokens (ON DELETE CASCADE).
      name: 'expired session sweep',
      everyMs: 3_600_000,
      async run() {
        const deleted = await sessionsRepository.deleteExpired(db);
        if (deleted > 0) logger.info({ deleted }, 'expired sessions deleted');
      },
    },
  ];
  const timers = jobs.map((job) => {
    const timer = setInterval(() => {
      job.run().catch((err: unknown) => logger.warn({ err, job: job.name }, `${job.name} failed`));
    }, job.everyMs);
    // Never what keeps the process alive.
    timer.unref();
    return timer;
  });
  const exporting = exports.start().catch((err: unknown) => logger.error({ err }, 'export workers did not start'));
  return {
    async stop() {
      for (const timer of timers) clearInterval(timer);
      await exporting;
      await exports.stop();
    },
  };
}

/** Work a request leaves to be done after its answer, in this process. */
export interface Tasks {
  /**
   * Runs `task` off the request's path, after the tasks added before it have started (at
   * most TASK_CONCURRENCY at once). Never throws: a failure is logged at error level with
   * `context` (the request id), so that none is lost silently.
   */
  add(name: string, context: Record<string, unknown>, task: () => Promise<void>): void;
  /** How many were added and have not ended. */
  pending(): number;
  /** Resolves once every task added so far has ended (at shutdown, before the database closes). */
  idle(): Promise<void>;
}

/** Tasks at once: enough for a slow SMTP server not to hold up the rest, few enough to spare the pool. */
const TASK_CONCURRENCY = 4;

export function createTasks(logger: Logger): Tasks {
  const limit = pLimit(TASK_CONCURRENCY);
  const running = new Set<Promise<void>>();
  return {
    add(name, context, task) {
      const run = limit(task).then(
        () => undefined,
        (err: unknown) => logger.error({ err, task: name, ...context }, `${name} failed`),
      );
      running.add(run);
      void run.finally(() => running.delete(run));
    },
    pending: () => running.size,
    async idle() {
      while (running.size > 0) await Promise.all(running);
    },
  };
}
