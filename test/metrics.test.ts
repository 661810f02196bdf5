import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadContract } from '../src/contract.js';
import { startMetricsServer } from '../src/http/metrics.js';
import { UNMATCHED_ROUTE } from '../src/http/logging.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { operationsOf } from './support/contract.js';
import { basic, createUser } from './support/factories.js';
import { readAnswer } from './support/http.js';
import { parseMetrics, valueOf, type Sample } from './support/metrics.js';
import { useServer } from './support/server.js';
import { PASSWORD } from './support/constants.js';

const FAILED_LOGINS_PER_ACCOUNT = 2;
const metrics = createMetrics();
const server = useServer({ RATE_LIMIT_FAILED_LOGINS_PER_ACCOUNT: String(FAILED_LOGINS_PER_ACCOUNT) }, { metrics });

let metricsServer: Server;
let metricsUrl: string;
beforeAll(async () => {
  metricsServer = await startMetricsServer(
    { contentType: metrics.registry.contentType, render: () => metrics.registry.metrics() },
    { port: 0, host: '127.0.0.1' },
    createLogger('silent'),
  );
  metricsUrl = `http://127.0.0.1:${(metricsServer.address() as AddressInfo).port}/metrics`;
});
afterAll(() => new Promise<void>((resolve) => metricsServer.close(() => resolve())));

async function scrape(): Promise<Sample[]> {
  const res = await fetch(metricsUrl);
  expect(res.status).toBe(200);
  return parseMetrics(await res.text());
}

const requests = (samples: Sample[], route: string, status: number, method = 'GET') =>
  valueOf(samples, 'microblog_http_requests_total', { method, route, status: String(status) });

