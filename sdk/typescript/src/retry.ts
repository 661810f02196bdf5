/** How POSTs that carry an `Idempotency-Key` are retried. */
export interface RetryOptions {
  /** Tries in all, the first included (default 3; at most 10). */
  attempts?: number | undefined;
  /** The wait before the first retry, doubled before each next one (default 200 ms). */
  baseDelayMs?: number | undefined;
  /** The longest wait between two tries, a `Retry-After` included (default 5000 ms). */
  maxDelayMs?: number | undefined;
}

// The operations whose contract takes an Idempotency-Key: only these get one generated.
const TAKES_IDEMPOTENCY_KEY = [/\/api\/users$/, /\/api\/posts$/];

/**
 * A fetch that retries a POST under one Idempotency-Key after a network error (fetch's
 * TypeError) or a 503, waiting longer each time. Other requests, and POSTs that neither
 * carry a key nor take one, go once: retrying those could act twice.
 */
export function withRetries(
  fetchOnce: (request: Request) => Promise<Response>,
  options: RetryOptions,
): (request: Request) => Promise<Response> {
  const attempts = Math.min(Math.max(Math.trunc(options.attempts ?? 3), 1), 10);
  const baseDelayMs = options.baseDelayMs ?? 200;
  const maxDelayMs = options.maxDelayMs ?? 5000;

  return async (original) => {
    if (original.method !== 'POST') return fetchOnce(original);
    let request = original;
    if (!request.headers.has('Idempotency-Key')) {
      const { pathname } = new URL(request.url, 'http://relative.invalid');
      if (!TAKES_IDEMPOTENCY_KEY.some((path) => path.test(pathname))) return fetchOnce(request);
      const headers = new Headers(request.headers);
      headers.set('Idempotency-Key', crypto.randomUUID());
      request = new Request(request, { headers });
    }
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= attempts;
      const backoff = Math.min(baseDelayMs * 2 ** (attempt - 1), maxDelayMs);
      // Jitter, so that clients cut off together do not all come back together.
      let wait = backoff / 2 + (Math.random() * backoff) / 2;
      try {
        // A clone per try: a body can be read once.
        const response = await fetchOnce(last ? request : request.clone());
        if (response.status !== 503 || last) return response;
        await response.body?.cancel();
        wait = Math.min(retryAfterMs(response) ?? wait, maxDelayMs);
      } catch (error) {
        if (!(error instanceof TypeError) || last) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  };
}

function retryAfterMs(response: Response): number | undefined {
  const value = response.headers.get('Retry-After');
  if (value === null || !/^\d+$/.test(value)) return undefined;
  return Number(value) * 1000;
}
