import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../generated/openapi.js';
import { expectError, expectValidationError } from './support/assertions.js';
import { createUser, type TestUser } from './support/factories.js';
import { sender, type Answer } from './support/http.js';
import { useServer } from './support/server.js';

type Post = components['schemas']['Post'];
type PostCollection = components['schemas']['PostCollection'];
type UserCollection = components['schemas']['UserCollection'];

const server = useServer();
const send = sender(server, { Accept: 'application/json' });

/** A word no other test (or earlier run, in the shared database) writes: letters only. */
const word = () =>
  `zq${[...randomBytes(8)].map((b) => String.fromCharCode(97 + (b % 26))).join('')}`;

const search = (path: string, q: string, extra = '') => `${path}?q=${encodeURIComponent(q)}${extra}`;

let reader: TestUser;

beforeAll(async () => {
  reader = await createUser(server);
});

async function createPost(author: TestUser, body: string): Promise<Post> {
  const res = await send<Post>('POST', '/api/posts', { as: author, json: { body } });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

async function get<T>(path: string): Promise<Answer<T>> {
  const res = await send<T>('GET', path, { as: reader });
  expect(res.status, `${path}: ${res.text}`).toBe(200);
  return res;
}

/** Follows `_links.next` from `path` until it is null; every page, in order. */
async function pageThrough<T extends { _links: { next: string | null } }>(path: string, limit = 50): Promise<T[]> {
  const pages: T[] = [];
  let next: string | null = path;
  while (next !== null && pages.length < limit) {
    const res: Answer<T> = await get<T>(next);
    pages.push(res.body);
    next = res.body._links.next;
  }
  expect(next, 'more pages than expected').toBeNull();
  return pages;
}

const ids = (items: { id: number }[]) => items.map((item) => item.id);

describe('GET /api/posts?q=', () => {
  it('ranks by relevance: both words, then a word twice, then one word once; ties newest first', async () => {
    const author = await createUser(server);
    const [a, b] = [word(), word()];
    const once = await createPost(author, `I had ${a} today`);
    const twice = await createPost(author, `${a} and more ${a} please`);
    const both = await createPost(author, `${a} with ${b}`);
    const onceAgain = await createPost(author, `I had ${a} today`); // the same text, newer
    await createPost(author, 'nothing to see here');

    const res = await get<PostCollection>(search('/api/posts', `${a} ${b}`));
    expect(ids(res.body.items)).toEqual([both.id, twice.id, onceAgain.id, once.id]);
    expect(res.body._meta).toEqual({ page: 1, per_page: 10, total_pages: 1, total_items: 4 });
    expect(res.body._links).toEqual({
      self: `/api/posts?q=${encodeURIComponent(`${a} ${b}`)}&page=1&per_page=10`,
      next: null,
      prev: null,
      newer: null,
    });
  });

  it('matches words without regard to case, and by stem', async () => {
    const author = await createUser(server);
    const a = word();
    const post = await createPost(author, `Loving the ${a.toUpperCase()} here`);
    const res = await get<PostCollection>(search('/api/posts', a));
    expect(ids(res.body.items)).toEqual([post.id]);
    // 'english' stems: walking finds walked, coffees finds coffee.
    const b = word();
    const walked = await createPost(author, `${b} walked`);
    const stems = await get<PostCollection>(search('/api/posts', `WALKING ${b}`, '&per_page=1'));
    expect(stems.body.items[0]?.id).toBe(walked.id);
  });

  it('pages through next with no repeats or skips, total_items exact on every page', async () => {
    const author = await createUser(server);
    const a = word();
    const made: Post[] = [];
    // Three ranks: a word three times, twice, once, interleaved in time.
    for (let i = 0; i < 12; i++) made.push(await createPost(author, `${Array(1 + (i % 3)).fill(a).join(' ')} number ${i}`));
    const pages = await pageThrough<PostCollection>(search('/api/posts', a, '&per_page=5'));
    expect(pages.map((p) => p.items.length)).toEqual([5, 5, 2]);
    for (const page of pages) expect(page._meta.total_items).toBe(12);
    const seen = pages.flatMap((p) => ids(p.items));
    const expected = [2, 1, 0].flatMap((r) => made.filter((_, i) => i % 3 === r).reverse());
    expect(seen).toEqual(ids(expected));
    expect(pages.map((p) => p._meta.page)).toEqual([1, 2, 3]);
    expect(pages[1]?._links.next).toMatch(new RegExp(`^/api/posts\\?q=${a}&page=3&per_page=5&cursor=[A-Za-z0-9_-]+$`));
    for (const page of pages) expect(page._links.newer).toBeNull();

    // Page numbers as for other lists: page 2 by number is the page 2 the cursor gave.
    const second = await get<PostCollection>(search('/api/posts', a, '&page=2&per_page=5'));
    expect(ids(second.body.items)).toEqual(ids(pages[1]?.items ?? []));
    expect(second.body._links.prev).toBe(`/api/posts?q=${a}&page=1&per_page=5`);
  });

  it('no match, or only stop words: an empty list', async () => {
    const none = await get<PostCollection>(search('/api/posts', word()));
    expect(none.body).toEqual({
      items: [],
      _meta: { page: 1, per_page: 10, total_pages: 0, total_items: 0 },
      _links: { self: expect.any(String), next: null, prev: null, newer: null },
    });
    const stop = await get<PostCollection>(search('/api/posts', 'the and of'));
    expect(stop.body._meta.total_items).toBe(0);
  });

  it('takes any text as text: operators, quotes, backslashes, tsquery syntax', async () => {
    const author = await createUser(server);
    const a = word();
    const post = await createPost(author, `${a}: don't stop`);
    for (const q of ['a & | !', '!', "'", '"', '\\', "\\'", ':*', `${a}:*`, `'${a}' & !`, `(${a}`, '<->', `${a} <-> ${a}`, '-', 'or', '%_', "!!'')(\\", '😀 ünïcödé']) {
      const res = await get<PostCollection>(search('/api/posts', q));
      if (q.includes(a)) expect(ids(res.body.items), q).toContain(post.id);
    }
  });

  it('q of 1 to 100 characters once trimmed: empty, blank and longer are 400', async () => {
    const a = word();
    const author = await createUser(server);
    const post = await createPost(author, a);
    const padded = await get<PostCollection>(search('/api/posts', `  ${a}\t`));
    expect(ids(padded.body.items)).toEqual([post.id]);
    expect(padded.body._links.self).toBe(`/api/posts?q=${a}&page=1&per_page=10`);
    await get<PostCollection>(search('/api/posts', 'x'.repeat(100)));
    await get<PostCollection>(search('/api/posts', ` ${'x'.repeat(100)} `));
    for (const q of ['', ' ', '\t\n', 'x'.repeat(101), `${'x'.repeat(50)} ${'x'.repeat(50)}`, 'a\u0000b']) {
      const res = await send('GET', search('/api/posts', q), { as: reader });
      expectValidationError(res, ['/query/q']);
    }
  });

  it('a cursor of another list is refused, and a search cursor without q is not a timeline cursor', async () => {
    const author = await createUser(server);
    const a = word();
    for (let i = 0; i < 3; i++) await createPost(author, `${a} ${i}`);
    const first = await get<PostCollection>(search('/api/posts', a, '&per_page=1'));
    const cursor = new URL(first.body._links.next ?? '', 'http://x').searchParams.get('cursor');
    expectError(await send('GET', `/api/posts?cursor=${cursor}`, { as: reader }), 400);
    const timeline = await get<PostCollection>('/api/posts?per_page=1');
    const timelineCursor = new URL(timeline.body._links.next ?? '', 'http://x').searchParams.get('cursor');
    expectError(await send('GET', search('/api/posts', a, `&cursor=${timelineCursor}`), { as: reader }), 400);
  });

  it('a search follows edits and deletions at once', async () => {
    const author = await createUser(server);
    const [a, b] = [word(), word()];
    const post = await createPost(author, a);
    const put = await send('PUT', `/api/posts/${post.id}`, { as: author, json: { body: b } });
    expect(put.status, put.text).toBe(200);
    expect((await get<PostCollection>(search('/api/posts', a))).body._meta.total_items).toBe(0);
    expect(ids((await get<PostCollection>(search('/api/posts', b))).body.items)).toEqual([post.id]);
    expect((await send('DELETE', `/api/posts/${post.id}`, { as: author })).status).toBe(204);
    expect((await get<PostCollection>(search('/api/posts', b))).body._meta.total_items).toBe(0);
  });

  it('without q nothing changes: a timeline, with its newer link', async () => {
    const res = await get<PostCollection>('/api/posts?per_page=2');
    expect(res.body._links.newer).toEqual(expect.stringMatching(/^\/api\/posts\?page=1&per_page=2&cursor=/));
  });
});

describe('GET /api/users?q=', () => {
  it('username exact, then prefix, above about_me matches; case-insensitive prefix', async () => {
    // Letters only: a valid username, and one word to the text search.
    const stem = word();
    const exact = await createUser(server, { username: stem.toUpperCase() });
    const prefixed = await createUser(server, { username: `${stem}x` });
    const about = await createUser(server, { about_me: `I am into ${stem} a lot` });
    const aboutTwice = await createUser(server, { about_me: `${stem} ${stem} all day` });
    const prefixedAndAbout = await createUser(server, { username: `${stem}_y`, about_me: `fan of ${stem}` });
    await createUser(server, { about_me: 'nothing at all' });

    const res = await get<UserCollection>(search('/api/users', stem));
    expect(ids(res.body.items)).toEqual([exact.id, prefixedAndAbout.id, prefixed.id, aboutTwice.id, about.id]);
    expect(res.body._meta.total_items).toBe(5);
    // Users as everywhere else: another user's email is not shown.
    expect(res.body.items[0]).not.toHaveProperty('email');

    // A prefix of the username, in another case.
    const byPrefix = await get<UserCollection>(search('/api/users', stem.slice(0, -2).toUpperCase()));
    expect(ids(byPrefix.body.items).sort()).toEqual([exact.id, prefixed.id, prefixedAndAbout.id].sort());
    // `_` is a character, not LIKE's wildcard: `${stem}x` does not start with `${stem}_`.
    const underscore = await get<UserCollection>(search('/api/users', `${stem}_`));
    expect(ids(underscore.body.items)[0]).toBe(prefixedAndAbout.id);
    expect(ids(underscore.body.items)).not.toContain(prefixed.id);
    const wildcard = await get<UserCollection>(search('/api/users', `${stem.slice(0, 4)}%`));
    expect(wildcard.body._meta.total_items).toBe(0);
  });

  it('ties newest account first; pages through next with no repeats or skips', async () => {
    const stem = word();
    const made: TestUser[] = [];
    for (let i = 0; i < 7; i++) made.push(await createUser(server, { username: `${stem}${i}` }));
    const pages = await pageThrough<UserCollection>(search('/api/users', stem, '&per_page=3'));
    expect(pages.map((p) => p.items.length)).toEqual([3, 3, 1]);
    for (const page of pages) expect(page._meta.total_items).toBe(7);
    expect(pages.flatMap((p) => ids(p.items))).toEqual(ids([...made].reverse()));
    expect(pages[0]?._links).toEqual({
      self: `/api/users?q=${stem}&page=1&per_page=3`,
      next: expect.stringMatching(new RegExp(`^/api/users\\?q=${stem}&page=2&per_page=3&cursor=[A-Za-z0-9_-]+$`)),
      prev: null,
    });
  });

  it('no match is an empty list; hostile q is text; bad q is 400', async () => {
    const none = await get<UserCollection>(search('/api/users', word()));
    expect(none.body._meta.total_items).toBe(0);
    expect(none.body.items).toEqual([]);
    for (const q of ['a & | !', "'", '\\', '%', '_', ':*', '"quoted"', '-x']) await get<UserCollection>(search('/api/users', q));
    for (const q of ['', '   ', 'y'.repeat(101)]) expectValidationError(await send('GET', search('/api/users', q), { as: reader }), ['/query/q']);
  });
});
