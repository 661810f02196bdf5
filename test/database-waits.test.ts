import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { domainErrorOf } from '../src/db/errors.js';
import { DatabaseUnavailableError } from '../src/errors.js';
import { closeDb, openDb, type Db } from '../src/db/database.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/db/embedded.js';
import { basic, uniqueName } from './support/factories.js';
import { freeze, freezeCluster, type Frozen } from './support/freeze.js';
import { readAnswer } from './support/http.js';
import { startServerProcess, type ServerProcess } from './support/process.js';
import { PASSWORD } from './support/constants.js';

/**
 * Every wait on the database is bounded: the real server process, with its default
 * settings, on its own embedded PostgreSQL, whose processes the test stops (SIGSTOP) and
 * lets go on (SIGCONT) — connections stay open and the kernel accepts new ones, but
 * nothing answers: unlike a stopped database, nothing fails by itself — or whose rows it
 * holds locked.
 */

/** What the defaults promise: a wait for a connection (3 s) plus one for a query (5 s), and room. */
const DEADLINE_MS = 10_000;
/** READINESS_TIMEOUT_MS (2 s by default), and room for a loaded machine. */
const READINESS_DEADLINE_MS = 5_000;
/** The client gives up after this: only a request that hangs takes so long. */
const CLIENT_TIMEOUT_MS = 30_000;
/** More requests at once than the server's pool has connections (DATABASE_POOL_MAX, 10). */
const AT_ONCE = 12;

let database: EmbeddedPostgres | undefined;
let server: ServerProcess | undefined;
let frozen: Frozen | undefined;

beforeAll(async () => {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'microblog-frozen-'));
  await chmod(folder, 0o755);
  database = await startEmbeddedPostgres({ dataDir: path.join(folder, 'pg'), database: 'frozen' });
  // One client sends everything: the per-client rate limit is not what this is about.
  server = await startServerProcess({ DATABASE_URL: database.url, MIGRATE_ON_START: 'true', RATE_LIMIT_REQUESTS: '100000' });
});

afterEach(() => {
  frozen?.thaw();
  deadlineMs = CLIENT_TIMEOUT_MS;
});

afterAll(async () => {
  frozen?.thaw();
  await server?.kill();
  await database?.stop();
  if (database) await rm(path.dirname(database.dataDir), { recursive: true, force: true });
});

interface Outcome {
  status?: number;
  /** Set when no answer came (within the deadline the call was given). */
  error?: string;
  retryAfter: string | null;
  body: unknown;
}

/**
 * How long the client waits for an answer: CLIENT_TIMEOUT_MS, or while the database hangs,
 * the deadline the server promises. An answer that does not come by then is an outcome of
 * its own ("no answer within … ms"), never a 503: the server's bound is proven by the answer
 * coming, not by timing it.
 */
let deadlineMs = CLIENT_TIMEOUT_MS;

async function call(url: string, init: RequestInit = {}, waitMs = deadlineMs): Promise<Outcome> {
  try {
    const answer = await readAnswer(await fetch(`${server?.baseUrl}${url}`, { ...init, signal: AbortSignal.timeout(waitMs) }));
    return { status: answer.status, retryAfter: answer.headers.get('retry-after'), body: answer.body };
  } catch (err) {
    return { error: (err as Error).name === 'TimeoutError' ? `no answer within ${waitMs} ms` : String(err), retryAfter: null, body: undefined };
  }
}

const statuses = (outcomes: Outcome[]) => outcomes.map((o) => o.status ?? o.error);

function expectUnavailable(outcomes: Outcome[]): void {
  expect(statuses(outcomes)).toEqual(outcomes.map(() => 503));
  for (const o of outcomes) {
    expect(o.body).toEqual({ error: 'Service Unavailable', message: expect.any(String) });
    expect(o.retryAfter).toMatch(/^[1-9]\d*$/);
  }
}

/** Registers a user and logs in: its id and bearer token. */
async function newUser(): Promise<{ userId: number; auth: { Authorization: string } }> {
  const username = uniqueName('frozen');
  const password = PASSWORD;
  const registered = await call('/api/users', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, email: `${username}@example.com`, password }),
  });
  expect(registered.status).toBe(201);
  const login = await call('/api/tokens', { method: 'POST', headers: { Authorization: basic(username, password) } });
  expect(login.status).toBe(200);
  return { userId: (registered.body as { id: number }).id, auth: { Authorization: `Bearer ${(login.body as { token: string }).token}` } };
}

