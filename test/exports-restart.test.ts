import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { components } from '../generated/openapi.js';
import { createScratchDatabase, runSql } from './support/databases.js';
import { readAnswer, type Answer } from './support/http.js';
import { startServerProcess, type ServerProcess } from './support/process.js';
import { until } from './support/wait.js';

type Export = components['schemas']['Export'];
type Post = components['schemas']['Post'];

const POSTS = 10_000;
const PASSWORD = 'correct horse battery staple';

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
    const base = server.baseUrl;
    const call = async <T>(method: string, path: string, token?: string): Promise<Answer<T>> =>
      readAnswer<T>(await fetch((server as ServerProcess).baseUrl + path, { method, headers: { Accept: 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) } }));

    const registered = await fetch(`${base}/api/users`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ username: 'exporter', email: 'exporter@example.com', password: PASSWORD }),
    });
    expect(registered.status).toBe(201);
    const userId = ((await registered.json()) as { id: number }).id;
    // 10,000 posts in one statement, a millisecond apart, all older than the export.
    await runSql(
      scratch.url,
      `INSERT INTO posts (user_id, body, created_at)
       SELECT ${userId}, 'post ' || n, now() - interval '1 day' + n * interval '1 millisecond' FROM generate_series(1, ${POSTS}) AS n`,
    );
    const tokenRes = await fetch(`${base}/api/tokens`, {
      method: 'POST',
      headers: { Authorization: `Basic ${Buffer.from(`exporter:${PASSWORD}`).toString('base64')}`, Accept: 'application/json' },
    });
    const { token } = (await tokenRes.json()) as { token: string };

    const created = await call<Export>('POST', `/api/users/${userId}/exports`, token);
    expect(created.status, created.text).toBe(202);
    const { id } = created.body;

    let seen: Export | undefined;
    await until(
      () => `export ${id} under way (last seen: ${JSON.stringify(seen)})`,
      async () => {
        seen = (await call<Export>('GET', `/api/exports/${id}`, token)).body;
        return seen.status === 'running' && seen.progress >= 1 && seen.progress <= 99;
      },
      60_000,
    );
    await server.kill();
    expect((await server.exited).signal).toBe('SIGKILL');

    // Killed midway: running, some batches written.
    const db = new pg.Client({ connectionString: scratch.url });
    await db.connect();
    const { rows } = await db.query('SELECT status, post_count FROM exports WHERE id = $1', [id]);
    await db.end();
    expect(rows[0].status).toBe('running');
    const writtenBefore = Number(rows[0].post_count);
    expect(writtenBefore).toBeGreaterThan(0);
    expect(writtenBefore).toBeLessThan(POSTS);

    server = await startServerProcess(env);
    const resumed = await server.waitForLine((line) => line.msg === 'export resumed' && line.exportId === id);
    expect(resumed.postCount).toBe(writtenBefore);

    let last: Answer<Export> | undefined;
    await until(
      () => `export ${id} done after the restart (last: ${last?.text})`,
      async () => {
        last = await call<Export>('GET', `/api/exports/${id}`, token);
        return last.body.status === 'done';
      },
      120_000,
    );
    expect(last?.body).toMatchObject({ status: 'done', progress: 100, post_count: POSTS });

    const file = await call<Post[]>('GET', `/api/exports/${id}/file`, token);
    expect(file.status).toBe(200);
    expect(file.body).toHaveLength(POSTS);
    expect(new Set(file.body.map((post) => post.id)).size).toBe(POSTS);
    expect(new Set(file.body.map((post) => post.body)).size).toBe(POSTS);
    expect(file.body.every((post) => post.author === userId)).toBe(true);
    // Newest first throughout, across the batches written before and after the kill.
    expect(file.body[0]?.body).toBe(`post ${POSTS}`);
    expect(file.body.at(-1)?.body).toBe('post 1');
    expect(file.body.every((post, i) => i === 0 || (file.body[i - 1] as Post).timestamp > post.timestamp)).toBe(true);
  });
});
