import path from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { projectRoot } from '../paths.js';
import { closeDb, migrateLatest, openDb, type Db } from './database.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.js';

/** The database could not be reached or prepared; the message names the setting at fault. */
export class DatabaseStartError extends Error {}

interface DatabaseLocation {
  url: string;
  /** The embedded server, when DATABASE_URL is unset; `owned` when this process started it. */
  embedded?: EmbeddedPostgres;
}

/** An open database: its pool, where it is, and how to let it go. */
export interface Database extends DatabaseLocation {
  /** The pool, sized and bounded for `role`; it connects on its first query. */
  db: Db;
  /** Closes the pool, then stops the embedded PostgreSQL if this process started it. */
  close(): Promise<void>;
}

/** Where the embedded database keeps its data when EMBEDDED_PG_DATA_DIR is unset: one per clone. */
export const DEFAULT_EMBEDDED_DATA_DIR = path.join(projectRoot, '.data', 'postgres');

type DatabaseConfig = Pick<
  Config,
  'databaseUrl' | 'embeddedPg' | 'databaseConnectTimeoutMs' | 'databasePoolMax' | 'databaseTimeouts' | 'databaseKeepAliveDelayMs'
>;

/**
 * The one way to the database, for the server, the cluster's primary and the db:* commands:
 * finds it (DATABASE_URL, or the embedded one: started here, or the running one of this
 * clone for a `tool`), checks that it answers, applies pending migrations when `migrate`
 * is set, and opens a pool: the server's bounds for a `server`, two unbounded connections
 * for a `tool` (a migration or a seed may take long).
 */
export async function openDatabase(
  config: DatabaseConfig,
  logger: Logger,
  { role, migrate }: { role: 'server' | 'tool'; migrate: boolean },
): Promise<Database> {
  const location = await locateDatabase(config, logger, role);
  try {
    // Checked and migrated without the server's statement bounds, which a migration may outlast.
    const check = openDb({ url: location.url, poolMax: 2, connectTimeoutMs: config.databaseConnectTimeoutMs, logger });
    try {
      await check.raw('select 1').catch((err: unknown) => {
        throw new DatabaseStartError(`cannot connect to the database at ${describe(config, location.url)}: ${reason(err)}`);
      });
      if (migrate) {
        const applied = await migrateLatest(check);
        if (applied.length) logger.info({ applied }, 'migrations applied');
      }
    } finally {
      await closeDb(check);
    }
  } catch (err) {
    await location.embedded?.stop();
    throw err;
  }
  const db =
    role === 'server'
      ? openDb({
          url: location.url,
          poolMax: config.databasePoolMax,
          connectTimeoutMs: config.databaseConnectTimeoutMs,
          timeouts: config.databaseTimeouts,
          keepAliveDelayMs: config.databaseKeepAliveDelayMs,
          logger,
        })
      : openDb({ url: location.url, poolMax: 2, connectTimeoutMs: config.databaseConnectTimeoutMs, logger });
  return {
    ...location,
    db,
    close: async () => {
      // A request cut off at shutdown may still hold a connection (waiting on a lock, say): don't wait long for it.
      await Promise.race([closeDb(db), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
      await location.embedded?.stop();
    },
  };
}

async function locateDatabase(
  config: Pick<Config, 'databaseUrl' | 'embeddedPg'>,
  logger: Logger,
  role: 'server' | 'tool',
): Promise<DatabaseLocation> {
  if (config.databaseUrl) return { url: config.databaseUrl };
  const embedded = await startEmbeddedPostgres({
    dataDir: config.embeddedPg.dataDir ?? DEFAULT_EMBEDDED_DATA_DIR,
    port: config.embeddedPg.port,
    database: 'microblog',
    role,
    onLog: (line) => logger.debug({ postgres: line }, 'embedded postgres'),
  });
  const fields = { url: embedded.url, port: embedded.port, dataDir: embedded.dataDir };
  if (embedded.owned) logger.info(fields, `embedded PostgreSQL started on port ${embedded.port}`);
  else logger.debug(fields, `using the running embedded PostgreSQL on port ${embedded.port}`);
  return { url: embedded.url, embedded };
}

/** A URL fit for a log or an error message: its password masked. */
export function maskPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '****';
    // pg also reads a password from the query string.
    for (const name of ['password', 'sslpassword']) if (parsed.searchParams.has(name)) parsed.searchParams.set(name, '****');
    return parsed.toString();
  } catch {
    return '(not a URL)';
  }
}

function describe(config: Pick<Config, 'databaseUrl'>, url: string): string {
  return config.databaseUrl ? `DATABASE_URL=${maskPassword(url)}` : `${maskPassword(url)} (the embedded PostgreSQL)`;
}

function reason(err: unknown): string {
  // A host with several addresses (localhost: ::1 and 127.0.0.1) fails with an AggregateError and no message of its own.
  const inner = (err as { errors?: unknown[] }).errors;
  if (err instanceof Error && !err.message && Array.isArray(inner) && inner.length) return inner.map(reason).join('; ');
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string }).code;
  return code && !message.includes(code) ? `${message} (${code})` : message;
}
