import path from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { projectRoot } from '../paths.js';
import { closeDb, migrateLatest, openDb } from './database.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.js';

/** The database could not be reached or prepared; the message names the setting at fault. */
export class DatabaseStartError extends Error {}

export interface DatabaseLocation {
  url: string;
  /** The embedded server, when DATABASE_URL is unset; `owned` when this process started it. */
  embedded?: EmbeddedPostgres;
}

/** Where the embedded database keeps its data when EMBEDDED_PG_DATA_DIR is unset: one per clone. */
export const DEFAULT_EMBEDDED_DATA_DIR = path.join(projectRoot, '.data', 'postgres');

/**
 * Finds the database (DATABASE_URL, or the embedded one: started here, or the running one
 * of this clone for a `tool`), checks that it answers, and applies pending migrations when
 * `migrate` is set. The server, the cluster's primary and the db:* commands all start here.
 */
export async function prepareDatabase(
  config: Pick<Config, 'databaseUrl' | 'embeddedPg' | 'databaseConnectTimeoutMs'>,
  logger: Logger,
  { role, migrate }: { role: 'server' | 'tool'; migrate: boolean },
): Promise<DatabaseLocation> {
  const location = await locateDatabase(config, logger, role);
  try {
    const db = openDb({ url: location.url, poolMax: 2, connectTimeoutMs: config.databaseConnectTimeoutMs, logger });
    try {
      await db.raw('select 1').catch((err: unknown) => {
        throw new DatabaseStartError(`cannot connect to the database at ${describe(config, location.url)}: ${reason(err)}`);
      });
      if (migrate) {
        const applied = await migrateLatest(db);
        if (applied.length) logger.info({ applied }, 'migrations applied');
      }
    } finally {
      await closeDb(db);
    }
  } catch (err) {
    await location.embedded?.stop();
    throw err;
  }
  return location;
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
