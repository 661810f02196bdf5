import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { loadContract } from '../src/contract.js';
import { closeDb, openDb, type Db } from '../src/db/database.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/db/embedded.js';
import { createLogger } from '../src/logger.js';
import { basic, uniqueName } from './support/factories.js';
import { readAnswer } from './support/http.js';
import { freePort } from './support/ports.js';
import { startServerProcess, type ServerProcess } from './support/process.js';

/**
 * A database outage under load: the real server process runs on its own embedded
 * PostgreSQL, which the test stops and starts again while clients keep reading and writing.
 */

/** Generous: a request during the outage must fail fast, not hang until a client gives up. */
const FAIL_FAST_MS = 5_000;
const WORKERS = 4;
const PAUSE_MS = 20;
/** The least time the database stays down. */
const OUTAGE_MS = 2_000;

interface Outcome {
  kind: 'read' | 'write';
  /** The Idempotency-Key of a write. */
  key?: string;
  startedAt: number;
  endedAt: number;
  status?: number;
  /** Set when there was no HTTP answer at all. */
  error?: string;
  retryAfter: string | null;
  contentType: string | null;
  body: unknown;
}

let dataDir: string;
let port: number;
let database: EmbeddedPostgres | undefined;
let server: ServerProcess | undefined;

beforeAll(async () => {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'microblog-outage-'));
  await chmod(folder, 0o755);
  dataDir = path.join(folder, 'pg');
  port = await freePort();
  database = await startEmbeddedPostgres({ dataDir, port, database: 'outage' });
  // The load and the retries of every refused write are one client's: the per-client rate
  // limit is not what this test is about (test/rate-limit.test.ts is).
  server = await startServerProcess({ DATABASE_URL: database.url, MIGRATE_ON_START: 'true', RATE_LIMIT_REQUESTS: '100000' });
});

afterAll(async () => {
  await server?.kill();
  await database?.stop();
  if (dataDir) await rm(path.dirname(dataDir), { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function call(kind: Outcome['kind'], url: string, init: RequestInit, key?: string): Promise<Outcome> {
  const startedAt = Date.now();
  try {
    const answer = await readAnswer(await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) }));
    return {
      kind,
      key,
      startedAt,
      endedAt: Date.now(),
      status: answer.status,
      retryAfter: answer.headers.get('retry-after'),
      contentType: answer.headers.get('content-type'),
      body: answer.body,
    };
  } catch (err) {
    return { kind, key, startedAt, endedAt: Date.now(), error: String(err), retryAfter: null, contentType: null, body: undefined };
  }
}

describe('while PostgreSQL is down', () => {
  it('answers 503 fast, says not ready, stays up, recovers by itself, and loses nothing it acknowledged', async () => {
    const base = (server as ServerProcess).baseUrl;
    const username = uniqueName('outage');
    const password = 'correct horse battery staple';
    const registered = await call('write', `${base}/api/users`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, email: `${username}@example.com`, password }),
    });
    expect(registered.status).toBe(201);
    const login = await call('write', `${base}/api/tokens`, { method: 'POST', headers: { Authorization: basic(username, password) } });
    expect(login.status).toBe(200);
    const auth = { Authorization: `Bearer ${(login.body as { token: string }).token}` };

    const outcomes: Outcome[] = [];
    let running = true;
    const write = (key: string) =>
      call(
        'write',
        `${base}/api/posts`,
        { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json', 'Idempotency-Key': key }, body: JSON.stringify({ body: `post ${key}` }) },
        key,
      );
    const worker = async (w: number) => {
      for (let n = 0; running; n++) {
        const outcome =
          n % 2 === 0 ? await write(`${w}-${n}-${randomBytes(4).toString('hex')}`) : await call('read', `${base}/api/posts?per_page=5`, { headers: auth });
        outcomes.push(outcome);
        await sleep(PAUSE_MS);
      }
    };
    const readiness = () => call('read', `${base}/readyz`, {});
    const created = (since: number) => outcomes.filter((o) => o.startedAt >= since && o.status === 201).length;
    const unavailable = (since: number) => outcomes.filter((o) => o.startedAt >= since && o.status === 503).length;

    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
    try {
      await until('posts before the outage', () => created(0) >= 10);
      expect((await readiness()).status).toBe(200);

      await (database as EmbeddedPostgres).stop();
      const downFrom = Date.now();
      await until('503s during the outage', () => unavailable(downFrom) >= 20 && Date.now() - downFrom >= OUTAGE_MS);
      const notReady = await readiness();
      expect(notReady).toMatchObject({ status: 503, body: { status: 'unavailable', checks: { database: 'unavailable', migrations: 'unknown' } } });
      expect(notReady.retryAfter).toMatch(/^[1-9]\d*$/);
      const downTo = Date.now();

      database = await startEmbeddedPostgres({ dataDir, port, database: 'outage' });
      const upFrom = Date.now();
      // No restart, no operator: the next requests find the database again.
      await until('posts after the outage', () => created(upFrom) >= 10);
      expect((await readiness()).status).toBe(200);

      running = false;
      await Promise.all(workers);

      // During the outage, every request was answered, and answered 503.
      const duringOutage = outcomes.filter((o) => o.startedAt >= downFrom && o.endedAt <= downTo);
      expect(duringOutage.length).toBeGreaterThanOrEqual(20);
      expect(new Set(duringOutage.map((o) => o.status ?? o.error))).toEqual(new Set([503]));

      // Throughout: only success or 503, never a broken connection or another 5xx.
      const odd = outcomes.filter((o) => ![200, 201, 503].includes(o.status ?? 0));
      expect(odd.map((o) => `${o.kind} ${o.status ?? o.error} ${JSON.stringify(o.body)}`)).toEqual([]);
      for (const o of outcomes.filter((x) => x.status === 503)) {
        expect(o.contentType).toBe('application/json; charset=utf-8');
        expect(o.body).toEqual({ error: 'Service Unavailable', message: expect.any(String) });
        expect(o.retryAfter).toMatch(/^[1-9]\d*$/);
      }
      const slow = outcomes.filter((o) => o.endedAt - o.startedAt >= FAIL_FAST_MS);
      expect(slow.map((o) => `${o.kind} ${o.status} took ${o.endedAt - o.startedAt} ms`)).toEqual([]);

      // The process never fell over.
      const process = server as ServerProcess;
      expect(process.child.exitCode).toBeNull();
      expect(process.lines.filter((line) => line.level >= 60 || line.msg.startsWith('(not JSON)'))).toEqual([]);
      expect(process.stderr()).toBe('');

      // Nothing acknowledged is lost, and a retry of what failed creates it once.
      const writes = outcomes.filter((o) => o.kind === 'write');
      const failedKeys = writes.filter((o) => o.status === 503).map((o) => o.key as string);
      const retried = await Promise.all(failedKeys.map((key) => write(key)));
      expect(retried.map((o) => o.status)).toEqual(failedKeys.map(() => 201));
      const acknowledged = [...writes.filter((o) => o.status === 201), ...retried].map((o) => (o.body as { id: number }).id);
      const client = new pg.Client({ connectionString: (database as EmbeddedPostgres).url });
      await client.connect();
      try {
        const { rows } = await client.query<{ id: number; body: string }>(
          `SELECT p.id::int AS id, p.body FROM posts p JOIN users u ON u.id = p.user_id WHERE u.username = $1`,
          [username],
        );
        expect(rows.map((r) => r.id).sort((a, b) => a - b)).toEqual([...new Set(acknowledged)].sort((a, b) => a - b));
        expect(rows).toHaveLength(writes.length);
      } finally {
        await client.end();
      }
    } finally {
      running = false;
      await Promise.all(workers);
    }
  }, 180_000);
});

