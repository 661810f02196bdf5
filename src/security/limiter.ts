/** Runs at most `limit` tasks at once; the others wait in order of arrival. */
export interface Limiter {
  run<T>(work: () => Promise<T>): Promise<T>;
  setLimit(limit: number): void;
  /** Tasks running now, and tasks waiting for a turn. */
  readonly active: number;
  readonly queued: number;
}

export function createLimiter(initial: number): Limiter {
  let limit = initial;
  let active = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    // Hand the slot straight to the next in line, so no newcomer can take it in between.
    const next = active <= limit ? waiting.shift() : undefined;
    if (next) next();
    else active--;
  };
  return {
    async run(work) {
      if (active < limit) active++;
      else await new Promise<void>((resolve) => waiting.push(resolve));
      try {
        return await work();
      } finally {
        release();
      }
    },
    setLimit(n) {
      limit = n;
      while (active < limit && waiting.length) {
        active++;
        waiting.shift()?.();
      }
    },
    get active() {
      return active;
    },
    get queued() {
      return waiting.length;
    },
  };
}
