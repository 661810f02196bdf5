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
import { until } from './support/wait.js';
import { JSON_TYPE, PASSWORD } from './support/constants.js';

/**
 * A database outage under load: the real server process runs on its own embedded
 * PostgreSQL, which the test stops and starts again while clients keep reading and writing.
 */

/**
 * Generous: a request during the outage must fail fast, not hang until a client gives up.
 * The client gives up after this: no answer by then is an outcome of its own, not a 503.
 */
const FAIL_FAST_MS = 5_000;
const WORKERS = 4;
/** The least number of 503s each worker gets before the database comes back (a while, not a moment). */
const REFUSALS_PER_WORKER = 25;

type Phase = 'before' | 'down' | 'after';

interface Outcome {
  kind: 'read' | 'write';
  /** The Idempotency-Key of a write. */
  key?: string;
  /** Where the database was when the request was sent, and when its answer came. */
  sentIn: Phase;
  answeredIn: Phase;
  worker?: number;
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

/** Where the database is: set by the test as it stops and starts it. */
let phase: Phase = 'before';

async function call(kind: Outcome['kind'], url: string, init: RequestInit, key?: string): Promise<Outcome> {
  const sentIn = phase;
  try {
    const answer = await readAnswer(await fetch(url, { ...init, signal: AbortSignal.timeout(FAIL_FAST_MS) }));
    return {
      kind,
      key,
      sentIn,
      answeredIn: phase,
      status: answer.status,
      retryAfter: answer.headers.get('retry-after'),
      contentType: answer.headers.get('content-type'),
      body: answer.body,
    };
  } catch (err) {
    const error = (err as Error).name === 'TimeoutError' ? `no answer within ${FAIL_FAST_MS} ms` : String(err);
    return { kind, key, sentIn, answeredIn: phase, error, retryAfter: null, contentType: null, body: undefined };
  }
}

describe('while PostgreSQL is down', () => {
  it('answers 503 fast, says not ready, stays up, recovers by itself, and loses nothing it acknowledged', async () => {
    const base = (server as ServerProcess).baseUrl;
    const username = uniqueName('outage');
    const password = PASSWORD;
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
    // Each worker sends its next request once the last is answered.
    const worker = async (w: number) => {
      for (let n = 0; running; n++) {
        const outcome =
          n % 2 === 0 ? await write(`${w}-${n}-${randomBytes(4).toString('hex')}`) : await call('read', `${base}/api/posts?per_page=5`, { headers: auth });
        outcomes.push({ ...outcome, worker: w });
      }
    };
    const readiness = () => call('read', `${base}/readyz`, {});
    const created = (since: Phase) => outcomes.filter((o) => o.sentIn === since && o.status === 201).length;
    const unavailableTo = (w: number) => outcomes.filter((o) => o.sentIn === 'down' && o.worker === w && o.status === 503).length;

    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
    try {
      await until('posts before the outage', () => created('before') >= 10);
      expect((await readiness()).status).toBe(200);

      await (database as EmbeddedPostgres).stop();
      phase = 'down';
      await until(
        () => `${REFUSALS_PER_WORKER} 503s to each worker during the outage, not ${Array.from({ length: WORKERS }, (_, w) => unavailableTo(w)).join(', ')}`,
        () => Array.from({ length: WORKERS }, (_, w) => unavailableTo(w)).every((n) => n >= REFUSALS_PER_WORKER),
      );
      const notReady = await readiness();
      expect(notReady).toMatchObject({ status: 503, body: { status: 'unavailable', checks: { database: 'unavailable', migrations: 'unknown' } } });
      expect(notReady.retryAfter).toMatch(/^[1-9]\d*$/);

      phase = 'after';
      database = await startEmbeddedPostgres({ dataDir, port, database: 'outage' });
      // No restart, no operator: the next requests find the database again.
      await until('posts after the outage', () => created('after') >= 10);
      expect((await readiness()).status).toBe(200);

      running = false;
      await Promise.all(workers);

      // During the outage, every request was answered, and answered 503.
      const duringOutage = outcomes.filter((o) => o.sentIn === 'down' && o.answeredIn === 'down');
      expect(duringOutage.length).toBeGreaterThanOrEqual(20);
      expect(new Set(duringOutage.map((o) => o.status ?? o.error))).toEqual(new Set([503]));

      // Throughout: only success or 503, never a broken connection or another 5xx.
      const odd = outcomes.filter((o) => ![200, 201, 503].includes(o.status ?? 0));
      expect(odd.map((o) => `${o.kind} ${o.status ?? o.error} ${JSON.stringify(o.body)}`)).toEqual([]);
      for (const o of outcomes.filter((x) => x.status === 503)) {
        expect(o.contentType).toBe(JSON_TYPE);
        expect(o.body).toEqual({ error: 'Service Unavailable', message: expect.any(String) });
        expect(o.retryAfter).toMatch(/^[1-9]\d*$/);
      }
      // (A request that hung past FAIL_FAST_MS is among the odd ones above: its client gave up.)

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
    // Within a few seconds: a request with no answer within FAIL_FAST_MS is not a 503 above.
  });
});
