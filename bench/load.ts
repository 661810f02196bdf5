/**
 * One load run, in its own process so the load generator never shares an event loop with
 * what it measures: reads a LoadSpec as JSON from argv[2], warms up, measures with
 * autocannon (bounded by duration and by request count, loopback only) and prints a
 * LoadResult as JSON on stdout.
 */
import autocannon from 'autocannon';

export interface LoadSpec {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
  /** Upper bound on requests, whatever the duration. */
  maxRequests: number;
}

export interface LoadResult {
  /** Requests answered during the warm-up, then during the measurement. */
  warmupRequests: number;
  requests: number;
  /** How long the measurement took, in seconds. */
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  statusCodes: Record<string, number>;
}

function run(spec: LoadSpec, seconds: number, maxRequests: number): Promise<autocannon.Result> {
  const { hostname } = new URL(spec.url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(hostname)) throw new Error(`refusing to load ${hostname}: loopback only`);
  return autocannon({
    url: spec.url,
    method: spec.method,
    headers: spec.headers,
    ...(spec.body === undefined ? {} : { body: spec.body }),
    connections: spec.connections,
    duration: seconds,
    maxOverallRequests: Math.max(maxRequests, spec.connections),
    timeout: 10,
  });
}

const spec = JSON.parse(process.argv[2] ?? '') as LoadSpec;
// Warm-up: until the JIT has seen enough requests (WARMUP_REQUESTS), within 2× the warm-up time.
const WARMUP_REQUESTS = 1500;
const warm = spec.warmupSeconds > 0 ? await run(spec, spec.warmupSeconds * 2, WARMUP_REQUESTS) : undefined;
// Tells the parent the measurement starts now (it reads the server's processor time).
process.stderr.write('measuring\n');
const result = await run(spec, spec.durationSeconds, spec.maxRequests);
const statusCodes: Record<string, number> = {};
for (const [code, count] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = count.count;
const expected = spec.method === 'POST' ? ['200', '201'] : ['200'];
const unexpected = Object.entries(statusCodes)
  .filter(([code]) => !expected.includes(code))
  .reduce((sum, [, n]) => sum + n, 0);
const out: LoadResult = {
  warmupRequests: warm?.requests.total ?? 0,
  requests: result.requests.total,
  seconds: result.duration,
  rps: result.requests.total / result.duration,
  p50: result.latency.p50,
  p99: result.latency.p99,
  errors: result.errors + unexpected,
  statusCodes,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
