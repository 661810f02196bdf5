import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { components } from '../../generated/openapi.js';
import { createScratchDatabase } from '../support/databases.js';
import { call, expectWholeFile, exportRow, untilExport, userWithPosts } from '../support/exports.js';
import { startServerProcess, type ServerProcess } from '../support/process.js';

type Export = components['schemas']['Export'];

/** The machine's Redis, as in rate-limit-redis.test.ts; keys under a prefix of this run's own. */
const MACHINE_REDIS = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTS = 10_000;

/**
 * Two instances share Redis (BullMQ) and one database. The instance that took the export
 * is killed midway; its job's lock runs out after EXPORT_STALLED_INTERVAL_MS, the other
 * instance's stalled-job check puts it back in the queue, and that instance finishes it
 * from the last batch written.
 */
describe('exports queued on Redis, two instances', () => {
  const prefix = `microblog-exports-${randomBytes(6).toString('hex')}:`;
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>> | undefined;
  const servers: ServerProcess[] = [];

  afterAll(async () => {
    for (const server of servers) await server.kill();
    await scratch?.drop();
    const redis = new Redis(MACHINE_REDIS, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it('finishes on the other instance an export whose instance was killed midway', { timeout: 180_000 }, async () => {
    scratch = await createScratchDatabase(inject('databaseUrl'), 'exports_redis');
    const env = {
      DATABASE_URL: scratch.url,
      MIGRATE_ON_START: 'true',
      REDIS_URL: MACHINE_REDIS,
      REDIS_PREFIX: prefix,
      EXPORT_BATCH_SIZE: '50',
      EXPORT_STALLED_INTERVAL_MS: '1000',
      RATE_LIMIT_REQUESTS: '0',
    };
    servers.push(await startServerProcess(env), await startServerProcess(env));
    const [first, second] = servers as [ServerProcess, ServerProcess];
    const user = await userWithPosts(first.baseUrl, scratch.url, POSTS);

    const created = await call<Export>(first.baseUrl, 'POST', `/api/users/${user.id}/exports`, user.token);
    expect(created.status, created.text).toBe(202);
    const { id } = created.body;
    await untilExport(() => second.baseUrl, id, user.token, 'under way', (e) => e.status === 'running' && e.progress >= 1 && e.progress <= 99);

    const taken = (server: ServerProcess) => server.lines.some((line) => line.msg === 'export job taken' && line.exportId === id);
    const runner = taken(first) ? first : second;
    const other = runner === first ? second : first;
    expect(taken(runner)).toBe(true);
    expect(taken(other)).toBe(false);
    await runner.kill();
    const before = await exportRow(scratch.url, id);
    expect(before.status).toBe('running');
    expect(before.post_count).toBeGreaterThan(0);
    expect(before.post_count).toBeLessThan(POSTS);

    const resumed = await other.waitForLine((line) => line.msg === 'export resumed' && line.exportId === id, 60_000);
    expect(resumed.postCount).toBe(before.post_count);
    const done = await untilExport(() => other.baseUrl, id, user.token, 'done on the other instance', (e) => e.status === 'done', 120_000);
    expect(done).toMatchObject({ status: 'done', progress: 100, post_count: POSTS });
    await expectWholeFile(other.baseUrl, id, user.token, user.id, POSTS);
  });
});
