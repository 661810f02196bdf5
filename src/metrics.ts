import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PoolUsage } from './db/database.js';

/** Prometheus metrics of one process: what the server counts, and where it is read. */
export interface Metrics {
  readonly registry: Registry;
  /**
   * A finished request, by method, route template (`/api/users/{id}`, never the URL: the
   * label values stay few) and status.
   */
  requestFinished(method: string, route: string, status: number, seconds: number): void;
  /** A rate limit in force, whose refusals are then counted from 0. */
  rateLimitDeclared(limit: string): void;
  /** A request or login refused by the rate limit named. */
  rateLimitRefused(limit: string): void;
  /** A login whose username, email or password was wrong. */
  loginFailed(): void;
  /** Reads the database pool's use at each scrape. */
  watchPool(usage: () => PoolUsage): void;
}

/** From a few hundred microseconds (a token lookup) to the seconds of a database timeout. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The metrics in a registry of their own, with Node's and the process's (prom-client's defaults). */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({
    name: 'microblog_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status.',
    labelNames,
    registers: [registry],
  });
  const durations = new Histogram({
    name: 'microblog_http_request_duration_seconds',
    help: 'Time from a request to the end of its answer, by method, route template and status.',
    labelNames,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const refusals = new Counter({
    name: 'microblog_rate_limit_refusals_total',
    help: 'Requests answered 429 by a rate limit: requests (per client address), failed-logins-account, failed-logins-address.',
    labelNames: ['limit'] as const,
    registers: [registry],
  });
  const loginFailures = new Counter({
    name: 'microblog_login_failures_total',
    help: 'Logins (POST /api/tokens) refused for a wrong username, email or password.',
    registers: [registry],
  });

  let pool: () => PoolUsage | undefined = () => undefined;
  new Gauge({
    name: 'microblog_db_pool_connections',
    help: 'Database connections open in the pool: in_use (checked out) or idle.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const now = pool();
      if (!now) return;
      this.set({ state: 'in_use' }, now.inUse);
      this.set({ state: 'idle' }, now.idle);
    },
  });
  new Gauge({
    name: 'microblog_db_pool_max_connections',
    help: 'The most connections the pool opens (DATABASE_POOL_MAX).',
    registers: [registry],
    collect() {
      const now = pool();
      if (now) this.set(now.max);
    },
  });
  new Gauge({
    name: 'microblog_db_pool_waiting_checkouts',
    help: 'Queries waiting for a free database connection (each gets 503 after DATABASE_CONNECT_TIMEOUT_MS).',
    registers: [registry],
    collect() {
      const now = pool();
      if (now) this.set(now.waiting);
    },
  });

  return {
    registry,
    requestFinished(method, route, status, seconds) {
      const labels = { method, route, status: String(status) };
      requests.inc(labels);
      durations.observe(labels, seconds);
    },
    rateLimitDeclared(limit) {
      refusals.inc({ limit }, 0);
    },
    rateLimitRefused(limit) {
      refusals.inc({ limit });
    },
    loginFailed() {
      loginFailures.inc();
    },
    watchPool(usage) {
      pool = usage;
    },
  };
}

/**
 * In a cluster worker: answers the primary's requests for this worker's metrics (prom-client's
 * AggregatorRegistry, which adds its listener when one is made, as its example does in
 * every process).
 */
export function reportToPrimary(metrics: Metrics): void {
  AggregatorRegistry.setRegistries([metrics.registry]);
  new AggregatorRegistry();
}

/** In the cluster's primary: every worker's metrics, added up (gauges of the pool too). */
export function clusterMetrics(): { contentType: string; render: () => Promise<string> } {
  const aggregator = new AggregatorRegistry();
  return { contentType: aggregator.contentType, render: () => aggregator.clusterMetrics() };
}
