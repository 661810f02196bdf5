/**
 * Polls `probe` until it gives a truthy value (and returns it), for state that sends no event
 * this test can listen to (another process's log or pools, Prometheus's samples); rejects
 * after `timeoutMs`, saying `what`. A bound on a wait, not a measurement: nothing is asserted
 * about how long it took.
 */
export async function until<T>(
  what: string | (() => string),
  probe: () => T | Promise<T>,
  timeoutMs = 60_000,
): Promise<Exclude<T, false | 0 | '' | null | undefined>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as Exclude<T, false | 0 | '' | null | undefined>;
    if (Date.now() > deadline) throw new Error(`${typeof what === 'string' ? what : what()}: not so within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Waits for `promise`, failing with `what` if it has not settled within `timeoutMs`: for an
 * answer that must come without waiting on what hangs (a database that is down), where the
 * test's own timeout would only say that something, somewhere, took too long.
 */
export async function within<T>(what: string, timeoutMs: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
