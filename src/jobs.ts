import type { Db } from './db/database.js';
import { idempotencyRepository } from './db/idempotency.js';
import type { Logger } from './logger.js';

/** Work a server does on a timer, beside its requests. */
interface Job {
  name: string;
  everyMs: number;
  run(): Promise<void>;
}

export interface Jobs {
  /** Stops the timers; a run under way finishes on its own. */
  stop(): void;
}

/** Starts the server's background jobs; `stop()` at shutdown. */
export function startJobs({ db, logger }: { db: Db; logger: Logger }): Jobs {
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
  return {
    stop() {
      for (const timer of timers) clearInterval(timer);
    },
  };
}
