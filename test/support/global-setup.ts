import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { closeDb, migrateLatest, openDb } from '../../src/db/database.js';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { createScratchDatabase } from './databases.js';
import { freePort } from './ports.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

/**
 * One fresh database per test run: a new database on TEST_DATABASE_URL's (or
 * DATABASE_URL's) server when one is given, else a throwaway embedded PostgreSQL.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
  let url: string;
  let teardown: () => Promise<void>;

  if (external) {
    const scratch = await createScratchDatabase(external, 'microblog_test');
    url = scratch.url;
    teardown = scratch.drop;
  } else {
    const dataDir = path.join(await mkdtemp(path.join(os.tmpdir(), 'microblog-test-')), 'pg');
    const embedded = await startEmbeddedPostgres({ dataDir, port: await freePort(), database: 'microblog_test' });
    url = embedded.url;
    teardown = async () => {
      await embedded.stop();
      await rm(path.dirname(embedded.dataDir), { recursive: true, force: true });
    };
  }

  const db = openDb({ url, poolMax: 2 });
  await migrateLatest(db);
  await closeDb(db);
  project.provide('databaseUrl', url);
  return teardown;
}
