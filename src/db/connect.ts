import path from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { projectRoot } from '../paths.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.js';

/** The database to use: DATABASE_URL, or an embedded PostgreSQL whose data stays in .data/. */
export async function resolveDatabase(config: Config, logger: Logger): Promise<{ url: string; embedded?: EmbeddedPostgres }> {
  if (config.databaseUrl) return { url: config.databaseUrl };
  const embedded = await startEmbeddedPostgres({
    dataDir: config.embeddedPg.dataDir ?? path.join(projectRoot, '.data', 'postgres'),
    port: config.embeddedPg.port,
    database: 'microblog',
    onLog: (line) => logger.debug({ postgres: line }, 'embedded postgres'),
  });
  logger.info({ dataDir: embedded.dataDir, port: config.embeddedPg.port }, 'embedded PostgreSQL started');
  return { url: embedded.url, embedded };
}

