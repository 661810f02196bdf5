import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parseMetrics, valueOf } from './support/metrics.js';
import { freePort } from './support/ports.js';

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until<T>(what: () => string, probe: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  for (const started = Date.now(); Date.now() - started < timeoutMs; ) {
    const value = probe();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what()}`);
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
    for (const worker of now) expect(alive(worker)).toBe(false);
    expect(messages.filter((m) => m === 'stopped')).toHaveLength(3);
  }, 180_000);
});
