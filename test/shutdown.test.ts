import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { registerAndLogIn } from './support/factories.js';
import { readAnswer, sendTogether, type Answer } from './support/http.js';
import { startServerProcess, type ServerProcess } from './support/process.js';
import { openEventStream } from './support/sse.js';
import { until } from './support/wait.js';

/**
 * The real server process, sent real signals while requests are in flight. Requests are
 * made slow honestly: they wait for a row lock this test holds, and finish when it lets go.
 */

const IN_FLIGHT = 6;

const started: ServerProcess[] = [];
const clients: pg.Client[] = [];
afterEach(async () => {
  for (const server of started.splice(0)) await server.kill();
  for (const client of clients.splice(0)) await client.end().catch(() => undefined);
});

/** The test database, with the server's connections named so the test can find them. */
function databaseUrl(applicationName: string): string {
  const url = new URL(inject('databaseUrl'));
  url.searchParams.set('application_name', applicationName);
  return url.toString();
}

async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: inject('databaseUrl') });
  await client.connect();
  clients.push(client);
  return client;
}

async function start(env: Record<string, string> = {}): Promise<{ server: ServerProcess; applicationName: string }> {
  const applicationName = `shutdown_${randomBytes(4).toString('hex')}`;
  // Requests wait on the test's row lock for as long as it holds it, statement timeouts or not.
  const waitAsLongAsItTakes = { DATABASE_STATEMENT_TIMEOUT_MS: '600000', DATABASE_QUERY_TIMEOUT_MS: '601000' };
  const server = await startServerProcess({ DATABASE_URL: databaseUrl(applicationName), ...waitAsLongAsItTakes, ...env });
  started.push(server);
  return { server, applicationName };
}

/** Registers a user on `server` and logs in: its id and bearer token. */
const newUser = (server: ServerProcess) => registerAndLogIn(server, 'drain');

/** Locks the user's row from the test's own connection: updates of it wait until release. */
async function lockUser(id: number): Promise<{ release(): Promise<void> }> {
  const client = await connect();
  await client.query('BEGIN');
  await client.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [id]);
  return { release: () => client.query('ROLLBACK').then(() => undefined) };
}

