import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { migrationSource } from '../../db/migrations/index.js';
import type { Logger } from '../logger.js';

// BIGINT ids and counts come back as numbers: the contract bounds ids to 2^53 - 1.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export type Db = Knex;

export interface DbOptions {
  url: string;
  poolMax?: number;
  /** How long to wait for a new connection, or for a free one in the pool, before failing. */
  connectTimeoutMs?: number;
  /** Bounds on each statement; none when absent (migrations and the db:* commands may take long). */
  timeouts?: DbTimeouts;
  /** Idle time of a connection before TCP keepalive probes begin, which find a peer that is gone. */
  keepAliveDelayMs?: number;
  /** Where knex's own warnings go, instead of plain text on stdout. */
  logger?: Logger;
}

/** Bounds on each database wait; 0 leaves a PostgreSQL setting to the server's own configuration. */
export interface DbTimeouts {
  /** PostgreSQL's statement_timeout: the server cancels a statement running longer (57014). */
  statementTimeoutMs: number;
  /** pg's query_timeout: the client gives up on an answer that does not come (the server hangs, the network drops it). */
  queryTimeoutMs: number;
  /** PostgreSQL's idle_in_transaction_session_timeout: a transaction left waiting is ended with its session, and its locks released. */
  idleInTransactionTimeoutMs: number;
}

/**
 * pg's client, except that a query it gave up on (query_timeout) closes the connection.
 * pg answers 'Query read timeout' but keeps the connection waiting for the late answer
 * (brianc/node-postgres#3399), and knex hands it back to the pool as it would a healthy
 * one: the next request's statements would queue behind that answer, or run inside the
 * transaction a late BEGIN opened. Closed, the pool drops it.
 */
class ClosingOnTimeoutClient extends pg.Client {
  // pg's overloads (callback, promise, submittable) pass through unchanged.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override query(...args: any[]): any {
    const last = args.length - 1;
    const callback: unknown = args[last];
    if (typeof callback === 'function') {
      args[last] = (err: unknown, result: unknown) => {
        this.closeIfTimedOut(err);
        callback(err, result);
      };
    }
    const result: unknown = Reflect.apply(pg.Client.prototype.query, this, args);
    if (!(result instanceof Promise)) return result;
    return result.catch((err: unknown) => {
      this.closeIfTimedOut(err);
      throw err;
    });
  }

  private closeIfTimedOut(err: unknown): void {
    if (isQueryTimeout(err)) this.end().catch(() => undefined);
  }
}

/** pg gave up waiting for the answer to a query (query_timeout); knex puts the SQL before pg's message. */
export function isQueryTimeout(err: unknown): boolean {
  return err instanceof Error && /(^| - )Query read timeout$/.test(err.message);
}

/** The pool of each Db, which queryRows uses directly, closeDb ends and poolUsage reads, and its size. */
const pools = new WeakMap<Knex, { pool: pg.Pool; max: number; ending?: Promise<void> }>();

/**
 * Opens the database: a pg pool, through which knex runs its queries and queryRows its own.
 * Nothing connects until the first query; `closeDb()` closes it.
 */
export function openDb({ url, poolMax = 10, connectTimeoutMs = 3000, timeouts, keepAliveDelayMs = 10_000, logger }: DbOptions): Db {
  // pg's own pool rather than knex's (tarn), which makes two timers and a dozen promises
  // per checkout: about 5% of the CPU of a GET /api/users/{id} (see docs/performance.md).
  const pool = new pg.Pool({
    connectionString: url,
    max: poolMax,
    connectionTimeoutMillis: connectTimeoutMs,
    Client: ClosingOnTimeoutClient,
    keepAlive: true,
    keepAliveInitialDelayMillis: keepAliveDelayMs,
    ...(timeouts && {
      // pg leaves out each that is 0.
      statement_timeout: timeouts.statementTimeoutMs,
      idle_in_transaction_session_timeout: timeouts.idleInTransactionTimeoutMs,
      query_timeout: timeouts.queryTimeoutMs,
    }),
  });
  // An idle connection that breaks (the server restarted, say) is dropped and replaced on next use.
  pool.on('error', (err) => logger?.warn({ err }, 'an idle database connection failed'));
  // So does one that breaks while checked out between two statements (in a transaction, say):
  // its next statement fails (503) and the pool drops it. Unheard, its 'error' would crash the process.
  pool.on('connect', (client) => client.on('error', (err) => logger?.debug({ err }, 'a database connection in use failed')));
  const knex = knexFactory({
    client: 'pg',
    connectionPool: pool,
    // Its warnings repeat, once per waiting query, what the request's log line says already.
    ...(logger && {
      log: {
        warn: (message: string) => logger.debug({ knex: message }, 'knex warning'),
        error: (message: string) => logger.error({ knex: message }, 'knex error'),
        deprecate: (message: string) => logger.warn({ knex: message }, 'knex deprecation'),
        debug: (message: string) => logger.trace({ knex: message }, 'knex debug'),
      },
    }),
  });
  pools.set(knex, { pool, max: poolMax });
  return knex;
}

