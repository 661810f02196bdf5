import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, uniqueName } from '../support/factories.js';
import { readAnswer, type Answer } from '../support/http.js';
import { freePort } from '../support/ports.js';
import { useServer, type TestServer } from '../support/server.js';
import { until } from '../support/wait.js';

/**
 * Rate limits shared through a real Redis: the machine's (TEST_REDIS_URL, by default
 * 127.0.0.1:6379) under a prefix of this run's own, and a private redis-server that is
 * stopped and started again to see the API ride out the outage.
 */

const MACHINE_REDIS = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PASSWORD = 'correct horse battery staple';
const WRONG = 'not the password at all';

let lastAddress = 0;
/** A client address no other test in this file uses, sent as X-Forwarded-For. */
function newAddress(): string {
  lastAddress += 1;
  return `198.51.100.${lastAddress}`;
}

async function call(on: TestServer, path: string, from: string, init: { method?: string; authorization?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { Accept: 'application/json', 'X-Forwarded-For': from };
  if (init.authorization) headers.Authorization = init.authorization;
  return readAnswer(await on.fetch(path, { method: init.method ?? 'GET', headers }));
}

const logIn = (on: TestServer, login: string, password: string, from: string) =>
  call(on, '/api/tokens', from, { method: 'POST', authorization: basic(login, password) });

async function register(on: TestServer): Promise<string> {
  const username = uniqueName('rl');
  const res = await on.api.POST('/api/users', { body: { username, email: `${username}@example.com`, password: PASSWORD } });
  expect(res.response.status).toBe(201);
  return username;
}

/** What is left of the "requests" policy, from the RateLimit field. */
function remaining(res: Answer): number | undefined {
  const match = /"requests";r=(\d+);t=\d+/.exec(res.headers.get('ratelimit') ?? '');
  return match ? Number(match[1]) : undefined;
}

async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

describe('rate limits shared through Redis', () => {
  const prefix = `microblog-test-${randomBytes(6).toString('hex')}:`;
  const env = {
    REDIS_URL: MACHINE_REDIS,
    REDIS_PREFIX: prefix,
    TRUST_PROXY: 'loopback',
    RATE_LIMIT_REQUESTS: '6',
    RATE_LIMIT_FAILED_LOGINS_PER_ACCOUNT: '3',
    RATE_LIMIT_FAILED_LOGINS_PER_ADDRESS: '1000',
  };
  const first = useServer(env);
  const second = useServer(env);
  let redis: Redis;

  beforeAll(async () => {
    redis = new Redis(MACHINE_REDIS, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
  });

  afterAll(async () => {
    const keys = await keysUnder(redis, prefix);
    if (keys.length) await redis.del(...keys);
    expect(await keysUnder(redis, prefix)).toEqual([]);
    redis.disconnect();
  });

  it('gives a client one limit across two instances', async () => {
    const from = newAddress();
    const left: (number | undefined)[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await call(i % 2 ? second : first, '/api', from);
      expect(res.status).toBe(200);
      left.push(remaining(res));
    }
    expect(left).toEqual([5, 4, 3, 2, 1, 0]);
    for (const instance of [first, second]) {
      const res = await call(instance, '/api', from);
      expect(res.status).toBe(429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(res.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    }
    expect(remaining(await call(second, '/api', newAddress()))).toBe(5);
  });

  it('counts failed logins on either instance against one account, and blocks it on both', async () => {
    const username = await register(first);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await logIn(i % 2 ? second : first, username, WRONG, newAddress())).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    for (const instance of [first, second]) {
      expect((await logIn(instance, username, PASSWORD, newAddress())).status).toBe(429);
    }
  });

  it('lets a burst of logins with the right password through on both instances, and still counts failures on either', async () => {
    const username = await register(first);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => logIn(i % 2 ? second : first, username, PASSWORD, newAddress())));
    expect(answers.map((a) => a.status)).toEqual(Array<number>(20).fill(200));
    const guesses = await Promise.all(Array.from({ length: 10 }, (_, i) => logIn(i % 2 ? second : first, username, WRONG, newAddress())));
    expect(guesses.map((a) => a.status).sort()).toEqual([401, 401, 401, ...Array<number>(7).fill(429)]);
  });

  it('keeps its counts under REDIS_PREFIX, expiring, with no username or email in a key', async () => {
    const username = await register(first);
    const from = newAddress();
    await logIn(first, username, WRONG, from);
    const keys = await keysUnder(redis, prefix);
    expect(keys).toContain(`${prefix}ratelimit:requests:${from}`);
    expect(keys).toContain(`${prefix}ratelimit:failed-logins-address:${from}`);
    expect(keys.filter((k) => k.startsWith(`${prefix}ratelimit:failed-logins-account:`)).length).toBeGreaterThan(0);
    expect(keys.some((k) => k.toLowerCase().includes(username.toLowerCase()))).toBe(false);
    for (const key of keys) expect(await redis.pttl(key)).toBeGreaterThan(0);
  });
});

const privatePort = await freePort();

describe('rate limits while Redis is down', () => {
  const port = privatePort;
  const prefix = `microblog-outage-${randomBytes(6).toString('hex')}:`;
  const url = `redis://127.0.0.1:${port}`;
  let dir: string;
  let redisServer: ChildProcess | undefined;
  let redis: Redis;

  async function startRedis(): Promise<void> {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: 'ignore',
    });
    redisServer = child;
    // The test's client reconnects by itself (retryStrategy): its 'ready' says Redis is up.
    if (redis.status !== 'ready') {
      await new Promise<void>((resolve, reject) => {
        const exited = (code: number | null) => reject(new Error(`redis-server exited with ${code}`));
        child.once('exit', exited);
        redis.once('ready', () => {
          child.off('exit', exited);
          resolve();
        });
      });
    }
    expect(redis.status).toBe('ready');
  }

  async function stopRedis(): Promise<void> {
    const child = redisServer;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'microblog-redis-'));
    redis = new Redis(url, { retryStrategy: () => 50, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    redis.on('error', () => undefined);
    await startRedis();
  });

  afterAll(async () => {
    redis?.disconnect();
    await stopRedis();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const env = { REDIS_URL: url, REDIS_PREFIX: prefix, TRUST_PROXY: 'loopback', RATE_LIMIT_REQUESTS: '4', RATE_LIMIT_FAILED_LOGINS_PER_ACCOUNT: '2' };
  const first = useServer(env);
  const second = useServer(env);

  /** Until an instance counts in Redis again (its client reconnects by itself). */
  async function untilCountedInRedis(instance: TestServer): Promise<void> {
    await until(
      'the instance counts in Redis again',
      async () => {
        const from = newAddress();
        await call(instance, '/api', from);
        return (await redis.exists(`${prefix}ratelimit:requests:${from}`)) === 1;
      },
      10_000,
    );
  }

  it('keeps answering, limiting each instance on its own, and shares the limits again once Redis is back', async () => {
    await untilCountedInRedis(first);
    await untilCountedInRedis(second);
    const before = newAddress();
    expect(remaining(await call(first, '/api', before))).toBe(3);
    expect(remaining(await call(second, '/api', before))).toBe(2);

    await stopRedis();
    const from = newAddress();
    for (let i = 0; i < 4; i++) {
      const res = await call(first, '/api', from);
      expect(res.status).toBe(200);
      expect(remaining(res)).toBe(3 - i);
    }
    expect((await call(first, '/api', from)).status).toBe(429);
    // The other instance has counted nothing for this client meanwhile.
    expect(remaining(await call(second, '/api', from))).toBe(3);
    // Logins still work, and failed ones are still limited.
    const username = await register(first);
    expect((await logIn(first, username, PASSWORD, newAddress())).status).toBe(200);
    const failures = [];
    for (let i = 0; i < 3; i++) failures.push((await logIn(first, username, WRONG, newAddress())).status);
    expect(failures).toEqual([401, 401, 429]);

    await startRedis();
    await untilCountedInRedis(first);
    await untilCountedInRedis(second);
    const after = newAddress();
    expect(remaining(await call(first, '/api', after))).toBe(3);
    expect(remaining(await call(second, '/api', after))).toBe(2);
  });
});