/** Waits until `count` of the server's queries are waiting for a lock. */
async function waitForLockWaits(applicationName: string, count: number): Promise<void> {
  const watcher = await connect();
  await until(
    `${count} requests waiting for the lock`,
    async () => {
      const { rows } = await watcher.query<{ waiting: number }>(
        `SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
        [applicationName],
      );
      return (rows[0]?.waiting ?? 0) >= count;
    },
    10_000,
  );
}

/** A PUT of the user's about_me: its answer, or the error if the connection broke. */
function updateAboutMe(
  server: ServerProcess,
  user: { id: number; auth: Record<string, string> },
  aboutMe: string,
): Promise<{ answer?: Answer; error?: unknown }> {
  return fetch(`${server.baseUrl}/api/users/${user.id}`, {
    method: 'PUT',
    headers: { ...user.auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ about_me: aboutMe }),
  })
    .then(readAnswer)
    .then(
      (answer) => ({ answer }),
      (error: unknown) => ({ error }),
    );
}

/** Whether a new TCP connection to the port is refused. */
function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

describe.each(['SIGTERM', 'SIGINT'] as const)('on %s', (signal) => {
  it('fails readiness at once, serves new connections with Connection: close for SHUTDOWN_DELAY_MS, then stops listening, finishes every request in flight, closes the pool and exits 0', async () => {
    const { server, applicationName } = await start({ SHUTDOWN_TIMEOUT_MS: '15000', SHUTDOWN_DELAY_MS: '1500' });
    const user = await newUser(server);
    const lock = await lockUser(user.id);

    const inFlight = Array.from({ length: IN_FLIGHT }, (_, i) => updateAboutMe(server, user, `in flight ${i}`));
    await waitForLockWaits(applicationName, 1);
    // One waits on the row; the others queue behind it, each in its own transaction.
    await waitForLockWaits(applicationName, IN_FLIGHT);

    server.child.kill(signal);
    await server.waitForLine((line) => line.msg === 'shutting down: not ready, finishing requests');
    // Still accepting: a balancer that has not yet seen the probe fail loses nothing.
    const ready = await fetch(`${server.baseUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('connection')).toBe('close');
    expect(ready.headers.get('retry-after')).toBe('5');
    expect(await ready.json()).toEqual({ status: 'stopping', checks: { database: 'unknown', migrations: 'unknown' } });
    const served = await fetch(`${server.baseUrl}/api/users/${user.id}`, { headers: user.auth });
    expect(served.status).toBe(200);
    expect(served.headers.get('connection')).toBe('close');

    // Past the delay, nothing new gets in.
    await until('new connections refused past SHUTDOWN_DELAY_MS', () => connectionRefused(server.port), 10_000);
    expect(await connectionRefused(server.port)).toBe(true);

    await lock.release();
    const answers = await Promise.all(inFlight);
    expect(answers.map((a) => a.answer?.status ?? String(a.error))).toEqual(Array(IN_FLIGHT).fill(200));
    expect(answers.map((a) => (a.answer?.body as { about_me: string }).about_me).sort()).toEqual(
      Array.from({ length: IN_FLIGHT }, (_, i) => `in flight ${i}`).sort(),
    );

    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.lines.find((line) => line.msg === 'stopped')).toMatchObject({ level: 30, drained: true });
    expect(server.lines.filter((line) => line.msg === 'request completed' && line.route === '/api/users/{id}' && line.method === 'PUT')).toHaveLength(IN_FLIGHT);
    expect(server.stderr()).toBe('');
  });

  it('answers all of 40 requests sent together just before it, none reset or refused', async () => {
    const { server } = await start();
    const user = await newUser(server);
    const answers = sendTogether(40, `${server.baseUrl}/api/users/${user.id}`, { headers: user.auth });
    await answers.sent;
    server.child.kill(signal);
    expect(await answers.statuses).toEqual(Array(40).fill(200));
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });
});

describe('a request still running when SHUTDOWN_TIMEOUT_MS is up', () => {
  it('is cut off, and the process exits (1, as it did not drain) instead of waiting for it', async () => {
    const { server, applicationName } = await start({ SHUTDOWN_TIMEOUT_MS: '1000' });
    const user = await newUser(server);
    const lock = await lockUser(user.id);

    const stuck = updateAboutMe(server, user, 'never');
    await waitForLockWaits(applicationName, 1);

    server.child.kill('SIGTERM');
    // The lock is still held: only the bound can end this.
    expect(await server.exited).toEqual({ code: 1, signal: null });
    expect(await stuck).toEqual({ error: expect.any(Error) });
    expect(server.lines.find((line) => line.msg === 'stopped')).toMatchObject({ drained: false });
    expect(server.lines.some((line) => line.level === 40 && /cut off/.test(line.msg))).toBe(true);
    await lock.release();
  });
});

describe('a notification stream open when the server is told to stop', () => {
  it('ends at once, with the server draining and exiting 0 well before SHUTDOWN_TIMEOUT_MS', async () => {
    const { server } = await start({ SHUTDOWN_TIMEOUT_MS: '20000', SHUTDOWN_DELAY_MS: '300' });
    const user = await newUser(server);
    const events = await openEventStream(`${server.baseUrl}/api/notifications/stream`, user.auth);
    expect(events.status).toBe(200);
    await events.next((e) => e.retry !== undefined);
    const stoppedAt = Date.now();
    server.child.kill('SIGTERM');
    await events.ended;
    expect(await server.exited).toEqual({ code: 0, signal: null });
    // The stream would otherwise have held the drain until the timeout (and an exit of 1).
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    expect(server.lines.find((line) => line.msg === 'stopped')).toMatchObject({ drained: true });
  });
});
