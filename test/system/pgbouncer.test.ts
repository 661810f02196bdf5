import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createMicroblogClient, type MicroblogClient } from '../../sdk/typescript/src/index.js';
import { migrationSource } from '../../db/migrations/index.js';
import { openDatabase } from '../../src/db/open.js';
import { createLogger } from '../../src/logger.js';
import { createScratchDatabase, runSql } from '../support/databases.js';
import { startDaemon, type Daemon } from '../support/daemon.js';
import { registerAndLogIn, uniqueName } from '../support/factories.js';
import { send } from '../support/http.js';
import { freePort } from '../support/ports.js';
import { startServerProcess, type ServerProcess } from '../support/process.js';
import { openStream } from '../support/event-stream.js';
import { until } from '../support/wait.js';

/**
 * The server through a real PgBouncer (Debian's `pgbouncer`) in transaction mode, where
 * each transaction of a client connection may run on another server connection: start-up
 * migrations must not rest on a session-level lock, nor requests on any session state.
 * Each test has a fresh database of its own behind PgBouncer.
 */

/** Server connections PgBouncer keeps per database: fewer than the instances' clients. */
const SERVER_POOL_SIZE = 4;
/** Far less than the 600 s a lock left on an idle server connection made the next start wait. */
const START_WITHIN_MS = 60_000;
const PASSWORD = 'correct horse battery staple';
/** Room for a start that overruns START_WITHIN_MS to fail with its own message. */
const TEST_TIMEOUT_MS = 3 * START_WITHIN_MS;
/** The databases behind PgBouncer, by the name clients use: one per test. */
const DATABASES = ['racing', 'starting', 'serving', 'notifying'] as const;
type Database = (typeof DATABASES)[number];