/** Stops the Db: knex first, then the pool, which knex leaves to whoever gave it one (connectionPool). */
export async function closeDb(db: Db): Promise<void> {
  const entry = pools.get(db);
  await db.destroy();
  if (entry) {
    entry.ending ??= entry.pool.end();
    await entry.ending;
  }
}

/**
 * Runs one fixed statement with pg itself on the Db's pool, skipping knex's query builder
 * and runner: for the statements nearly every request sends (the bearer token's lookup, a
 * user by id), where knex.raw costs measurably more CPU (docs/architecture.md, "Dependency
 * patches"). Errors are pg's, as through knex. Only for a Db, never inside a transaction.
 */
export async function queryRows<R>(db: Db, sql: string, values: unknown[]): Promise<R[]> {
  const pool = pools.get(db)?.pool;
  if (!pool) throw new Error('queryRows needs a Db made by openDb');
  // Told to the Db's listeners as knex tells its own statements, so they (logging, the statement-count test) see every statement.
  const query = { sql, bindings: values, method: 'raw' };
  db.emit('query', query);
  try {
    const { rows } = await pool.query(sql, values);
    db.emit('query-response', rows, query);
    return rows as R[];
  } catch (err) {
    db.emit('query-error', err, query);
    throw err;
  }
}

export interface PoolUsage {
  /** The most connections the pool opens. */
  max: number;
  /** Connections open and checked out. */
  inUse: number;
  /** Connections open and free. */
  idle: number;
  /** Checkouts waiting for a connection to come free. */
  waiting: number;
}

/** How the Db's pool is used at this moment. */
export function poolUsage(db: Db): PoolUsage {
  const entry = pools.get(db);
  if (!entry) throw new Error('poolUsage needs a Db made by openDb');
  const { pool, max } = entry;
  return { max, inUse: pool.totalCount - pool.idleCount, idle: pool.idleCount, waiting: pool.waitingCount };
}

const MIGRATION_LOCK = 0x6d6963726f; // "micro": any constant shared by every instance

/**
 * Applies pending migrations in one transaction that first takes a transaction-scoped
 * advisory lock, so instances starting together wait for each other. The lock ends with the
 * transaction, on the connection that took it: through a transaction pooler (PgBouncer in
 * transaction mode) each transaction may run on another server connection, which left a
 * session lock taken on one and its unlock sent to another. A commit that fails rejects.
 */
export async function migrateLatest(db: Db): Promise<string[]> {
  return db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(?)', [MIGRATION_LOCK]);
    const [, applied] = (await trx.migrate.latest({ migrationSource })) as [number, string[]];
    return applied;
  });
}

/** The migrations not yet applied to the database. */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const [, pending] = (await db.migrate.list({ migrationSource })) as [unknown[], { file: string }[] | string[]];
  return pending.map((m) => (typeof m === 'string' ? m : m.file));
}

export type MigrationState = 'ok' | 'pending' | 'unknown';

/**
 * Whether the database answers within `timeoutMs`, and whether its schema is current.
 * Read only: knex's own migration listing creates its tables when they are missing.
 */
export async function readiness(db: Db, timeoutMs: number): Promise<{ database: boolean; migrations: MigrationState }> {
  const deadline = Date.now() + timeoutMs;
  // The whole check, waiting for a connection included, within the time; a query given up
  // on takes its connection with it rather than hold it until the pool's query_timeout.
  const bounded = <T>(query: Knex.Raw<T>) => {
    const left = Math.max(1, deadline - Date.now());
    return within(left, query.options({ query_timeout: left }));
  };
  try {
    await bounded(db.raw('select 1'));
  } catch {
    return { database: false, migrations: 'unknown' };
  }
  try {
    const { rows } = await bounded(db.raw<{ rows: { name: string }[] }>('select name from knex_migrations'));
    const applied = new Set(rows.map((r) => r.name));
    const known = await migrationSource.getMigrations([]);
    return { database: true, migrations: known.every((m) => applied.has(m)) ? 'ok' : 'pending' };
  } catch (err) {
    // No migrations table: nothing was ever applied.
    if ((err as { code?: string }).code === '42P01') return { database: true, migrations: 'pending' };
    return { database: true, migrations: 'unknown' };
  }
}

function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  // race() also handles a late rejection of `work`.
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
