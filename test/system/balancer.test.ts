import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startNginx, type Nginx } from '../support/nginx.js';
import { freePort } from '../support/ports.js';
import { until } from '../support/wait.js';

/**
 * Two server processes on one PostgreSQL and one Redis, behind a real nginx: what operators
 * run. Nothing here is simulated; every request crosses the balancer or a real instance.
 */

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON read back from the wire
}

/** One HTTP request; `from` picks the client's own loopback address (127.0.0.x). */
function request(
  url: string,
  { method = 'GET', headers = {}, body, from }: { method?: string; headers?: Record<string, string>; body?: unknown; from?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      url,
      {
        method,
        localAddress: from,
        agent: false,
        headers: { Accept: 'application/json', ...(payload ? { 'Content-Type': 'application/json' } : {}), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const basic = (login: string, password: string) => `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}`;

async function waitFor(url: string, child: ChildProcess, output: () => string): Promise<void> {
  await until(
    () => `${url} answering:\n${output()}`,
    async () => {
      if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode}:\n${output()}`);
      // Not listening yet, until it answers.
      return request(url).then((res) => res.status < 500, () => false);
    },
    60_000,
  );
}

function start(command: string, args: string[], env: Record<string, string> = {}) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  return { child, output: () => output };
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

const redisPrefix = `microblog-lb-${randomBytes(4).toString('hex')}:`;
const FAILED_LOGINS_PER_ACCOUNT = 4;
const FAILED_LOGINS_PER_ADDRESS = 6;

describe('two instances behind nginx', () => {
  let nginx: Nginx | undefined;
  let balancer: string;
  const instances: string[] = [];
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    const ports = [await freePort(), await freePort()];

    for (const port of ports) {
      const server = start(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: String(port),
        DATABASE_URL: inject('databaseUrl'),
        LOG_LEVEL: 'warn',
        TRUST_PROXY: 'loopback',
        REDIS_URL: 'redis://127.0.0.1:6379',
        REDIS_PREFIX: redisPrefix,
        RATE_LIMIT_FAILED_LOGINS_PER_ACCOUNT: String(FAILED_LOGINS_PER_ACCOUNT),
        RATE_LIMIT_FAILED_LOGINS_PER_ADDRESS: String(FAILED_LOGINS_PER_ADDRESS),
      });
      children.push(server.child);
      instances.push(`http://127.0.0.1:${port}`);
      await waitFor(`http://127.0.0.1:${port}/api`, server.child, server.output);
    }

    // The configuration docs/operations.md gives operators.
    nginx = await startNginx({ upstreams: ports });
    balancer = nginx.url;
  });

  afterAll(async () => {
    await nginx?.stop();
    await Promise.all(children.map(stop));
  });

  it('spreads requests over both instances', async () => {
    const upstreams = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const res = await request(`${balancer}/api`);
      expect(res.status).toBe(200);
      upstreams.add(String(res.headers['x-upstream']));
    }
    expect(upstreams).toEqual(new Set(instances.map((u) => u.replace('http://', ''))));
  });

  it('accepts a token issued by one instance on the other, and links lead back through the balancer', async () => {
    const username = `lb_${randomBytes(5).toString('hex')}`;
    const password = 'correct horse battery staple';
    const created = await request(`${balancer}/api/users`, {
      method: 'POST',
      body: { username, email: `${username}@example.com`, password },
    });
    expect(created.status).toBe(201);
    const self = new URL(String(created.headers.location), `${balancer}/`);
    expect(self.origin).toBe(balancer);
    expect(new URL(created.body._links.self, `${balancer}/`).href).toBe(self.href);

    const [first, second] = instances as [string, string];
    const issued = await request(`${first}/api/tokens`, { method: 'POST', headers: { Authorization: basic(username, password) } });
    expect(issued.status).toBe(200);
    const auth = { Authorization: `Bearer ${issued.body.token}` };

    const elsewhere = await request(`${second}/api/users/${created.body.id}`, { headers: auth });
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.body.email).toBe(`${username}@example.com`); // shown to its owner only: the token was accepted

    for (let i = 0; i < 4; i++) {
      const through = await request(self.href, { headers: auth });
      expect(through.status).toBe(200);
      expect(through.body.email).toBe(`${username}@example.com`);
    }

    const revoked = await request(`${second}/api/tokens`, { method: 'DELETE', headers: auth });
    expect(revoked.status).toBe(204);
    const afterRevoke = await request(`${first}/api/users/${created.body.id}`, { headers: auth });
    expect(afterRevoke.status).toBe(401);
  });

  it('shares the failed-login limit between instances, keyed by the real client behind the balancer', async () => {
    const username = `lb_${randomBytes(5).toString('hex')}`;
    const password = 'correct horse battery staple';
    expect(
      (await request(`${balancer}/api/users`, { method: 'POST', body: { username, email: `${username}@example.com`, password } })).status,
    ).toBe(201);

    const statuses: number[] = [];
    const upstreams = new Set<string>();
    for (let i = 0; i < FAILED_LOGINS_PER_ACCOUNT + 1; i++) {
      const res = await request(`${balancer}/api/tokens`, { method: 'POST', headers: { Authorization: basic(username, 'wrong password!') } });
      statuses.push(res.status);
      upstreams.add(String(res.headers['x-upstream']));
    }
    expect(upstreams.size).toBe(2); // the failures were counted on both instances
    expect(statuses).toEqual([...Array(FAILED_LOGINS_PER_ACCOUNT).fill(401), 429]);

    // Blocked everywhere, even with the right password, whichever instance answers.
    for (const base of instances) {
      const res = await request(`${base}/api/tokens`, { method: 'POST', headers: { Authorization: basic(username, password) } });
      expect(res.status).toBe(429);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    }
  });

  it('limits failed logins per client address as nginx reports it, not per balancer', async () => {
    const attempt = (from: string) =>
      request(`${balancer}/api/tokens`, {
        method: 'POST',
        from,
        headers: { Authorization: basic(`nobody_${randomBytes(5).toString('hex')}`, 'guess') },
      });
    const statuses: number[] = [];
    for (let i = 0; i < FAILED_LOGINS_PER_ADDRESS + 1; i++) statuses.push((await attempt('127.0.0.2')).status);
    expect(statuses).toEqual([...Array(FAILED_LOGINS_PER_ADDRESS).fill(401), 429]);

    // Another client behind the same balancer is not punished for it.
    expect((await attempt('127.0.0.3')).status).toBe(401);
  });
});