describe('through PgBouncer in transaction mode', () => {
  let dir: string;
  const scratch = new Map<Database, { url: string; drop: () => Promise<void> }>();
  let pgbouncer: Daemon;
  let port: number;
  const servers: ServerProcess[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'microblog-pgbouncer-'));
    const entries: string[] = [];
    for (const name of DATABASES) {
      const database = await createScratchDatabase(inject('databaseUrl'), `microblog_pgbouncer_${name}`);
      scratch.set(name, database);
      // What docs/operations.md has operators do: PgBouncer refuses these as startup
      // parameters, so the database carries them (the instances send none, below).
      await runSql(database.url, `ALTER DATABASE "${new URL(database.url).pathname.slice(1)}" SET statement_timeout = '4s'`);
      await runSql(database.url, `ALTER DATABASE "${new URL(database.url).pathname.slice(1)}" SET idle_in_transaction_session_timeout = '10s'`);
      const target = new URL(database.url);
      const connection = [
        `host=${target.hostname}`,
        `port=${target.port || 5432}`,
        `dbname=${target.pathname.slice(1)}`,
        `user=${decodeURIComponent(target.username)}`,
        ...(target.password ? [`password=${decodeURIComponent(target.password)}`] : []),
        `pool_size=${SERVER_POOL_SIZE}`,
      ];
      entries.push(`${name} = ${connection.join(' ')}`);
    }
    port = await freePort();
    const config = path.join(dir, 'pgbouncer.ini');
    await writeFile(
      config,
      `[databases]
${entries.join('\n')}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
pool_mode = transaction
auth_type = any
admin_users = postgres
max_client_conn = 200
`,
    );
    // PgBouncer refuses to run as root; it reads its configuration before it switches user.
    const asUser = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
    pgbouncer = startDaemon('pgbouncer', [...asUser, config], { PATH: `${process.env.PATH}:/usr/sbin` });
    await pgbouncer.waitForOutput(/process up/);
  });

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.kill()));
  });

  afterAll(async () => {
    await pgbouncer?.stop();
    await Promise.all([...scratch.values()].map((database) => database.drop()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The settings PgBouncer would refuse as startup parameters, off (the database has them). */
  const BEHIND_PGBOUNCER = { DATABASE_STATEMENT_TIMEOUT_MS: '0', DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '0' };

  const pooledUrl = (database: Database) => `postgres://postgres@127.0.0.1:${port}/${database}`;

  /** Instances on PgBouncer, all started at the same moment, migrating at start. */
  async function startInstances(database: Database, count: number, env: Record<string, string> = {}): Promise<ServerProcess[]> {
    const started = await Promise.all(
      Array.from({ length: count }, () =>
        startServerProcess(
          { DATABASE_URL: pooledUrl(database), MIGRATE_ON_START: 'true', ...BEHIND_PGBOUNCER, ...env },
          { noWait: true },
        ),
      ),
    );
    servers.push(...started);
    await Promise.all(started.map((s) => s.waitForLine((line) => String(line.msg).startsWith('Microblog API on'), START_WITHIN_MS)));
    return started;
  }

  /** One statement straight on PostgreSQL, past PgBouncer. */
  async function direct<R extends pg.QueryResultRow>(database: Database, sql: string): Promise<R[]> {
    const client = new pg.Client({ connectionString: scratch.get(database)?.url });
    await client.connect();
    try {
      return (await client.query<R>(sql)).rows;
    } finally {
      await client.end();
    }
  }

  /** The advisory locks held in the database, by any session (PgBouncer keeps its server connections open). */
  const advisoryLocks = (database: Database) =>
    direct(database, "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())");

  /** PgBouncer's admin console (SHOW, PAUSE, RESUME …). */
  async function admin<R extends pg.QueryResultRow>(command: string): Promise<R[]> {
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/pgbouncer` });
    await client.connect();
    try {
      return (await client.query<R>(command)).rows;
    } finally {
      await client.end();
    }
  }

  /** Rejects when `work` takes longer than `ms`, naming `what`. */
  function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    });
    return Promise.race([work, late]).finally(() => clearTimeout(timer));
  }

  it('lets start-ups that race through it (openDatabase, as the server, cluster and db:* run it) migrate once and leave no lock', async () => {
    const logger = createLogger('silent');
    const config = {
      databaseUrl: pooledUrl('racing'),
      embeddedPg: { dataDir: undefined, port: undefined },
      databaseConnectTimeoutMs: 10_000,
      databasePoolMax: 2,
      databaseTimeouts: { statementTimeoutMs: 0, queryTimeoutMs: 0, idleInTransactionTimeoutMs: 0 },
      databaseKeepAliveDelayMs: 10_000,
    };
    for (let round = 1; round <= 5; round++) {
      const starts = Array.from({ length: 4 }, () => openDatabase(config, logger, { role: 'server', migrate: true }).then((database) => database.close()));
      await within(START_WITHIN_MS, `round ${round} of four start-ups at once`, Promise.all(starts));
      expect(await advisoryLocks('racing')).toEqual([]);
    }
    const names = await direct<{ name: string }>('racing', 'SELECT name FROM knex_migrations ORDER BY id');
    expect(names.map((r) => r.name)).toEqual(await migrationSource.getMigrations([]));
  }, TEST_TIMEOUT_MS);

  it('lets two instances that start at once migrate once, and one started after them start without waiting', async () => {
    // Paused until both wait on it, so that their starts overlap however long each takes to load.
    await admin('PAUSE starting');
    const starting = startInstances('starting', 2, { DATABASE_CONNECT_TIMEOUT_MS: String(START_WITHIN_MS) });
    starting.catch(() => undefined); // awaited below, after RESUME
    await until('both instances waiting on PgBouncer', async () => (await admin<{ database: string; cl_waiting: number }>('SHOW POOLS')).some((p) => p.database === 'starting' && Number(p.cl_waiting) >= 2));
    await admin('RESUME starting');
    const [first, second] = await starting;
    const applied = [...(first?.lines ?? []), ...(second?.lines ?? [])].filter((l) => l.msg === 'migrations applied');
    expect(applied.map((l) => l.applied)).toEqual([await migrationSource.getMigrations([])]);

    const names = await direct<{ name: string }>('starting', 'SELECT name FROM knex_migrations ORDER BY id');
    expect(names.map((r) => r.name)).toEqual(await migrationSource.getMigrations([]));
    // No migration lock is left behind on any server connection PgBouncer keeps open.
    expect(await advisoryLocks('starting')).toEqual([]);
    expect(await direct('starting', 'SELECT is_locked FROM knex_migrations_lock')).toEqual([{ is_locked: 0 }]);

    const [third] = await startInstances('starting', 1);
    expect(third?.lines.some((l) => l.msg === 'migrations applied')).toBe(false);
    for (const instance of [first, second, third]) {
      expect((await fetch(`${instance?.baseUrl}/readyz`)).status).toBe(200);
    }
  }, TEST_TIMEOUT_MS);

  it('bounds statements by the database\'s own settings, which PgBouncer passes to every server connection', async () => {
    const client = new pg.Client({ connectionString: pooledUrl('serving') });
    await client.connect();
    try {
      expect((await client.query('SHOW statement_timeout')).rows).toEqual([{ statement_timeout: '4s' }]);
      await expect(client.query('SELECT pg_sleep(5)')).rejects.toMatchObject({ code: '57014' });
    } finally {
      await client.end();
    }
  });

  it('serves registration, logins, follows, posts, idempotent retries, conditional updates and revocation across two instances', async () => {
    const instances = await startInstances('serving', 2);
    const [a, b] = instances.map((s) => createMicroblogClient({ baseUrl: s.baseUrl })) as [MicroblogClient, MicroblogClient];
    const login = async (on: ServerProcess | undefined, username: string) =>
      (await createMicroblogClient({ baseUrl: on?.baseUrl ?? '' }).login(username, PASSWORD)).token;

    const register = async (client: MicroblogClient) => {
      const username = uniqueName('pgb');
      const res = await client.POST('/api/users', { body: { username, email: `${username}@example.com`, password: PASSWORD } });
      expect(res.response.status).toBe(201);
      return { id: res.data?.id as number, username };
    };
    const alice = await register(a);
    const bob = await register(b);
    // Alice logs in on B and uses her token on A; Bob the other way round.
    const aliceToken = await login(instances[1], alice.username);
    const bobToken = await login(instances[0], bob.username);
    const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

    const self = await a.GET('/api/users/{id}', { params: { path: { id: alice.id } }, headers: auth(aliceToken) });
    expect(self.response.status).toBe(200);
    expect(self.data?.email).toBe(`${alice.username}@example.com`);

    const follow = await a.PUT('/api/users/{id}/followed/{target_id}', {
      params: { path: { id: alice.id, target_id: bob.id } },
      headers: auth(aliceToken),
    });
    expect(follow.response.status).toBe(204);
    const follows = await b.GET('/api/users/{id}/followed/{target_id}', {
      params: { path: { id: alice.id, target_id: bob.id } },
      headers: auth(aliceToken),
    });
    expect(follows.response.status).toBe(204);

    const key = uniqueName('key');
    const posted = await b.POST('/api/posts', { body: { body: 'hello through PgBouncer' }, headers: { ...auth(bobToken), 'Idempotency-Key': key } });
    expect(posted.response.status).toBe(201);
    const retried = await a.POST('/api/posts', { body: { body: 'hello through PgBouncer' }, headers: { ...auth(bobToken), 'Idempotency-Key': key } });
    expect(retried.response.status).toBe(201);
    expect(retried.response.headers.get('idempotent-replayed')).toBe('true');
    expect(retried.data?.id).toBe(posted.data?.id);

    const feed = await a.GET('/api/users/{id}/feed', { params: { path: { id: alice.id } }, headers: auth(aliceToken) });
    expect(feed.response.status).toBe(200);
    expect(feed.data?.items.map((p) => p.id)).toEqual([posted.data?.id]);

    const current = await b.GET('/api/users/{id}', { params: { path: { id: alice.id } }, headers: auth(aliceToken) });
    const etag = current.response.headers.get('etag') ?? '';
    const updated = await b.PUT('/api/users/{id}', {
      params: { path: { id: alice.id } },
      body: { about_me: 'pooled' },
      headers: { ...auth(aliceToken), 'If-Match': etag },
    });
    expect(updated.response.status).toBe(200);
    const stale = await a.PUT('/api/users/{id}', {
      params: { path: { id: alice.id } },
      body: { about_me: 'lost update' },
      headers: { ...auth(aliceToken), 'If-Match': etag },
    });
    expect(stale.response.status).toBe(412);

    // Many requests at once: each instance opens several connections to PgBouncer, which
    // runs their transactions on its few server connections in turn.
    const burst = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        (i % 2 ? a : b).GET('/api/users/{id}', { params: { path: { id: i % 3 ? alice.id : bob.id } }, headers: auth(aliceToken) }),
      ),
    );
    expect(burst.map((r) => r.response.status)).toEqual(Array(60).fill(200));
    const clients = await admin<{ database: string }>('SHOW CLIENTS');
    const serverConnections = await admin<{ database: string }>('SHOW SERVERS');
    expect(clients.filter((c) => c.database === 'serving').length).toBeGreaterThan(SERVER_POOL_SIZE);
    expect(serverConnections.filter((s) => s.database === 'serving').length).toBeLessThanOrEqual(SERVER_POOL_SIZE);

    expect((await a.DELETE('/api/tokens', { headers: auth(aliceToken) })).response.status).toBe(204);
    const revoked = await b.GET('/api/users/{id}', { params: { path: { id: alice.id } }, headers: auth(aliceToken) });
    expect(revoked.response.status).toBe(401);
  }, TEST_TIMEOUT_MS);

  it('pushes notifications between instances whose queries go through PgBouncer, each listening on NOTIFICATIONS_DATABASE_URL', async () => {
    // PgBouncer in transaction mode cannot hold a LISTEN: the instances listen on PostgreSQL itself.
    const instances = await startInstances('notifying', 2, {
      NOTIFICATIONS_DATABASE_URL: scratch.get('notifying')?.url ?? '',
      NOTIFICATIONS_HEARTBEAT_SECONDS: '1',
    });
    const [first, second] = instances as [ServerProcess, ServerProcess];
    const reader = await registerAndLogIn(first, 'pgb');
    const writer = await registerAndLogIn(second, 'pgb');
    // Two streams on the first instance, one on the second; each is live once its retry line is in.
    const streams = [
      await openStream(`${first.baseUrl}/api/notifications/stream?timeout=20`, reader.auth),
      await openStream(`${first.baseUrl}/api/notifications/stream?timeout=20`, reader.auth),
      await openStream(`${second.baseUrl}/api/notifications/stream?timeout=20`, reader.auth),
    ];
    const unread = (count: number) => (e: { data: string }) => {
      const n = JSON.parse(e.data) as { name: string; data: number };
      return n.name === 'unread_message_count' && n.data === count;
    };
    try {
      for (const stream of streams) {
        expect(stream.status, stream.raw()).toBe(200);
        await until(() => `the retry line; received ${JSON.stringify(stream.raw())}`, () => stream.raw().startsWith('retry: 3000\n\n'), 5_000);
      }
      for (const [count, on] of [[1, second], [2, first]] as const) {
        const sent = await send(on, 'POST', `/api/users/${reader.id}/messages`, { as: writer, json: { body: `through PgBouncer ${count}` } });
        expect(sent.status, sent.text).toBe(201);
        await Promise.all(streams.map((stream) => stream.event(`unread_message_count ${count}`, unread(count), 5_000)));
      }
      // Besides PgBouncer's server connections (and this query's), the database has one
      // session per instance, however many streams it holds: its LISTEN connection,
      // straight to PostgreSQL.
      const pooled = new Set(
        (await admin<{ database: string; local_port: number | string }>('SHOW SERVERS')).filter((c) => c.database === 'notifying').map((c) => Number(c.local_port)),
      );
      const sessions = await direct<{ port: number | string }>(
        'notifying',
        "SELECT client_port AS port FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
      );
      expect(sessions.filter((c) => !pooled.has(Number(c.port)))).toHaveLength(2);
      // Resumed through the other instance: the events after the id given come again.
      const last = String(streams[0]?.events.at(-1)?.id);
      await Promise.all(streams.map((stream) => stream.close()));
      const resumed = await openStream(`${second.baseUrl}/api/notifications/stream?timeout=5`, { ...reader.auth, 'Last-Event-ID': String(Number(last) - 1) });
      streams.push(resumed);
      await resumed.event('the last event again', (e) => e.id === last && unread(2)(e), 5_000);
    } finally {
      await Promise.all(streams.map((stream) => stream.close()));
    }
  }, TEST_TIMEOUT_MS);
});
