import { describe, expect, it } from 'vitest';
import type { components } from '../generated/openapi.js';
import { expectBearerChallenge, expectPlainError } from './support/assertions.js';
import { ISO_UTC_MILLIS, JSON_TYPE, MISSING_ID, NO_CREDENTIALS, STRONG_ETAG } from './support/constants.js';
import { schemaAccepts } from './support/contract.js';
import { createUser, type TestUser } from './support/factories.js';
import { sender, type Answer } from './support/http.js';
import { useServer } from './support/server.js';
import { until } from './support/wait.js';

type Export = components['schemas']['Export'];
type Post = components['schemas']['Post'];
type PostCollection = components['schemas']['PostCollection'];

/** Batches of 3, so that a handful of posts makes several chunks. */
const server = useServer({ EXPORT_BATCH_SIZE: '3' });

const sendTo = sender(server, { Accept: 'application/json' });
const send = <T = unknown>(method: string, path: string, as?: TestUser | null, headers: Record<string, string> = {}): Promise<Answer<T>> =>
  sendTo<T>(method, path, { as, headers });

async function createPosts(author: TestUser, n: number): Promise<Post[]> {
  const posts: Post[] = [];
  for (let i = 0; i < n; i++) {
    const res = await server.api.POST('/api/posts', { body: { body: `post ${i + 1}` }, headers: author.auth });
    expect(res.response.status).toBe(201);
    posts.push(res.data as Post);
  }
  return posts;
}

async function requestExport(user: TestUser): Promise<Answer<Export>> {
  return send<Export>('POST', `/api/users/${user.id}/exports`, user);
}

async function getExport(user: TestUser, id: number): Promise<Answer<Export>> {
  return send<Export>('GET', `/api/exports/${id}`, user);
}

/** Polls the export (bounded) until it is done, and returns its last answer. */
async function untilDone(user: TestUser, id: number): Promise<Answer<Export>> {
  let last: Answer<Export> | undefined;
  await until(
    () => `export ${id} done (last: ${last?.text})`,
    async () => {
      last = await getExport(user, id);
      return last.body.status === 'done';
    },
    20_000,
  );
  return last as Answer<Export>;
}

/** An export as the API shows it, in a given state (for rows arranged in the database). */
async function insertExport(user: TestUser, status: 'queued' | 'running' | 'failed'): Promise<number> {
  const [row] = await server
    .db('exports')
    .insert({ user_id: user.id, status, finished_at: status === 'failed' ? server.db.fn.now() : null })
    .returning('id');
  return (row as { id: number }).id;
}

describe('POST /api/users/{id}/exports', () => {
  it('answers 202 with the queued export, its Location, and no-store', async () => {
    const user = await createUser(server);
    const res = await requestExport(user);
    expect(res.status, res.text).toBe(202);
    expect(res.headers.get('content-type')).toBe(JSON_TYPE);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const { id } = res.body;
    expect(res.headers.get('location')).toBe(`/api/exports/${id}`);
    expect(res.body).toEqual({
      id,
      status: 'queued',
      progress: 0,
      post_count: 0,
      created_at: expect.stringMatching(ISO_UTC_MILLIS),
      finished_at: null,
      _links: { self: `/api/exports/${id}`, user: `/api/users/${user.id}` },
    });
    expect(schemaAccepts('Export', res.body)).toBe(true);
    await untilDone(user, id);
  });

  it('answers 403 for another user, whether or not that user exists', async () => {
    const [user, other] = [await createUser(server), await createUser(server)];
    expectPlainError(await send('POST', `/api/users/${other.id}/exports`, user), 403, 'you can only export your own posts');
    expectPlainError(await send('POST', `/api/users/${MISSING_ID}/exports`, user), 403, 'you can only export your own posts');
    expect(await server.db('exports').whereIn('user_id', [user.id, other.id])).toEqual([]);
  });

  it('answers 401 without a token', async () => {
    const user = await createUser(server);
    const res = await send('POST', `/api/users/${user.id}/exports`, null);
    expectPlainError(res, 401, NO_CREDENTIALS);
    expectBearerChallenge(res);
  });

  it('gives back the export already queued or running instead of starting a second', async () => {
    const user = await createUser(server);
    const queued = await insertExport(user, 'queued');
    const again = await requestExport(user);
    expect(again.status, again.text).toBe(202);
    expect(again.body.id).toBe(queued);
    expect(again.headers.get('location')).toBe(`/api/exports/${queued}`);
    expect(await server.db('exports').where({ user_id: user.id }).count({ n: '*' })).toEqual([{ n: 1 }]);
  });

  it('gives one export to requests that race', async () => {
    const user = await createUser(server);
    const answers = await Promise.all(Array.from({ length: 5 }, () => requestExport(user)));
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 202, 202]);
    const ids = new Set(answers.map((a) => a.body.id));
    // Each request gets the unfinished one, or (once that one is done) a new one.
    const unfinishedAtOnce = await server.db('exports').where({ user_id: user.id }).whereIn('status', ['queued', 'running']);
    expect(unfinishedAtOnce.length).toBeLessThanOrEqual(1);
    for (const id of ids) await untilDone(user, id);
  });

  it('starts a new export once the last one is done', async () => {
    const user = await createUser(server);
    const first = await requestExport(user);
    await untilDone(user, first.body.id);
    const second = await requestExport(user);
    expect(second.status).toBe(202);
    expect(second.body.id).not.toBe(first.body.id);
    await untilDone(user, second.body.id);
  });
});

