import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { migrationSource } from '../../db/migrations/index.js';

// BIGINT ids and counts come back as numbers: the contract bounds ids to 2^53 - 1.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export type Db = Knex;

export interface DbOptions {
  url: string;
  poolMax?: number;
}

/** Opens a connection pool; nothing connects until the first query. */
export function openDb({ url, poolMax = 10 }: DbOptions): Db {
  return knexFactory({
    client: 'pg',
    connection: { connectionString: url, connectionTimeoutMillis: 5000 },
    pool: { min: 0, max: poolMax },
    acquireConnectionTimeout: 5000,
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
