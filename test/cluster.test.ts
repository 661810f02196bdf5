import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { LogLine } from './support/logs.js';
import { parseMetrics, valueOf } from './support/metrics.js';
import { freePort } from './support/ports.js';
import { isAlive, startServerProcess, type ServerProcess } from './support/process.js';
import { sendTogether } from './support/http.js';
import { until } from './support/wait.js';
import { PASSWORD } from './support/constants.js';

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('WEB_CONCURRENCY=2', () => {
  let primary: ChildProcess | undefined;
  afterAll(() => {
    if (primary?.exitCode === null) primary.kill('SIGKILL');
  });

  it('serves from two workers, adds up their metrics, replaces one that dies, and exits 0 after they drain on SIGTERM', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const base = `http://127.0.0.1:${port}`;
    primary = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: {
        ...process.env,
        NODE_ENV: 'production',
        WEB_CONCURRENCY: '2',
        DATABASE_URL: inject('databaseUrl'),
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        METRICS_PORT: String(metricsPort),
        DATABASE_POOL_MAX: '7',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const messages: string[] = [];
    let partial = '';
    let stderr = '';
    primary.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) messages.push(line.startsWith('{') ? (JSON.parse(line) as { msg: string }).msg : line);
    });
    primary.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => primary?.on('exit', (code) => resolve(code)));
    const listening = () => messages.filter((m) => m.startsWith('Microblog API on')).length;

    await until(() => `two workers listening; stderr: ${stderr}`, () => listening() === 2);
    const pid = primary.pid as number;
    const workers = childrenOf(pid);
    expect(workers).toHaveLength(2);
    const answers = await Promise.all(Array.from({ length: 8 }, () => fetch(`${base}/api`)));
    expect(answers.map((r) => r.status)).toEqual(Array(8).fill(200));
    // The primary's /metrics adds up both workers': their requests, and their pools' sizes.
    const scrape = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(scrape.status).toBe(200);
    const samples = parseMetrics(await scrape.text());
    expect(valueOf(samples, 'microblog_http_requests_total', { method: 'GET', route: '/api', status: '200' })).toBe(8);
    expect(valueOf(samples, 'microblog_db_pool_max_connections')).toBe(2 * 7);
    expect((await fetch(`${base}/metrics`)).status).toBe(404);

    process.kill(workers[0] as number, 'SIGKILL');
    await until(() => `a replacement worker listening; stderr: ${stderr}`, () => listening() === 3);
    expect(messages).toContain('worker died; starting another');
    const now = childrenOf(pid);
    expect(now).toHaveLength(2);
    expect(now).not.toContain(workers[0]);
    expect((await fetch(`${base}/api`)).status).toBe(200);

    primary.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const worker of now) expect(isAlive(worker)).toBe(false);
    expect(messages.filter((m) => m === 'stopped')).toHaveLength(3);
  }, 180_000);
});