describe('while PostgreSQL accepts connections but never answers', () => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((socket) => void sockets.add(socket));
  let app: Server | undefined;
  let db: Db | undefined;
  let base: string;

  beforeAll(async () => {
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    // The defaults, as in production: DATABASE_CONNECT_TIMEOUT_MS and DATABASE_POOL_MAX.
    const config = loadConfig({ NODE_ENV: 'test', RESPONSE_VALIDATION: 'true' });
    const logger = createLogger('silent');
    db = openDb({
      url: `postgres://postgres:postgres@127.0.0.1:${(silent.address() as AddressInfo).port}/none`,
      poolMax: config.databasePoolMax,
      connectTimeoutMs: config.databaseConnectTimeoutMs,
      logger,
    });
    app = createApp({ db, config, contract: loadContract(), logger }).listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => app?.once('listening', () => resolve()));
    base = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    app?.closeAllConnections();
    await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
    if (db) await closeDb(db);
  });

  it('answers 503 with Retry-After within a few seconds, more requests at once than the pool holds', async () => {
    const auth = { Authorization: 'Bearer some-token' };
    const requests = Array.from({ length: 25 }, (_, i) =>
      i % 2 === 0
        ? call('read', `${base}/api/posts`, { headers: auth })
        : call('write', `${base}/api/posts`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: '{"body": "hello"}' }),
    );
    const outcomes = await Promise.all(requests);
    expect(outcomes.map((o) => o.status ?? o.error)).toEqual(outcomes.map(() => 503));
    for (const o of outcomes) {
      expect(o.body).toEqual({ error: 'Service Unavailable', message: expect.any(String) });
      expect(o.retryAfter).toMatch(/^[1-9]\d*$/);
    }
    const slow = outcomes.filter((o) => o.endedAt - o.startedAt >= FAIL_FAST_MS);
    expect(slow.map((o) => `${o.kind} took ${o.endedAt - o.startedAt} ms`)).toEqual([]);
  });
});
