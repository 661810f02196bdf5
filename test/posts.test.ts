import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../generated/openapi.js';
import { schemaAccepts } from './support/contract.js';
import { createUser, type TestUser } from './support/factories.js';
import { useServer } from './support/server.js';
import { expectError, expectNoContent, newerLink } from './support/assertions.js';
import { ANY_BEARER_CHALLENGE, ISO_UTC_MILLIS, JSON_TYPE, MISSING_ID, STRONG_ETAG } from './support/constants.js';
import { sender, type Answer } from './support/http.js';

type Post = components['schemas']['Post'];
type PostCollection = components['schemas']['PostCollection'];

const server = useServer();
const send = sender(server, { Accept: 'application/json' });

/** One code point, two UTF-16 units. */
const EMOJI = '\u{1F600}';

/** The post representation of SPEC.md. */
function representation(id: number, body: string, author: number, timestamp: string): Post {
  return {
    id,
    body,
    timestamp,
    author,
    _links: { self: `/api/posts/${id}`, author: `/api/users/${author}` },
  };
}

interface PostRow {
  id: number;
  user_id: number;
  body: string;
  created_at: Date;
  updated_at: Date;
}

const postRow = (id: number) => server.db<PostRow>('posts').where({ id }).first();

async function postCountOf(viewer: TestUser, id: number): Promise<unknown> {
  const res = await send<{ post_count: number }>('GET', `/api/users/${id}`, { as: viewer });
  expect(res.status, res.text).toBe(200);
  return res.body.post_count;
}