describe('GET /api/exports/{id}', () => {
  it('progresses to done, with the count, the time it finished and the file link; 304 while unchanged', async () => {
    const user = await createUser(server);
    await createPosts(user, 7);
    const created = await requestExport(user);
    const done = await untilDone(user, created.body.id);
    const { id } = created.body;
    expect(done.status).toBe(200);
    expect(done.headers.get('content-type')).toBe(JSON_TYPE);
    expect(done.headers.get('cache-control')).toBe('private, no-cache');
    expect(done.headers.get('etag')).toMatch(STRONG_ETAG);
    expect(done.body).toEqual({
      id,
      status: 'done',
      progress: 100,
      post_count: 7,
      created_at: created.body.created_at,
      finished_at: expect.stringMatching(ISO_UTC_MILLIS),
      _links: { self: `/api/exports/${id}`, user: `/api/users/${user.id}`, file: `/api/exports/${id}/file` },
    });
    expect(schemaAccepts('Export', done.body)).toBe(true);
    expect((done.body.finished_at as string) >= done.body.created_at).toBe(true);
    // Three batches of 3: three chunks, the position at the oldest post.
    expect(await server.db('export_chunks').where({ export_id: id }).count({ n: '*' })).toEqual([{ n: 3 }]);

    const again = await send('GET', `/api/exports/${id}`, user, { 'If-None-Match': done.headers.get('etag') as string });
    expect(again.status).toBe(304);
    expect(again.text).toBe('');
  });

  it('shows a queued export with no file link', async () => {
    const user = await createUser(server);
    const id = await insertExport(user, 'queued');
    const res = await getExport(user, id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id, status: 'queued', progress: 0, post_count: 0, finished_at: null });
    expect(res.body._links).toEqual({ self: `/api/exports/${id}`, user: `/api/users/${user.id}` });
  });

  it("answers 404 for another user's export, as for one that does not exist", async () => {
    const [owner, other] = [await createUser(server), await createUser(server)];
    const id = await insertExport(owner, 'queued');
    expectPlainError(await getExport(other, id), 404, `export ${id} does not exist`);
    expectPlainError(await getExport(owner, MISSING_ID), 404, `export ${MISSING_ID} does not exist`);
  });

  it('answers 400 for an id that is not a positive integer', async () => {
    const user = await createUser(server);
    const res = await send('GET', '/api/exports/abc', user);
    expect(res.status).toBe(400);
  });
});

describe('GET /api/exports/{id}/file', () => {
  it("holds exactly the user's posts, each once, newest first, as an attachment", async () => {
    const [user, other] = [await createUser(server), await createUser(server)];
    await createPosts(user, 8);
    await createPosts(other, 2);
    const { id } = (await requestExport(user)).body;
    // Written after the export was asked for: not in it.
    await createPosts(user, 1);
    await untilDone(user, id);

    const file = await send<Post[]>('GET', `/api/exports/${id}/file`, user);
    expect(file.status, file.text).toBe(200);
    expect(file.headers.get('content-type')).toBe(JSON_TYPE);
    expect(file.headers.get('content-disposition')).toBe(`attachment; filename="microblog-posts-export-${id}.json"`);
    expect(file.headers.get('cache-control')).toBe('private, no-cache');
    expect(file.headers.get('etag')).toMatch(STRONG_ETAG);
    expect(schemaAccepts('ExportFile', file.body)).toBe(true);

    const timeline = await send<PostCollection>('GET', `/api/users/${user.id}/posts?per_page=100`, user);
    const exported = timeline.body.items.slice(1);
    expect(exported).toHaveLength(8);
    expect(file.body).toEqual(exported);
    expect(new Set(file.body.map((p) => p.id)).size).toBe(8);

    const again = await send('GET', `/api/exports/${id}/file`, user, { 'If-None-Match': file.headers.get('etag') as string });
    expect(again.status).toBe(304);
    expect(again.text).toBe('');
  });

  it('is an empty array for a user with no posts', async () => {
    const user = await createUser(server);
    const { id } = (await requestExport(user)).body;
    const done = await untilDone(user, id);
    expect(done.body).toMatchObject({ progress: 100, post_count: 0 });
    const file = await send('GET', `/api/exports/${id}/file`, user);
    expect(file.status).toBe(200);
    expect(file.text).toBe('[]');
  });

  it('answers 409 before the export is done, and when it failed', async () => {
    const user = await createUser(server);
    const queued = await insertExport(user, 'queued');
    expectPlainError(await send('GET', `/api/exports/${queued}/file`, user), 409, `export ${queued} is queued; its file is there once it is done`);
    await server.db('exports').where({ id: queued }).update({ status: 'running' });
    expectPlainError(await send('GET', `/api/exports/${queued}/file`, user), 409, `export ${queued} is running; its file is there once it is done`);
    await server.db('exports').where({ id: queued }).update({ status: 'failed', finished_at: server.db.fn.now() });
    expectPlainError(await send('GET', `/api/exports/${queued}/file`, user), 409, `export ${queued} failed; ask for a new export`);
  });

  it("answers 404 for another user's export, done or not", async () => {
    const [owner, other] = [await createUser(server), await createUser(server)];
    await createPosts(owner, 1);
    const { id } = (await requestExport(owner)).body;
    await untilDone(owner, id);
    expectPlainError(await send('GET', `/api/exports/${id}/file`, other), 404, `export ${id} does not exist`);
    const queued = await insertExport(owner, 'queued');
    expectPlainError(await send('GET', `/api/exports/${queued}/file`, other), 404, `export ${queued} does not exist`);
  });
});
