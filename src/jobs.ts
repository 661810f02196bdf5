import type { Db } from './db/database.js';
import { idempotencyRepository } from './db/idempotency.js';
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