async function createPost(author: TestUser, body: string): Promise<Post> {
  const res = await send<Post>('POST', '/api/posts', { as: author, json: { body } });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

/** Posts written one after another, so each is newer than the one before. */
async function createPosts(author: TestUser, n: number, label = 'post'): Promise<Post[]> {
  const posts: Post[] = [];
  for (let i = 0; i < n; i++) posts.push(await createPost(author, `${label} ${i + 1}`));
  return posts;
}

/** Follows `_links.next` from `path` until it is null; at most `limit` pages. */
async function pageThrough(path: string, as: TestUser, limit = 20): Promise<PostCollection[]> {
  const pages: PostCollection[] = [];
  let next: string | null = path;
  while (next !== null && pages.length < limit) {
    const res: Answer<PostCollection> = await send<PostCollection>('GET', next, { as });
    expect(res.status, `${next}: ${res.text}`).toBe(200);
    pages.push(res.body);
    next = res.body._links.next;
  }
  expect(next, 'more pages than expected').toBeNull();
  return pages;
}

const ids = (posts: { id: number }[]) => posts.map((p) => p.id);
/** A timeline page's `newer` link (null only on search results). */
function newerOf(page: PostCollection): string {
  if (page._links.newer === null) throw new Error('a timeline page has a newer link');
  return page._links.newer;
}
const newestFirst = (posts: Post[]) => [...posts].reverse();

/** Whether items are newest first, ties broken by id descending. */
function isNewestFirst(items: Post[]): boolean {
  return items.every((post, i) => {
    const before = items[i - 1];
    if (!before) return true;
    return (
      before.timestamp > post.timestamp ||
      (before.timestamp === post.timestamp && before.id > post.id)
    );
  });
}

/** A link with a cursor, as `timeline()` builds it. */
function cursorLink(path: string, page: number, perPage: number): RegExp {
  const escaped = path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  return new RegExp(`^${escaped}\\?page=${page}&per_page=${perPage}&cursor=[A-Za-z0-9_-]+$`);
}

const follow = async (user: TestUser, target: TestUser) =>
  expectNoContent(await send('PUT', `/api/users/${user.id}/followed/${target.id}`, { as: user }));
const unfollow = async (user: TestUser, target: TestUser) =>
  expectNoContent(
    await send('DELETE', `/api/users/${user.id}/followed/${target.id}`, { as: user }),
  );

describe('POST /api/posts', () => {
  let author: TestUser;
  beforeAll(async () => {
    author = await createUser(server);
  });

  it('answers 201 with the post, a Location to it and an ETag, and stores it', async () => {
    const before = Date.now();
    const res = await send<Post>('POST', '/api/posts', {
      as: author,
      json: { body: 'Hello, world!' },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.headers.get('content-type')).toBe(JSON_TYPE);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('etag')).toMatch(STRONG_ETAG);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    const { id, timestamp } = res.body;
    expect(id).toEqual(expect.any(Number));
    expect(res.headers.get('location')).toBe(`/api/posts/${id}`);
    expect(timestamp).toMatch(ISO_UTC_MILLIS);
    expect(Date.parse(timestamp)).toBeGreaterThanOrEqual(before - 2000);
    expect(Date.parse(timestamp)).toBeLessThanOrEqual(Date.now() + 2000);
    expect(res.body).toStrictEqual(representation(id, 'Hello, world!', author.id, timestamp));

    const row = await postRow(id);
    expect(row).toMatchObject({ id, user_id: author.id, body: 'Hello, world!' });
    expect(row?.created_at.toISOString()).toBe(timestamp);
  });

  it('trims leading and trailing white space from the body', async () => {
    for (const [sent, kept] of [
      ['  hi  ', 'hi'],
      ['\n\t hello  world \t\n', 'hello  world'],
    ] as const) {
      const post = await createPost(author, sent);
      expect(post.body).toBe(kept);
      expect((await postRow(post.id))?.body).toBe(kept);
    }
  });

  it('accepts a body of exactly 140 characters, also 140 emoji (140 code points)', async () => {
    for (const body of ['a'.repeat(140), EMOJI.repeat(140)]) {
      const res = await send<Post>('POST', '/api/posts', { as: author, json: { body } });
      expect(res.status, res.text).toBe(201);
      expect(res.body.body).toBe(body);
      expect((await postRow(res.body.id))?.body).toBe(body);
    }
  });

  it('accepts 140 characters surrounded by white space, since the limit counts after trimming', async () => {
    const body = 'b'.repeat(140);
    const res = await send<Post>('POST', '/api/posts', {
      as: author,
      json: { body: `  ${body}\n` },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body.body).toBe(body);
  });

  it('answers 400 for a body of 141 characters (or 141 emoji) and stores nothing', async () => {
    const count = await postCountOf(author, author.id);
    for (const body of ['a'.repeat(141), EMOJI.repeat(141)]) {
      const res = await send('POST', '/api/posts', { as: author, json: { body } });
      const error = expectError(res, 400);
      expect(error.message).toContain('body');
    }
    expect(await postCountOf(author, author.id)).toBe(count);
  });

  it('answers 400 for an empty or white-space-only body and stores nothing', async () => {
    const count = await postCountOf(author, author.id);
    for (const body of ['', '   ', '\n\t \r\n', '\u00a0\u3000']) {
      const res = await send('POST', '/api/posts', { as: author, json: { body } });
      const error = expectError(res, 400);
      expect(error.message, JSON.stringify(body)).toContain('body');
    }
    expect(await postCountOf(author, author.id)).toBe(count);
    expect(
      await server.db('posts').where({ user_id: author.id }).whereRaw("btrim(body) = ''"),
    ).toEqual([]);
  });

  // Found by the contract fuzzer: the contract allowed a NUL, which PostgreSQL cannot store.
  it('answers 400 naming body for a NUL character, which the contract refuses too, and stores nothing', async () => {
    const count = await postCountOf(author, author.id);
    for (const body of ['\u0000', 'nul \u0000 inside', ' \u0000 ']) {
      const error = expectError(await send('POST', '/api/posts', { as: author, json: { body } }), 400);
      expect(error.errors?.map((e) => e.path)).toEqual(['/body/body']);
      expect(schemaAccepts('PostText', body)).toBe(false);
    }
    expect(await postCountOf(author, author.id)).toBe(count);
    expect(schemaAccepts('PostText', ' e\u0301 \u202e 😀 ')).toBe(true);
  });

  it('answers 400 naming the problem for a missing body, an unknown member or a wrong type', async () => {
    const count = await postCountOf(author, author.id);
    const cases: [unknown, string][] = [
      [{}, 'body'],
      [{ body: 'ok', mood: 'happy' }, 'mood'],
      [{ body: 42 }, 'body'],
      [{ body: null }, 'body'],
      [{ body: ['hi'] }, 'body'],
      [{ text: 'hi' }, 'text'],
    ];
    for (const [json, named] of cases) {
      const res = await send('POST', '/api/posts', { as: author, json });
      const error = expectError(res, 400);
      expect(error.message, JSON.stringify(json)).toContain(named);
    }
    expect(await postCountOf(author, author.id)).toBe(count);
  });

  it('answers 401 with a Bearer challenge without a token, and stores nothing', async () => {
    const body = `anonymous ${randomBytes(4).toString('hex')}`;
    const res = await send('POST', '/api/posts', { json: { body } });
    expectError(res, 401);
    expect(res.headers.get('www-authenticate')).toMatch(ANY_BEARER_CHALLENGE);
    expect(await server.db('posts').where({ body })).toEqual([]);
  });

  it("raises the author's post_count by one, and no one else's", async () => {
    const [writer, bystander] = [await createUser(server), await createUser(server)];
    expect(await postCountOf(bystander, writer.id)).toBe(0);
    await createPost(writer, 'one');
    expect(await postCountOf(bystander, writer.id)).toBe(1);
    await createPost(writer, 'two');
    expect(await postCountOf(bystander, writer.id)).toBe(2);
    expect(await postCountOf(writer, writer.id)).toBe(2);
    expect(await postCountOf(writer, bystander.id)).toBe(0);
  });
});

describe('GET /api/posts/{id}', () => {
  let author: TestUser;
  let reader: TestUser;
  let post: Post;
  beforeAll(async () => {
    [author, reader] = [await createUser(server), await createUser(server)];
    post = await createPost(author, 'read me');
  });

  it('answers 200 with the post, to any user, private and to be revalidated', async () => {
    for (const as of [author, reader]) {
      const res = await send<Post>('GET', `/api/posts/${post.id}`, { as });
      expect(res.status, res.text).toBe(200);
      expect(res.headers.get('content-type')).toBe(JSON_TYPE);
      expect(res.headers.get('cache-control')).toBe('private, no-cache');
      expect(res.headers.get('etag')).toMatch(STRONG_ETAG);
      expect(res.body).toStrictEqual(representation(post.id, 'read me', author.id, post.timestamp));
    }
  });

  it('follows its links: self is the post and author is the user who wrote it', async () => {
    const self = await send<Post>('GET', post._links.self, { as: reader });
    expect(self.status, self.text).toBe(200);
    expect(self.body).toStrictEqual(post);
    const user = await send<{ id: number; username: string }>('GET', post._links.author, {
      as: reader,
    });
    expect(user.status, user.text).toBe(200);
    expect(user.body).toMatchObject({ id: author.id, username: author.username });
  });

  it('answers 304 with no body to If-None-Match with its ETag, and 200 to another tag', async () => {
    const first = await send('GET', `/api/posts/${post.id}`, { as: reader });
    const etag = first.headers.get('etag') as string;
    expect(etag).toMatch(STRONG_ETAG);

    const again = await send('GET', `/api/posts/${post.id}`, {
      as: reader,
      headers: { 'If-None-Match': etag },
    });
    expect(again.status, again.text).toBe(304);
    expect(again.text).toBe('');
    expect(again.headers.get('etag')).toBe(etag);

    const other = await send('GET', `/api/posts/${post.id}`, {
      as: reader,
      headers: { 'If-None-Match': '"something-else"' },
    });
    expect(other.status, other.text).toBe(200);
    expect(other.body).toStrictEqual(post);
  });

  it('answers 200 again, not 304, to the old ETag once the post was edited', async () => {
    const mine = await createPost(author, 'before');
    const etag = (await send('GET', `/api/posts/${mine.id}`, { as: reader })).headers.get(
      'etag',
    ) as string;
    expect(
      (await send('PUT', `/api/posts/${mine.id}`, { as: author, json: { body: 'after' } })).status,
    ).toBe(200);
    const res = await send<Post>('GET', `/api/posts/${mine.id}`, {
      as: reader,
      headers: { 'If-None-Match': etag },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.body).toBe('after');
    expect(res.headers.get('etag')).not.toBe(etag);
  });

  it('answers 404 with a JSON error for a post that does not exist', async () => {
    const res = await send('GET', `/api/posts/${MISSING_ID}`, { as: reader });
    expectError(res, 404, expect.stringContaining(String(MISSING_ID)));
  });

  it('answers 400 for an id that is not a positive integer', async () => {
    for (const id of ['abc', '0', '-1', '1.5']) {
      expectError(await send('GET', `/api/posts/${id}`, { as: reader }), 400);
    }
  });

  it('answers 401 with a Bearer challenge without a token', async () => {
    const res = await send('GET', `/api/posts/${post.id}`);
    expectError(res, 401);
    expect(res.headers.get('www-authenticate')).toMatch(ANY_BEARER_CHALLENGE);
  });
});

describe('PUT /api/posts/{id}', () => {
  let author: TestUser;
  let other: TestUser;
  beforeAll(async () => {
    [author, other] = [await createUser(server), await createUser(server)];
  });

  it('lets the author change the body: 200 with the edited post, the same id, time and author', async () => {
    const post = await createPost(author, 'first draft');
    const res = await send<Post>('PUT', `/api/posts/${post.id}`, {
      as: author,
      json: { body: '  second draft ' },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('content-type')).toBe(JSON_TYPE);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('etag')).toMatch(STRONG_ETAG);
    expect(res.body).toStrictEqual({ ...post, body: 'second draft' });

    const read = await send<Post>('GET', `/api/posts/${post.id}`, { as: other });
    expect(read.body).toStrictEqual({ ...post, body: 'second draft' });
    expect(read.headers.get('etag')).toBe(res.headers.get('etag'));
    expect((await postRow(post.id))?.body).toBe('second draft');
    expect(await postCountOf(author, author.id)).toBe(1);
  });

  // Found by the contract fuzzer: the contract allowed a NUL, which PostgreSQL cannot store.
  it('answers 400 naming body for a NUL character and leaves the post as it was', async () => {
    const post = await createPost(author, 'clean');
    const res = await send('PUT', `/api/posts/${post.id}`, { as: author, json: { body: 'nul \u0000 inside' } });
    expect(expectError(res, 400).errors?.map((e) => e.path)).toEqual(['/body/body']);
    expect((await postRow(post.id))?.body).toBe('clean');
  });

  it('answers 403 to anyone but the author and leaves the post as it was', async () => {
    const post = await createPost(author, 'mine alone');
    const res = await send('PUT', `/api/posts/${post.id}`, {
      as: other,
      json: { body: 'hijacked' },
    });
    expectError(res, 403);
    expect((await send('GET', `/api/posts/${post.id}`, { as: other })).body).toStrictEqual(post);
    expect((await postRow(post.id))?.body).toBe('mine alone');
  });

  it('answers 404 for a post that does not exist', async () => {
    const res = await send('PUT', `/api/posts/${MISSING_ID}`, {
      as: author,
      json: { body: 'nothing here' },
    });
    expectError(res, 404, expect.stringContaining(String(MISSING_ID)));
  });

  it('answers 400 for a bad body and leaves the post as it was', async () => {
    const post = await createPost(author, 'stays');
    const cases: unknown[] = [
      {},
      { body: '' },
      { body: '   ' },
      { body: 'x'.repeat(141) },
      { body: 7 },
      { body: null },
      { body: 'fine', mood: 'happy' },
      { body: 'fine', id: 'seven' },
    ];
    for (const json of cases) {
      const res = await send('PUT', `/api/posts/${post.id}`, { as: author, json });
      expect(res.status, `${JSON.stringify(json)}: ${res.text}`).toBe(400);
      expectError(res, 400);
    }
    expect((await send('GET', `/api/posts/${post.id}`, { as: author })).body).toStrictEqual(post);
  });

  it('honours If-Match: the current ETag gets 200, a stale one 412 and changes nothing', async () => {
    const post = await createPost(author, 'version 1');
    const v1 = (await send('GET', `/api/posts/${post.id}`, { as: author })).headers.get(
      'etag',
    ) as string;

    const ok = await send<Post>('PUT', `/api/posts/${post.id}`, {
      as: author,
      json: { body: 'version 2' },
      headers: { 'If-Match': v1 },
    });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body).toStrictEqual({ ...post, body: 'version 2' });
    const v2 = ok.headers.get('etag');
    expect(v2).toMatch(STRONG_ETAG);
    expect(v2).not.toBe(v1);

    // Another device still holds version 1.
    const lost = await send('PUT', `/api/posts/${post.id}`, {
      as: author,
      json: { body: 'version 1 edited offline' },
      headers: { 'If-Match': v1 },
    });
    expectError(lost, 412);
    const now = await send<Post>('GET', `/api/posts/${post.id}`, { as: author });
    expect(now.body).toStrictEqual({ ...post, body: 'version 2' });
    expect(now.headers.get('etag')).toBe(v2);
    expect((await postRow(post.id))?.body).toBe('version 2');
  });

  it('accepts the representation sent back with a changed body, ignoring its read-only members', async () => {
    const post = await createPost(author, 'as read');
    const res = await send<Post>('PUT', `/api/posts/${post.id}`, {
      as: author,
      json: { ...post, body: 'as edited' },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toStrictEqual({ ...post, body: 'as edited' });

    // Read-only members that say something else are ignored too, not applied.
    const tampered = {
      id: post.id + 1000,
      body: 'edited again',
      timestamp: '2000-01-01T00:00:00.000Z',
      author: other.id,
      _links: { self: '/api/posts/1', author: `/api/users/${other.id}` },
    };
    const again = await send<Post>('PUT', `/api/posts/${post.id}`, { as: author, json: tampered });
    expect(again.status, again.text).toBe(200);
    expect(again.body).toStrictEqual({ ...post, body: 'edited again' });
    expect(await postRow(post.id)).toMatchObject({
      id: post.id,
      user_id: author.id,
      body: 'edited again',
    });
    expect((await postRow(post.id))?.created_at.toISOString()).toBe(post.timestamp);
  });

  it('answers 401 with a Bearer challenge without a token and changes nothing', async () => {
    const post = await createPost(author, 'untouched');
    const res = await send('PUT', `/api/posts/${post.id}`, { json: { body: 'anonymous edit' } });
    expectError(res, 401);
    expect(res.headers.get('www-authenticate')).toMatch(ANY_BEARER_CHALLENGE);
    expect((await postRow(post.id))?.body).toBe('untouched');
  });
});

describe('DELETE /api/posts/{id}', () => {
  let author: TestUser;
  let other: TestUser;
  beforeAll(async () => {
    [author, other] = [await createUser(server), await createUser(server)];
  });

  it('answers 204 with an empty body; then the post is gone (404) and post_count goes down', async () => {
    const [keep, drop] = [await createPost(author, 'keep'), await createPost(author, 'drop')];
    expect(await postCountOf(other, author.id)).toBe(2);
    const res = await send('DELETE', `/api/posts/${drop.id}`, { as: author });
    expectNoContent(res);
    expect(res.headers.get('cache-control')).toBe('no-store');

    expectError(await send('GET', `/api/posts/${drop.id}`, { as: author }), 404);
    expect(await postRow(drop.id)).toBeUndefined();
    expect(await postCountOf(other, author.id)).toBe(1);
    const list = await send<PostCollection>('GET', `/api/users/${author.id}/posts`, { as: other });
    expect(list.body.items).toEqual([keep]);
    expect(list.body._meta.total_items).toBe(1);
  });

  it('answers 403 to anyone but the author and leaves the post in place', async () => {
    const victim = await createUser(server);
    const post = await createPost(victim, 'please stay');
    expectError(await send('DELETE', `/api/posts/${post.id}`, { as: other }), 403);
    const res = await send('GET', `/api/posts/${post.id}`, { as: other });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toStrictEqual(post);
    expect(await postCountOf(other, victim.id)).toBe(1);
  });

  it('answers 404 for a post that does not exist, or one deleted already', async () => {
    expectError(await send('DELETE', `/api/posts/${MISSING_ID}`, { as: author }), 404);
    const post = await createPost(author, 'short-lived');
    expectNoContent(await send('DELETE', `/api/posts/${post.id}`, { as: author }));
    expectError(await send('DELETE', `/api/posts/${post.id}`, { as: author }), 404);
  });

  it('answers 412 to a stale If-Match and keeps the post', async () => {
    const post = await createPost(author, 'original');
    const etag = (await send('GET', `/api/posts/${post.id}`, { as: author })).headers.get(
      'etag',
    ) as string;
    expect(
      (await send('PUT', `/api/posts/${post.id}`, { as: author, json: { body: 'changed' } }))
        .status,
    ).toBe(200);
    expectError(
      await send('DELETE', `/api/posts/${post.id}`, { as: author, headers: { 'If-Match': etag } }),
      412,
    );
    expect((await postRow(post.id))?.body).toBe('changed');
  });

  it('answers 401 with a Bearer challenge without a token and keeps the post', async () => {
    const post = await createPost(author, 'safe');
    const res = await send('DELETE', `/api/posts/${post.id}`);
    expectError(res, 401);
    expect(res.headers.get('www-authenticate')).toMatch(ANY_BEARER_CHALLENGE);
    expect(await postRow(post.id)).toBeDefined();
  });
});

describe('GET /api/users/{id}/posts', () => {
  let writer: TestUser;
  let neighbour: TestUser;
  let viewer: TestUser;
  let writerPosts: Post[];
  const base = () => `/api/users/${writer.id}/posts`;

  beforeAll(async () => {
    [writer, neighbour, viewer] = [
      await createUser(server),
      await createUser(server),
      await createUser(server),
    ];
    writerPosts = [];
    // Interleaved with a neighbour's posts, which must not show.
    for (let i = 1; i <= 4; i++) {
      writerPosts.push(await createPost(writer, `writer ${i}`));
      await createPost(neighbour, `neighbour ${i}`);
    }
  });

  it("answers 200 with only the user's posts, newest first, total_items equal to post_count", async () => {
    const res = await send<PostCollection>('GET', base(), { as: viewer });
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('content-type')).toBe(JSON_TYPE);
    expect(res.headers.get('cache-control')).toBe('private, no-cache');
    expect(res.headers.get('etag')).toMatch(STRONG_ETAG);
    expect(res.body).toStrictEqual({
      items: newestFirst(writerPosts),
      _meta: { page: 1, per_page: 10, total_pages: 1, total_items: 4 },
      _links: { self: `${base()}?page=1&per_page=10`, next: null, prev: null, newer: newerLink(base(), 1, 10, newestFirst(writerPosts)[0]) },
    });
    expect(await postCountOf(viewer, writer.id)).toBe(4);
  });

  it('answers 304 to If-None-Match with the ETag of the page', async () => {
    const first = await send('GET', base(), { as: viewer });
    const etag = first.headers.get('etag') as string;
    const again = await send('GET', base(), { as: viewer, headers: { 'If-None-Match': etag } });
    expect(again.status, again.text).toBe(304);
    expect(again.text).toBe('');
  });

  it('answers an empty collection for a user with no posts', async () => {
    const res = await send<PostCollection>('GET', `/api/users/${viewer.id}/posts`, { as: viewer });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toStrictEqual({
      items: [],
      _meta: { page: 1, per_page: 10, total_pages: 0, total_items: 0 },
      _links: {
        self: `/api/users/${viewer.id}/posts?page=1&per_page=10`,
        next: null,
        prev: null,
        newer: newerLink(`/api/users/${viewer.id}/posts`, 1, 10),
      },
    });
  });

  it('answers 404 for a user that does not exist', async () => {
    expectError(
      await send('GET', `/api/users/${MISSING_ID}/posts`, { as: viewer }),
      404,
      expect.stringContaining(String(MISSING_ID)),
    );
  });

  it('answers 400 for a page or per_page below 1 or not an integer', async () => {
    for (const query of ['page=0', 'per_page=0', 'page=abc', 'per_page=1.5']) {
      const res = await send('GET', `${base()}?${query}`, { as: viewer });
      expect(res.status, `${query}: ${res.text}`).toBe(400);
      expectError(res, 400);
    }
  });

  it('answers 401 with a Bearer challenge without a token', async () => {
    const res = await send('GET', base());
    expectError(res, 401);
    expect(res.headers.get('www-authenticate')).toMatch(ANY_BEARER_CHALLENGE);
  });
});

describe('GET /api/posts', () => {
  it('lists the posts of every user newest first, the ones just written on top of what was there', async () => {
    const [a, b] = [await createUser(server), await createUser(server)];
    const mine = [
      await createPost(a, 'global a1'),
      await createPost(b, 'global b1'),
      await createPost(a, 'global a2'),
    ];
    const wanted = new Set(ids(mine));

    // Other test files write posts at the same time: page until all of ours were seen.
    const seen: Post[] = [];
    let next: string | null = '/api/posts?per_page=50';
    let first: Answer<PostCollection> | undefined;
    for (
      let pages = 0;
      next !== null && pages < 20 && ids(seen).filter((id) => wanted.has(id)).length < 3;
      pages++
    ) {
      const res: Answer<PostCollection> = await send<PostCollection>('GET', next, { as: a });
      expect(res.status, res.text).toBe(200);
      first ??= res;
      seen.push(...res.body.items);
      next = res.body._links.next;
    }
    expect(first?.headers.get('cache-control')).toBe('private, no-cache');
    expect(first?.body._meta).toMatchObject({ page: 1, per_page: 50 });
    expect(first?.body._links.self).toBe('/api/posts?page=1&per_page=50');
    expect(first?.body._meta.total_items).toBeGreaterThanOrEqual(3);

    expect(isNewestFirst(seen), JSON.stringify(seen.map((p) => [p.timestamp, p.id]))).toBe(true);
    expect(new Set(ids(seen)).size).toBe(seen.length);
    expect(seen.filter((p) => wanted.has(p.id))).toStrictEqual(newestFirst(mine));
  });

  it('answers a page past the end with no items, a prev link and next null', async () => {
    const user = await createUser(server);
    const total = (await send<PostCollection>('GET', '/api/posts?per_page=100', { as: user })).body
      ._meta.total_items;
    // As deep as a page by number goes (page × per_page = 10000): past the end while
    // concurrent writers leave it so.
    expect(total).toBeLessThan(9_000);
    const page = 100;
    const res = await send<PostCollection>('GET', `/api/posts?page=${page}&per_page=100`, {
      as: user,
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.items).toEqual([]);
    expect(res.body._links.next).toBeNull();
    expect(res.body._links.prev).toBe(`/api/posts?page=${res.body._meta.total_pages}&per_page=100`);
  });

  it('answers 401 with a Bearer challenge without a token', async () => {
    const res = await send('GET', '/api/posts');
    expectError(res, 401);
    expect(res.headers.get('www-authenticate')).toMatch(ANY_BEARER_CHALLENGE);
  });
});

describe('posts written at the same instant', () => {
  const instant = new Date('2001-02-03T04:05:06.789Z');

  /** Inserts posts straight into the table, all with the same created_at. */
  async function insertAt(userId: number, bodies: string[]): Promise<PostRow[]> {
    const rows: PostRow[] = [];
    for (const body of bodies) {
      const [row] = await server
        .db<PostRow>('posts')
        .insert({ user_id: userId, body, created_at: instant })
        .returning('*');
      rows.push(row as PostRow);
    }
    return rows;
  }

  const asPost = (row: PostRow) =>
    representation(row.id, row.body, row.user_id, row.created_at.toISOString());

  it("come out of a user's posts by id descending, and paging with per_page=2 returns each once", async () => {
    const user = await createUser(server);
    const rows = await insertAt(user.id, ['t1', 't2', 't3', 't4', 't5']);
    expect(new Set(rows.map((r) => r.created_at.getTime())).size).toBe(1);
    const expected = rows.map(asPost).sort((x, y) => y.id - x.id);
    const base = `/api/users/${user.id}/posts`;

    const all = await send<PostCollection>('GET', base, { as: user });
    expect(all.body.items).toStrictEqual(expected);

    const pages = await pageThrough(`${base}?per_page=2`, user);
    expect(pages.map((p) => ids(p.items))).toEqual([
      ids(expected.slice(0, 2)),
      ids(expected.slice(2, 4)),
      ids(expected.slice(4)),
    ]);
    expect(pages.flatMap((p) => p.items)).toStrictEqual(expected);
    expect(pages.map((p) => p._meta)).toEqual(
      [1, 2, 3].map((page) => ({ page, per_page: 2, total_pages: 3, total_items: 5 })),
    );
    expect(pages[0]?._links.next).toMatch(cursorLink(base, 2, 2));
    expect(pages[1]?._links.next).toMatch(cursorLink(base, 3, 2));
    expect(pages[1]?._links.prev).toBe(`${base}?page=1&per_page=2`);
    expect(pages[2]?._links.next).toBeNull();
  });

  it('come out of a feed by id descending across authors, and paging with per_page=2 returns each once', async () => {
    const [reader, writer] = [await createUser(server), await createUser(server)];
    await follow(reader, writer);
    const rows: PostRow[] = [];
    for (let i = 1; i <= 3; i++) {
      rows.push(
        ...(await insertAt(reader.id, [`reader ${i}`])),
        ...(await insertAt(writer.id, [`writer ${i}`])),
      );
    }
    const expected = rows.map(asPost).sort((x, y) => y.id - x.id);
    const base = `/api/users/${reader.id}/feed`;

    const pages = await pageThrough(`${base}?per_page=2`, reader);
    expect(pages.flatMap((p) => p.items)).toStrictEqual(expected);
    expect(pages.map((p) => p.items.length)).toEqual([2, 2, 2]);
    expect(pages.map((p) => p._meta.total_items)).toEqual([6, 6, 6]);
  });
});

describe('paging a timeline while posts are written', () => {
  let user: TestUser;
  let original: Post[];
  const base = () => `/api/users/${user.id}/posts`;

  beforeAll(async () => {
    user = await createUser(server);
    original = newestFirst(await createPosts(user, 7, 'original'));
  });

  it('following _links.next after new posts arrive neither skips nor repeats the original posts', async () => {
    const firstRes = await send<PostCollection>('GET', `${base()}?per_page=3`, { as: user });
    expect(firstRes.status, firstRes.text).toBe(200);
    const first = firstRes.body;
    expect(first.items).toStrictEqual(original.slice(0, 3));
    expect(first._meta).toEqual({ page: 1, per_page: 3, total_pages: 3, total_items: 7 });
    expect(first._links.self).toBe(`${base()}?page=1&per_page=3`);
    expect(first._links.prev).toBeNull();
    expect(first._links.next).toMatch(cursorLink(base(), 2, 3));

    const fresh = await createPosts(user, 2, 'fresh');

    const rest = await pageThrough(first._links.next as string, user);
    const seen = [...first.items, ...rest.flatMap((p) => p.items)];
    expect(seen).toStrictEqual(original);
    expect(ids(seen).filter((id) => ids(fresh).includes(id))).toEqual([]);
    expect(rest.map((p) => ids(p.items))).toEqual([
      ids(original.slice(3, 6)),
      ids(original.slice(6)),
    ]);
    expect(rest.map((p) => p._meta)).toEqual([
      { page: 2, per_page: 3, total_pages: 3, total_items: 9 },
      { page: 3, per_page: 3, total_pages: 3, total_items: 9 },
    ]);
    // The page that the cursor was for says so in self.
    expect(rest[0]?._links.self).toBe(first._links.next);

    // Deleting them again keeps the other tests' view of this user as it was.
    for (const post of fresh)
      expectNoContent(await send('DELETE', `/api/posts/${post.id}`, { as: user }));
  });

  it('serves page=2&per_page=3 without a cursor by offset', async () => {
    const res = await send<PostCollection>('GET', `${base()}?page=2&per_page=3`, { as: user });
    expect(res.status, res.text).toBe(200);
    expect(res.body.items).toStrictEqual(original.slice(3, 6));
    expect(res.body._meta).toEqual({ page: 2, per_page: 3, total_pages: 3, total_items: 7 });
    expect(res.body._links.self).toBe(`${base()}?page=2&per_page=3`);
    expect(res.body._links.prev).toBe(`${base()}?page=1&per_page=3`);
    expect(res.body._links.next).toMatch(cursorLink(base(), 3, 3));
    const last = await send<PostCollection>('GET', res.body._links.next as string, { as: user });
    expect(last.body.items).toStrictEqual(original.slice(6));
    expect(last.body._links.next).toBeNull();
  });

  it('answers a page past the end with no items, a prev link and next null', async () => {
    const res = await send<PostCollection>('GET', `${base()}?page=4&per_page=3`, { as: user });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toStrictEqual({
      items: [],
      _meta: { page: 4, per_page: 3, total_pages: 3, total_items: 7 },
      _links: {
        self: `${base()}?page=4&per_page=3`,
        next: null,
        prev: `${base()}?page=3&per_page=3`,
        newer: newerLink(base(), 4, 3),
      },
    });
  });

  it('answers 400, never 5xx, to a cursor the server did not make, on every timeline', async () => {
    const forged = [
      'abc',
      randomBytes(24).toString('base64url'),
      Buffer.from('yesterday.7').toString('base64url'),
      Buffer.from('1700000000000.99999999999999999').toString('base64url'),
      Buffer.from('1700000000000').toString('base64url'),
      'not a cursor!',
      'A'.repeat(201),
    ];
    for (const path of [base(), `/api/users/${user.id}/feed`, '/api/posts']) {
      for (const cursor of forged) {
        const res = await send('GET', `${path}?per_page=3&cursor=${encodeURIComponent(cursor)}`, {
          as: user,
        });
        expect(res.status, `${path} cursor=${cursor}: ${res.text}`).toBe(400);
        expectError(res, 400);
      }
    }
  });

  it('never answers 5xx to a well-formed cursor at the edges of time', async () => {
    for (const raw of ['0.0', '999999999999999.9007199254740991', '1.1']) {
      const cursor = Buffer.from(raw).toString('base64url');
      for (const path of [base(), `/api/users/${user.id}/feed`, '/api/posts']) {
        const res = await send<PostCollection>('GET', `${path}?cursor=${cursor}`, { as: user });
        expect([200, 400], `${path} cursor=${raw}: ${res.status} ${res.text}`).toContain(
          res.status,
        );
      }
    }
  });
});

describe('GET /api/users/{id}/feed', () => {
  let a: TestUser;
  let b: TestUser;
  let c: TestUser;
  let aPosts: Post[];
  let bPosts: Post[];
  let cPosts: Post[];
  let all: Post[];
  const feed = (user: TestUser) => `/api/users/${user.id}/feed`;

  beforeAll(async () => {
    [a, b, c] = [await createUser(server), await createUser(server), await createUser(server)];
    await follow(a, b);
    // C follows A: the follow goes the other way, so C's posts are not A's business.
    await follow(c, a);
    aPosts = [];
    bPosts = [];
    cPosts = [];
    all = [];
    for (let i = 1; i <= 3; i++) {
      const pa = await createPost(a, `A says ${i}`);
      const pb = await createPost(b, `B says ${i}`);
      const pc = await createPost(c, `C says ${i}`);
      aPosts.push(pa);
      bPosts.push(pb);
      cPosts.push(pc);
      all.push(pa, pb, pc);
    }
  });

  const only = (...authors: TestUser[]) =>
    newestFirst(all.filter((p) => authors.some((u) => u.id === p.author)));

  it("shows the user's own posts and those of the users it follows, newest first, and nobody else's", async () => {
    const res = await send<PostCollection>('GET', feed(a), { as: a });
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('content-type')).toBe(JSON_TYPE);
    expect(res.headers.get('cache-control')).toBe('private, no-cache');
    expect(res.headers.get('etag')).toMatch(STRONG_ETAG);
    expect(res.body).toStrictEqual({
      items: only(a, b),
      _meta: { page: 1, per_page: 10, total_pages: 1, total_items: 6 },
      _links: { self: `${feed(a)}?page=1&per_page=10`, next: null, prev: null, newer: newerLink(feed(a), 1, 10, only(a, b)[0]) },
    });
    for (const id of ids(cPosts)) expect(ids(res.body.items)).not.toContain(id);
  });

  it("has total_items equal to the user's posts plus the posts of those it follows", async () => {
    const res = await send<PostCollection>('GET', feed(a), { as: a });
    const own = (await postCountOf(a, a.id)) as number;
    const followed = (await postCountOf(a, b.id)) as number;
    const counts = own + followed;
    expect(res.body._meta.total_items).toBe(counts);
    expect(counts).toBe(aPosts.length + bPosts.length);
  });

  it('answers 403 for the feed of anyone else, even a user who does not exist', async () => {
    expectError(await send('GET', feed(b), { as: a }), 403);
    expectError(await send('GET', `/api/users/${MISSING_ID}/feed`, { as: a }), 403);
  });

  it('shows a user who follows nobody only its own posts', async () => {
    const res = await send<PostCollection>('GET', feed(b), { as: b });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toStrictEqual({
      items: only(b),
      _meta: { page: 1, per_page: 10, total_pages: 1, total_items: 3 },
      _links: { self: `${feed(b)}?page=1&per_page=10`, next: null, prev: null, newer: newerLink(feed(b), 1, 10, only(b)[0]) },
    });
  });

  it('shows a follower the posts of the user it follows (C follows A)', async () => {
    const res = await send<PostCollection>('GET', feed(c), { as: c });
    expect(res.body.items).toStrictEqual(only(a, c));
    expect(res.body._meta.total_items).toBe(6);
  });

  it('answers an empty feed for a user who follows nobody and wrote nothing', async () => {
    const lonely = await createUser(server);
    const res = await send<PostCollection>('GET', feed(lonely), { as: lonely });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toStrictEqual({
      items: [],
      _meta: { page: 1, per_page: 10, total_pages: 0, total_items: 0 },
      _links: { self: `${feed(lonely)}?page=1&per_page=10`, next: null, prev: null, newer: newerLink(feed(lonely), 1, 10) },
    });
  });

  it('pages with per_page=2 through _links.next without repeats or gaps', async () => {
    const pages = await pageThrough(`${feed(a)}?per_page=2`, a);
    expect(pages.flatMap((p) => p.items)).toStrictEqual(only(a, b));
    expect(pages.map((p) => p._meta)).toEqual(
      [1, 2, 3].map((page) => ({ page, per_page: 2, total_pages: 3, total_items: 6 })),
    );
    expect(pages[0]?._links.next).toMatch(cursorLink(feed(a), 2, 2));
    expect(pages[2]?._links.next).toBeNull();
  });

  it('keeps paging stable while followed users post: no repeats, no new posts mid-way', async () => {
    const first = await send<PostCollection>('GET', `${feed(a)}?per_page=2`, { as: a });
    expect(first.body.items).toStrictEqual(only(a, b).slice(0, 2));
    const fresh = await createPost(b, 'B says something new');
    const rest = await pageThrough(first.body._links.next as string, a);
    const seen = [...first.body.items, ...rest.flatMap((p) => p.items)];
    expect(seen).toStrictEqual(only(a, b));
    expect(ids(seen)).not.toContain(fresh.id);
    expectNoContent(await send('DELETE', `/api/posts/${fresh.id}`, { as: b }));
  });

  it('drops the posts of a user once unfollowed, and brings them back on following again', async () => {
    await unfollow(a, b);
    const after = await send<PostCollection>('GET', feed(a), { as: a });
    expect(after.status, after.text).toBe(200);
    expect(after.body.items).toStrictEqual(only(a));
    expect(after.body._meta.total_items).toBe(3);

    await follow(a, b);
    const back = await send<PostCollection>('GET', feed(a), { as: a });
    expect(back.body.items).toStrictEqual(only(a, b));
    expect(back.body._meta.total_items).toBe(6);
  });

  it('answers 401 with a Bearer challenge without a token', async () => {
    const res = await send('GET', feed(a));
    expectError(res, 401);
    expect(res.headers.get('www-authenticate')).toMatch(ANY_BEARER_CHALLENGE);
  });
});

describe('pull-to-refresh through _links.newer', () => {
  const cursorOf = (link: string) => new URL(link, 'http://x').searchParams.get('cursor');

  /**
   * Follows `newer` from `start` until a page comes back empty, calling `between` after each
   * page; the posts seen, newest first as a timeline shows them, and the empty page.
   */
  async function refresh(start: string, as: TestUser, between: (round: number) => Promise<void> = async () => undefined) {
    const seen: Post[] = [];
    let link = start;
    for (let round = 0; round < 30; round++) {
      const res = await send<PostCollection>('GET', link, { as });
      expect(res.status, `${link}: ${res.text}`).toBe(200);
      const page = res.body;
      expect(page.items.length, link).toBeLessThanOrEqual(page._meta.per_page);
      expect(isNewestFirst(page.items), link).toBe(true);
      if (!page.items.length) return { seen, empty: res };
      seen.unshift(...page.items);
      await between(round);
      link = newerOf(page);
    }
    throw new Error('newer never came back empty');
  }

  it('on a feed: the posts that arrived, a page at a time from the oldest, none skipped or repeated while more arrive', async () => {
    const [reader, w1, w2, stranger] = [await createUser(server), await createUser(server), await createUser(server), await createUser(server)];
    await follow(reader, w1);
    await follow(reader, w2);
    await createPosts(w1, 2, 'w1 before');
    await createPost(reader, 'mine before');
    await createPost(stranger, 'not followed');
    const feedPath = `/api/users/${reader.id}/feed`;
    const first = await send<PostCollection>('GET', `${feedPath}?per_page=3`, { as: reader });
    expect(first.body._links.newer).toBe(newerLink(feedPath, 1, 3, first.body.items[0]));

    const arrived: Post[] = [];
    for (const author of [w1, stranger, w2, w1, reader, stranger, w2, w1, w2])
      if (author === stranger) await createPost(author, 'not followed');
      else arrived.push(await createPost(author, 'arrived'));
    const late: Post[] = [];
    const { seen, empty } = await refresh(newerOf(first.body), reader, async (round) => {
      if (round < 2) late.push(await createPost(round ? w2 : w1, `arrived while refreshing ${round}`));
    });
    expect(ids(seen)).toEqual(ids(newestFirst([...arrived, ...late])));

    // Nothing new: the same point again, and 304 to the page's own ETag.
    expect(cursorOf(newerOf(empty.body))).toBe(cursorOf(empty.body._links.self));
    const again = await send('GET', newerOf(empty.body), { as: reader, headers: { 'If-None-Match': empty.headers.get('etag') as string } });
    expect(again.status, again.text).toBe(304);

    // An unfollow shows in the next refresh.
    await unfollow(reader, w2);
    await createPost(w2, 'unfollowed');
    const kept = await createPost(w1, 'still followed');
    expect(ids((await refresh(newerOf(empty.body), reader)).seen)).toEqual([kept.id]);
  });

  it('on a newer page, next leads down to the page it was taken from', async () => {
    const writer = await createUser(server);
    const before = await createPosts(writer, 3, 'before');
    const path = `/api/users/${writer.id}/posts`;
    const first = await send<PostCollection>('GET', `${path}?per_page=2`, { as: writer });
    const after = await createPosts(writer, 5, 'after');
    const up = await send<PostCollection>('GET', newerOf(first.body), { as: writer });
    expect(up.status, up.text).toBe(200);
    // The two just above the page's first item, newest first, numbered one page up (not below 1).
    expect(ids(up.body.items)).toEqual(ids(newestFirst(after.slice(0, 2))));
    expect(up.body._meta).toEqual({ page: 1, per_page: 2, total_pages: 4, total_items: 8 });
    expect(up.body._links.self).toBe(first.body._links.newer);
    const down = await pageThrough(up.body._links.next as string, writer);
    expect(down.flatMap((p) => ids(p.items))).toEqual(ids(newestFirst(before)));
  });

  it('on an empty timeline, newer gives its first posts once written, and on every timeline each post once', async () => {
    const writer = await createUser(server);
    const path = `/api/users/${writer.id}/posts`;
    const empty = await send<PostCollection>('GET', `${path}?per_page=2`, { as: writer });
    expect(empty.body._links.newer).toBe(newerLink(path, 1, 2));
    const written = await createPosts(writer, 5, 'first ever');
    expect(ids((await refresh(newerOf(empty.body), writer)).seen)).toEqual(ids(newestFirst(written)));

    // All posts: others' posts may arrive meanwhile (other test files), but none twice, and ours all, in order.
    const top = await send<PostCollection>('GET', '/api/posts?per_page=20', { as: writer });
    const more = await createPosts(writer, 7, 'everyone sees');
    const { seen } = await refresh(newerOf(top.body), writer);
    expect(new Set(ids(seen)).size).toBe(seen.length);
    expect(ids(seen.filter((p) => p.author === writer.id))).toEqual(ids(newestFirst(more)));
  });

  it('answers 400 to a newer cursor this server did not make', async () => {
    const user = await createUser(server);
    for (const forged of ['>1.2.3', '>-1.5', '>abc.1', '>1700000000000.99999999999999999'])
      expectError(await send('GET', `/api/posts?cursor=${Buffer.from(forged).toString('base64url')}`, { as: user }), 400, expect.stringContaining('cursor'));
  });
});

describe('links to posts', () => {
  it('the entry point GET /api links to /api/posts', async () => {
    const res = await send<{ _links: Record<string, string> }>('GET', '/api');
    expect(res.status, res.text).toBe(200);
    expect(res.body).toStrictEqual({
      _links: {
        users: '/api/users',
        posts: '/api/posts',
        messages: '/api/messages',
        notifications: '/api/notifications',
        tokens: '/api/tokens',
        docs: '/api/docs',
        openapi: '/api/openapi.json',
      },
    });
  });

  it("a user representation links to the user's posts, and the link works", async () => {
    const user = await createUser(server);
    const post = await createPost(user, 'linked');
    const res = await send<{ _links: { posts: string } }>('GET', `/api/users/${user.id}`, {
      as: user,
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body._links.posts).toBe(`/api/users/${user.id}/posts`);
    const list = await send<PostCollection>('GET', res.body._links.posts, { as: user });
    expect(list.status, list.text).toBe(200);
    expect(list.body.items).toStrictEqual([post]);
  });
});
