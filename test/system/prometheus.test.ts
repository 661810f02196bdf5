import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createMicroblogClient } from '../../sdk/typescript/src/index.js';
import { startDaemon, type Daemon } from '../support/daemon.js';
import { basic, uniqueName } from '../support/factories.js';
import { freePort } from '../support/ports.js';
import { startServerProcess, type ServerProcess } from '../support/process.js';
import { until } from '../support/wait.js';

/**
 * The server as operators run it (two workers, METRICS_PORT) scraped by a real Prometheus
 * (Debian's `prometheus`, on free ports of 127.0.0.1 with a configuration written here,
 * scraping every second): what Prometheus's HTTP API answers is the traffic just sent.
 */

const PASSWORD = 'correct horse battery staple';

describe('metrics scraped by Prometheus', () => {
  let dir: string;
  let server: ServerProcess;
  let prometheus: Daemon;
  let prometheusUrl: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'microblog-prometheus-'));
    const metricsPort = await freePort();
    server = await startServerProcess({
      DATABASE_URL: inject('databaseUrl'),
      WEB_CONCURRENCY: '2',
      METRICS_PORT: String(metricsPort),
    });
    await writeFile(
      path.join(dir, 'prometheus.yml'),
      `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: microblog-api
    static_configs:
      - targets: ['127.0.0.1:${metricsPort}']
`,
    );
    const port = await freePort();
    prometheusUrl = `http://127.0.0.1:${port}`;
    prometheus = startDaemon('prometheus', [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ]);
    await prometheus.waitForOutput(/Server is ready to receive web requests/);
  });

  afterAll(async () => {
    await prometheus?.stop();
    await server?.kill();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The value of a PromQL expression now, through Prometheus's HTTP API (undefined: no sample). */
  async function query(expression: string): Promise<number | undefined> {
    const res = await fetch(`${prometheusUrl}/api/v1/query?${new URLSearchParams({ query: expression })}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; data: { result: { value: [number, string] }[] } };
    expect(body.status).toBe('success');
    const [sample] = body.data.result;
    return sample ? Number(sample.value[1]) : undefined;
  }

  /** Until Prometheus has scraped `expected` for each expression. */
  async function scraped(expected: Record<string, number>): Promise<void> {
    let last: Record<string, number | undefined> = {};
    await until(() => `Prometheus to answer ${JSON.stringify(expected)} (last: ${JSON.stringify(last)})`, async () => {
      last = Object.fromEntries(await Promise.all(Object.keys(expected).map(async (e) => [e, await query(e)] as const)));
      return Object.entries(expected).every(([e, value]) => last[e] === value);
    });
  }

  it('answers queries with the requests, statuses and failed logins the test just sent', async () => {
    const api = createMicroblogClient({ baseUrl: server.baseUrl });
    const username = uniqueName('prom');
    const created = await api.POST('/api/users', { body: { username, email: `${username}@example.com`, password: PASSWORD } });
    expect(created.response.status).toBe(201);
    const id = created.data?.id as number;
    await api.login(username, PASSWORD);

    for (let i = 0; i < 7; i++) expect((await api.GET('/api/users/{id}', { params: { path: { id } } })).response.status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await api.GET('/api/users/{id}', { params: { path: { id: 999_999_999 } } })).response.status).toBe(404);
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${server.baseUrl}/api/tokens`, { method: 'POST', headers: { Authorization: basic(username, 'not the password') } });
      expect(res.status).toBe(401);
    }

    await scraped({
      'up{job="microblog-api"}': 1,
      'sum(microblog_http_requests_total{method="GET",route="/api/users/{id}",status="200"})': 7,
      'sum(microblog_http_requests_total{method="GET",route="/api/users/{id}",status="404"})': 3,
      'sum(microblog_http_requests_total{method="POST",route="/api/users",status="201"})': 1,
      'sum(microblog_http_requests_total{method="POST",route="/api/tokens",status="401"})': 2,
      'sum(microblog_http_request_duration_seconds_count{route="/api/users/{id}"})': 10,
      'sum(microblog_login_failures_total)': 2,
      // Both workers' pools (10 connections each by default), added up by the primary.
      microblog_db_pool_max_connections: 20,
    });
    // One series per template, whatever the ids in the URLs.
    expect(await query('count(microblog_http_requests_total{route=~".*[0-9].*"})')).toBeUndefined();
    expect(await query('histogram_quantile(0.5, sum by (le) (microblog_http_request_duration_seconds_bucket{route="/api/users/{id}"}))')).toBeGreaterThan(0);
  });
});