describe('GET /metrics on METRICS_PORT', () => {
  it('answers Prometheus text: process and Node metrics, the pool, and every counter of the server', async () => {
    const res = await fetch(metricsUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const text = await res.text();
    for (const [name, type] of [
      ['microblog_http_requests_total', 'counter'],
      ['microblog_http_request_duration_seconds', 'histogram'],
      ['microblog_rate_limit_refusals_total', 'counter'],
      ['microblog_login_failures_total', 'counter'],
      ['microblog_db_pool_connections', 'gauge'],
      ['microblog_db_pool_max_connections', 'gauge'],
      ['microblog_db_pool_waiting_checkouts', 'gauge'],
      ['process_cpu_user_seconds_total', 'counter'],
      ['process_resident_memory_bytes', 'gauge'],
      ['nodejs_eventloop_lag_seconds', 'gauge'],
      ['nodejs_heap_size_used_bytes', 'gauge'],
    ]) {
      expect(text).toContain(`# TYPE ${name} ${type}\n`);
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S`, 'm'));
    }
    const samples = parseMetrics(text);
    // Refusals are counted from 0 for each limit in force, so a rate() has a start.
    for (const limit of ['requests', 'failed-logins-account', 'failed-logins-address']) {
      expect(samples).toContainEqual({ name: 'microblog_rate_limit_refusals_total', labels: { limit }, value: expect.any(Number) });
    }
    expect(valueOf(samples, 'microblog_db_pool_max_connections')).toBe(20); // the test server's pool
    expect(samples.filter((s) => s.name === 'microblog_db_pool_connections').map((s) => s.labels.state).sort()).toEqual(['idle', 'in_use']);
    expect(samples).toContainEqual({ name: 'microblog_db_pool_waiting_checkouts', labels: {}, value: 0 });
  });

  it('counts requests and their durations by route template and status, never by URL', async () => {
    const [viewer, other] = [await createUser(server), await createUser(server)];
    const before = await scrape();
    const gets = [viewer.id, viewer.id, viewer.id, other.id, other.id].map((id) => server.fetch(`/api/users/${id}`, { headers: viewer.auth }));
    expect((await Promise.all(gets)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect((await server.fetch('/api/users/999999999', { headers: viewer.auth })).status).toBe(404);
    expect((await server.fetch('/nope/42')).status).toBe(404);
    expect((await server.fetch(`/api/nope/${viewer.id}`, { headers: viewer.auth })).status).toBe(404);
    const after = await scrape();

    const delta = (route: string, status: number) => requests(after, route, status) - requests(before, route, status);
    expect(delta('/api/users/{id}', 200)).toBe(5);
    expect(delta('/api/users/{id}', 404)).toBe(1);
    expect(delta(UNMATCHED_ROUTE, 404)).toBe(2);

    const histogram = (suffix: string, extra: Record<string, string> = {}) =>
      valueOf(after, `microblog_http_request_duration_seconds_${suffix}`, { method: 'GET', route: '/api/users/{id}', status: '200', ...extra });
    expect(histogram('count')).toBe(requests(after, '/api/users/{id}', 200));
    expect(histogram('bucket', { le: '+Inf' })).toBe(histogram('count'));
    expect(histogram('sum')).toBeGreaterThan(0);
    const buckets = after
      .filter((s) => s.name === 'microblog_http_request_duration_seconds_bucket' && s.labels.route === '/api/users/{id}' && s.labels.status === '200')
      .map((s) => s.value);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));

    // Label values are the contract's templates (or the unmatched marker): bounded, whatever the URLs.
    const templates = new Set([...operationsOf(loadContract().document()).map((o) => o.route), UNMATCHED_ROUTE]);
    const routes = new Set(after.filter((s) => s.name === 'microblog_http_requests_total').map((s) => s.labels.route));
    expect([...routes].filter((route) => !templates.has(route as string))).toEqual([]);
    expect(after.filter((s) => Object.values(s.labels).some((v) => /\/\d|nope/.test(v)))).toEqual([]);
  });

  it('counts failed logins, and refusals by the limit that refused', async () => {
    const user = await createUser(server);
    const before = await scrape();
    const logIn = (password: string) => server.fetch('/api/tokens', { method: 'POST', headers: { Authorization: basic(user.username, password) } });
    const statuses = [];
    for (let i = 0; i <= FAILED_LOGINS_PER_ACCOUNT; i++) statuses.push((await logIn('not the password')).status);
    expect(statuses).toEqual([...Array(FAILED_LOGINS_PER_ACCOUNT).fill(401), 429]);
    expect((await server.fetch('/api/tokens', { method: 'POST', headers: { Authorization: basic((await createUser(server)).username, PASSWORD) } })).status).toBe(200);
    const after = await scrape();

    const change = (name: string, labels: Record<string, string> = {}) => valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(change('microblog_login_failures_total')).toBe(FAILED_LOGINS_PER_ACCOUNT);
    expect(change('microblog_rate_limit_refusals_total', { limit: 'failed-logins-account' })).toBe(1);
    expect(change('microblog_rate_limit_refusals_total', { limit: 'failed-logins-address' })).toBe(0);
    expect(requests(after, '/api/tokens', 429, 'POST') - requests(before, '/api/tokens', 429, 'POST')).toBe(1);
  });

  it('reports the connections checked out of the pool', async () => {
    await server.db.transaction(async (trx) => {
      await trx.raw('select 1');
      expect(valueOf(await scrape(), 'microblog_db_pool_connections', { state: 'in_use' })).toBeGreaterThanOrEqual(1);
    });
  });

  it('answers 404 to other paths of its port and 405 to other methods', async () => {
    const elsewhere = await fetch(new URL('/api', metricsUrl));
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const posted = await fetch(metricsUrl, { method: 'POST' });
    expect(posted.status).toBe(405);
    expect(posted.headers.get('allow')).toBe('GET, HEAD');
  });
});

describe('GET /metrics on the API port', () => {
  it('answers 404: the metrics are not public', async () => {
    const res = await readAnswer(await server.fetch('/metrics', { headers: { Accept: 'application/json' } }));
    expect(res.status).toBe(404);
    expect(res.text).not.toContain('microblog_http_requests_total');
  });
});