describe('WEB_CONCURRENCY=2 on SIGTERM', () => {
  it('drains as one server does: readiness 503 at once, and all of 40 requests sent just before it answered', async () => {
    const server = await startServerProcess({ WEB_CONCURRENCY: '2', DATABASE_URL: inject('databaseUrl'), SHUTDOWN_DELAY_MS: '1000' });
    try {
      await until(() => 'two workers listening', () => server.lines.filter((l) => l.msg.startsWith('Microblog API on')).length === 2);
      const answers = sendTogether(40, `${server.baseUrl}/api`);
      await answers.sent;
      server.child.kill('SIGTERM');
      await server.waitForLine((line) => line.msg === 'shutting down: not ready, finishing requests');
      const ready = await fetch(`${server.baseUrl}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { status: string }).status).toBe('stopping');
      expect(await answers.statuses).toEqual(Array(40).fill(200));
      expect(await server.exited).toEqual({ code: 0, signal: null });
      expect(server.lines.filter((l) => l.msg === 'stopped')).toHaveLength(3);
    } finally {
      await server.kill();
    }
  });
});

/** GET over a connection of its own (no keep-alive): the cluster hands each connection to a worker in turn. */
function getOnNewConnection(url: string, requestId: string): Promise<{ status: number; rateLimit: string | undefined; policy: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { Accept: 'application/json', Connection: 'close', 'X-Request-Id': requestId } }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, rateLimit: res.headers.ratelimit as string | undefined, policy: res.headers['ratelimit-policy'] as string | undefined }),
      );
    });
    req.on('error', reject);
  });
}

describe('WEB_CONCURRENCY=2: rate limits', () => {
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.kill();
  });

  it.each([
    ['without Redis', {}],
    // The limiters' insurance while Redis is down: the machine's count, still one for both workers.
    ['while Redis is unreachable', { REDIS_URL: 'redis://127.0.0.1:1' }],
  ])('counts one limit for the machine %s: of 20 requests spread over both workers, exactly 10 pass, counting down 9 to 0', async (_, env) => {
    await server?.kill();
    server = await startServerProcess({
      WEB_CONCURRENCY: '2',
      DATABASE_URL: inject('databaseUrl'),
      RATE_LIMIT_REQUESTS: '10',
      RATE_LIMIT_WINDOW_SECONDS: '600',
      ...env,
    });
    const listening = (line: LogLine) => typeof line.msg === 'string' && line.msg.startsWith('Microblog API on');
    const first = await server.waitForLine(listening);
    await server.waitForLine((line) => listening(line) && line.pid !== first.pid, 120_000);

    const answers = [];
    for (let i = 0; i < 20; i++) answers.push(await getOnNewConnection(`${server.baseUrl}/api`, `cluster-limit-${i}`));

    expect(answers.map((a) => a.status)).toEqual([...Array<number>(10).fill(200), ...Array<number>(10).fill(429)]);
    expect(answers.map((a) => a.policy)).toEqual(Array(20).fill('"requests";q=10;w=600'));
    const remaining = answers.map((a) => Number(/^"requests";r=(\d+);t=\d+$/.exec(a.rateLimit ?? '')?.[1]));
    expect(remaining).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, ...Array<number>(10).fill(0)]);

    // Both workers answered: the count above was shared, not one worker's alone.
    const servedBy = new Set<unknown>();
    for (let i = 0; i < 20; i++) servedBy.add((await server.waitForLine((line) => line.reqId === `cluster-limit-${i}`)).pid);
    expect(servedBy.size).toBe(2);
  }, 180_000);
});

describe('WEB_CONCURRENCY=2: failed logins', () => {
  it('counts the checks under way in the primary too: of 20 concurrent wrong guesses spread over both workers, exactly 3 are checked', async () => {
    const server = await startServerProcess({ WEB_CONCURRENCY: '2', DATABASE_URL: inject('databaseUrl'), RATE_LIMIT_FAILED_LOGINS_PER_ACCOUNT: '3' });
    try {
      await until(() => 'two workers listening', () => server.lines.filter((l) => l.msg.startsWith('Microblog API on')).length === 2);
      const username = `guessed_${Date.now()}`;
      const created = await fetch(`${server.baseUrl}/api/users`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username, email: `${username}@example.com`, password: PASSWORD }),
      });
      expect(created.status).toBe(201);
      const guess = () =>
        new Promise<number>((resolve, reject) => {
          const req = http.request(
            `${server.baseUrl}/api/tokens`,
            { method: 'POST', agent: false, headers: { Authorization: `Basic ${Buffer.from(`${username}:wrong guess`).toString('base64')}`, Connection: 'close' } },
            (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            },
          );
          req.on('error', reject);
          req.end();
        });
      const statuses = await Promise.all(Array.from({ length: 20 }, guess));
      expect(statuses.filter((s) => s === 401)).toHaveLength(3);
      expect(statuses.filter((s) => s === 429)).toHaveLength(17);
    } finally {
      await server.kill();
    }
  });
});