describe('while PostgreSQL hangs', () => {
  it('answers 503 with Retry-After within the deadline, however many wait, says not ready, and serves again once it goes on', async () => {
    const { userId, auth } = await newUser();

    const read = () => call('/api/posts', { headers: auth });
    const keys = [randomBytes(8).toString('hex'), randomBytes(8).toString('hex')];
    const write = (key: string) =>
      call('/api/posts', {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json', 'Idempotency-Key': key },
        body: JSON.stringify({ body: `written while frozen ${key}` }),
      });
    const readiness = (waitMs?: number) => call('/readyz', {}, waitMs);

    // Every connection of the pool open and idle, as on a busy server: the requests that
    // follow find connections whose backend will not answer.
    expect(statuses(await Promise.all(Array.from({ length: AT_ONCE }, read)))).toEqual(Array(AT_ONCE).fill(200));
    expect((await readiness()).status).toBe(200);

    frozen = freezeCluster((database as EmbeddedPostgres).dataDir);
    deadlineMs = DEADLINE_MS;
    const [notReady, ...during] = await Promise.all([
      readiness(READINESS_DEADLINE_MS),
      ...Array.from({ length: AT_ONCE }, read),
      call(`/api/users/${userId}`, { headers: auth }),
      ...keys.map(write),
    ]);
    expect(notReady).toMatchObject({ status: 503, body: { status: 'unavailable', checks: { database: 'unavailable', migrations: 'unknown' } } });
    expect(notReady.retryAfter).toMatch(/^[1-9]\d*$/);
    expectUnavailable(during);
    // The connections given up on are not waited on again: a second round is answered as soon.
    expectUnavailable(await Promise.all(Array.from({ length: AT_ONCE }, read)));

    frozen.thaw();
    deadlineMs = CLIENT_TIMEOUT_MS;
    // No restart: the next requests find the database again, a whole pool's worth at once.
    expect(statuses(await Promise.all(Array.from({ length: AT_ONCE }, read)))).toEqual(Array(AT_ONCE).fill(200));
    expect((await readiness()).status).toBe(200);
    // A write refused while frozen, retried with its key, happens once.
    expect(statuses(await Promise.all(keys.map(write)))).toEqual([201, 201]);
    const posts = await call(`/api/users/${userId}/posts`, { headers: auth });
    expect((posts.body as { items: { body: string }[] }).items.map((p) => p.body).sort()).toEqual(keys.map((k) => `written while frozen ${k}`).sort());

    const process = server as ServerProcess;
    expect(process.child.exitCode).toBeNull();
    expect(process.lines.filter((line) => line.status === 500 || line.level >= 60)).toEqual([]);
    expect(process.stderr()).toBe('');
  }, 180_000);
});

describe('a statement that runs longer than DATABASE_STATEMENT_TIMEOUT_MS', () => {
  it('is cancelled by PostgreSQL and answered 503 with Retry-After, and the next request is served', async () => {
    const { userId, auth } = await newUser();
    const update = () =>
      call(`/api/users/${userId}`, { method: 'PUT', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ about_me: 'hello' }) });
    // The test holds the user's row: the update waits for it (4 s by default).
    const holder = new pg.Client({ connectionString: (database as EmbeddedPostgres).url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [userId]);
      deadlineMs = DEADLINE_MS;
      const refused = await update();
      deadlineMs = CLIENT_TIMEOUT_MS;
      expect(refused).toMatchObject({ status: 503, body: { error: 'Service Unavailable', message: 'the database did not answer in time; try again shortly' } });
      expect(refused.retryAfter).toMatch(/^[1-9]\d*$/);
      await holder.query('ROLLBACK');
    } finally {
      await holder.end();
    }
    expect((await update()).status).toBe(200);
  });
});

describe('a connection whose query timed out', () => {
  let db: Db | undefined;
  afterEach(async () => {
    frozen?.thaw();
    if (db) await closeDb(db);
  });

  const backendPid = async (on: Db) => (await on.raw<{ rows: { pid: number }[] }>('select pg_backend_pid() as pid')).rows[0]?.pid;

  it('is closed, not handed out again: its late answer could land in the next request (a BEGIN, say)', async () => {
    // One connection, so that the pool could only hand out the same one again.
    db = openDb({ url: (database as EmbeddedPostgres).url, poolMax: 1, timeouts: { statementTimeoutMs: 0, queryTimeoutMs: 500, idleInTransactionTimeoutMs: 0 } });
    const first = await backendPid(db);
    frozen = freeze([first as number]);
    await expect(db.raw('select 1')).rejects.toThrow('Query read timeout');
    frozen.thaw();
    const second = await backendPid(db);
    expect(second).toEqual(expect.any(Number));
    expect(second).not.toBe(first);

    frozen = freeze([second as number]);
    await expect(db.transaction((trx) => trx.raw('select 1'))).rejects.toThrow();
    frozen.thaw();
    const third = await backendPid(db);
    expect(third).toEqual(expect.any(Number));
    expect(third).not.toBe(second);
  });

  // Found while replacing knex's patched internals: knex puts the SQL before pg's message.
  it('means the database did not answer in time, also when knex ran the statement (a 503, not a 500)', async () => {
    db = openDb({ url: (database as EmbeddedPostgres).url, poolMax: 1, timeouts: { statementTimeoutMs: 0, queryTimeoutMs: 500, idleInTransactionTimeoutMs: 0 } });
    frozen = freeze([(await backendPid(db)) as number]);
    const failure = await db.raw('select 1').then(
      () => undefined,
      (err: unknown) => err,
    );
    frozen.thaw();
    expect((failure as Error).message).toMatch(/ - Query read timeout$/);
    expect(domainErrorOf(failure)).toEqual(expect.objectContaining({ reason: 'timeout' }));
    expect(domainErrorOf(failure)).toBeInstanceOf(DatabaseUnavailableError);
  });
});
