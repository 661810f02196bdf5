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
  /** Where knex's own warnings go, instead of plain text on stdout. */
  logger?: Logger;
}

/** Opens a connection pool; nothing connects until the first query. */
export function openDb({ url, poolMax = 10, connectTimeoutMs = 3000, logger }: DbOptions): Db {
  return knexFactory({
    client: 'pg',
    connection: { connectionString: url, connectionTimeoutMillis: connectTimeoutMs },
    pool: { min: 0, max: poolMax },
    acquireConnectionTimeout: connectTimeoutMs,
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
}

/**
 * Runs one fixed statement with pg itself on a connection from knex's pool, skipping knex's
 * query builder and runner: for the statements nearly every request sends (the bearer
 * token's lookup, a user by id), where knex's own work measurably lowers throughput (see
 * docs/performance.md). Errors are pg's, as through knex; knex's query events still fire.
 * Only for a Db, never inside a transaction.
 */
export async function queryRows<R>(db: Db, sql: string, values: unknown[]): Promise<R[]> {
  const connection = (await db.client.acquireConnection()) as pg.ClientBase & { __knexUid?: string };
  // The events knex's own runner sends, so its listeners (logging, the statement-count test) see these too.
  const query = { __knexUid: connection.__knexUid, sql, bindings: values, method: 'raw' };
  try {
    db.client.emit('query', query);
    const { rows } = await connection.query(sql, values);
    db.client.emit('query-response', rows, query);
    return rows as R[];
  } catch (err) {
    db.client.emit('query-error', err, query);
    throw err;
  } finally {
    await db.client.releaseConnection(connection);
  }
}

const MIGRATION_LOCK = 0x6d6963726f; // "micro": any constant shared by every instance

/**
 * Applies pending migrations. Instances starting together wait for each other on a
 * PostgreSQL advisory lock instead of failing on knex's own migration lock.
 */
export async function migrateLatest(db: Db): Promise<string[]> {
  const connection = await db.client.acquireConnection();
  try {
    await db.raw('SELECT pg_advisory_lock(?)', [MIGRATION_LOCK]).connection(connection);
    const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
    return applied;
  } finally {
    await db.raw('SELECT pg_advisory_unlock(?)', [MIGRATION_LOCK]).connection(connection).catch(() => undefined);
    await db.client.releaseConnection(connection);
  }
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
  try {
    await within(timeoutMs, db.raw('select 1'));
  } catch {
    return { database: false, migrations: 'unknown' };
  }
  try {
    const { rows } = await within(timeoutMs, db.raw<{ rows: { name: string }[] }>('select name from knex_migrations'));
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
