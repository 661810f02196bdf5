/**
 * Polls `probe` until it resolves true, for state kept in another process that sends no
 * event (PgBouncer's pools, Prometheus's samples); rejects after `timeoutMs`, saying `what`.
 */
export async function until(what: string | (() => string), probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  for (const started = Date.now(); !(await probe()); ) {
    if (Date.now() - started > timeoutMs) throw new Error(`${typeof what === 'string' ? what : what()}: not so within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
