import { afterAll, describe, expect, inject, it } from 'vitest';
import type { components } from '../generated/openapi.js';
import { createScratchDatabase } from './support/databases.js';
import { call, expectWholeFile, exportRow, untilExport, userWithPosts } from './support/exports.js';
import { startServerProcess, type ServerProcess } from './support/process.js';

type Export = components['schemas']['Export'];

const POSTS = 10_000;

/**
 * A user with 10,000 posts is exported by the real server, run as a separate process on a
 * database of this file's own (so no other file's server takes the export up). The
 * process is killed with SIGKILL midway; started again on the same database, it takes the
 * export up from its last batch and finishes it with every post exactly once.
 */
describe('an export whose server is killed midway', () => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>> | undefined;
  let server: ServerProcess | undefined;

  afterAll(async () => {
    await server?.kill();
    await scratch?.drop();
  });

  it('is finished by the next start, with every post exactly once', { timeout: 180_000 }, async () => {
    scratch = await createScratchDatabase(inject('databaseUrl'), 'exports_restart');
    // Small batches, so that the export is still running when it is seen under way.
    const env = { DATABASE_URL: scratch.url, MIGRATE_ON_START: 'true', EXPORT_BATCH_SIZE: '50', RATE_LIMIT_REQUESTS: '0' };
    server = await startServerProcess(env);
    const base = () => (server as ServerProcess).baseUrl;
    const user = await userWithPosts(base(), scratch.url, POSTS);

    const created = await call<Export>(base(), 'POST', `/api/users/${user.id}/exports`, user.token);
    expect(created.status, created.text).toBe(202);
    const { id } = created.body;
    await untilExport(base, id, user.token, 'under way', (e) => e.status === 'running' && e.progress >= 1 && e.progress <= 99);
    await server.kill();
    expect((await server.exited).signal).toBe('SIGKILL');

    // Killed midway: still running, some batches written.
    const before = await exportRow(scratch.url, id);
    expect(before.status).toBe('running');
    expect(before.post_count).toBeGreaterThan(0);
    expect(before.post_count).toBeLessThan(POSTS);

    server = await startServerProcess(env);
    const resumed = await server.waitForLine((line) => line.msg === 'export resumed' && line.exportId === id);
    expect(resumed.postCount).toBe(before.post_count);

    const done = await untilExport(base, id, user.token, 'done after the restart', (e) => e.status === 'done', 120_000);
    expect(done).toMatchObject({ status: 'done', progress: 100, post_count: POSTS });
    await expectWholeFile(base(), id, user.token, user.id, POSTS);
  });
});
