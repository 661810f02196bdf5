import { newerLink } from './support/assertions.js';
import { beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../generated/openapi.js';
import { collection, MAX_PAGE_DEPTH } from '../src/representations/collections.js';
import { createUser, type TestUser } from './support/factories.js';
import { JSON_TYPE } from './support/constants.js';
import { send, type Answer } from './support/http.js';
import { useServer } from './support/server.js';

type Collection = components['schemas']['UserCollection'] | components['schemas']['PostCollection'];
type ApiError = components['schemas']['Error'];

const server = useServer();

const OFFSET = /\boffset\b/i;

/** An answer, and the SQL statements the server sent while giving it. */
async function traced(path: string, as: TestUser): Promise<{ answer: Answer<Collection & ApiError>; sql: string[] }> {
  const sql: string[] = [];
  const record = (query: { sql: string }) => sql.push(query.sql);
  server.db.on('query', record);
  try {
    const answer = await send<Collection & ApiError>(server, 'GET', path, { as, headers: { Accept: 'application/json' } });
    return { answer, sql };
  } finally {
    server.db.off('query', record);
  }
}

async function call(as: TestUser, method: string, path: string, json?: unknown): Promise<void> {
  const res = await send(server, method, path, { as, json });
  expect(res.status, res.text).toBeLessThan(300);
}

const tooDeep = (perPage: number) => {
  const rule = `must be at most ${MAX_PAGE_DEPTH / perPage} when per_page is ${perPage} (page × per_page ≤ ${MAX_PAGE_DEPTH}); to go deeper, follow _links.next: its cursor reaches any page at the cost of the first`;
  return { error: 'Bad Request', message: `page (query): ${rule}`, errors: [{ path: '/query/page', message: rule }] };
};

describe('pages by number on every list', () => {
  let viewer: TestUser;
  let hub: TestUser;
  /** Each list, and how many items it holds (undefined: the whole table, which other test files grow). */
  let lists: [string, number | undefined][];

  beforeAll(async () => {
    [viewer, hub] = [await createUser(server), await createUser(server)];
    const [a, b] = [await createUser(server), await createUser(server)];
    for (const body of ['one', 'two', 'three']) await call(hub, 'POST', '/api/posts', { body });
    for (const follower of [viewer, a, b]) await call(follower, 'PUT', `/api/users/${follower.id}/followed/${hub.id}`);
    for (const followed of [viewer, a, b]) await call(hub, 'PUT', `/api/users/${hub.id}/followed/${followed.id}`);
    lists = [
      ['/api/users', undefined],
      [`/api/users/${hub.id}/followers`, 3],
      [`/api/users/${hub.id}/followed`, 3],
      ['/api/posts', undefined],
      [`/api/users/${hub.id}/posts`, 3],
      [`/api/users/${viewer.id}/feed`, 3],
    ];
  });

  const each = (test: (path: string, size: number | undefined) => Promise<void>) => async () => {
    for (const [path, size] of lists) await test(path, size);
  };

  it(
    'answers a page past the end from the counts alone: no items, the right _meta and links, and no OFFSET query',
    each(async (path, size) => {
      const { answer, sql } = await traced(`${path}?page=100&per_page=100`, viewer);
      expect(answer.status, `${path}: ${answer.text}`).toBe(200);
      const total = answer.body._meta.total_items;
      if (size === undefined) expect(total, `${path} must stay shorter than 99 pages of 100 for this test`).toBeLessThan(9_900);
      else expect(total, path).toBe(size);
      const totalPages = Math.ceil(total / 100);
      expect(answer.body, path).toStrictEqual({
        items: [],
        _meta: { page: 100, per_page: 100, total_pages: totalPages, total_items: total },
        _links: {
          self: `${path}?page=100&per_page=100`,
          next: null,
          prev: `${path}?page=${Math.max(1, totalPages)}&per_page=100`,
          ...(path.endsWith('posts') || path.endsWith('feed') ? { newer: newerLink(path, 100, 100) } : {}),
        },
      });
      // The token with its user, then the size of the list: no statement reads the list itself.
      expect(sql.filter((s) => OFFSET.test(s)), path).toEqual([]);
      expect(sql, path).toHaveLength(2);
    }),
  );

  it(
    'still serves a page within the list by offset (so the trace above sees OFFSET where one runs)',
    each(async (path) => {
      const { answer, sql } = await traced(`${path}?page=2&per_page=1`, viewer);
      expect(answer.status, `${path}: ${answer.text}`).toBe(200);
      expect(answer.body.items, path).toHaveLength(1);
      expect(sql.filter((s) => OFFSET.test(s)), path).toHaveLength(1);
    }),
  );

  it(
    'answers 400 naming the cursor way for a page deeper than 10000 items, before any SQL but the token',
    each(async (path) => {
      const { answer, sql } = await traced(`${path}?page=2147483647`, viewer);
      expect(answer.status, `${path}: ${answer.text}`).toBe(400);
      expect(answer.headers.get('content-type')).toBe(JSON_TYPE);
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(answer.body, path).toStrictEqual(tooDeep(10));
      expect(sql, path).toHaveLength(1);
    }),
  );

  it(
    'serves page × per_page up to 10000 and refuses one page more, per_page above 100 counting as 100',
    each(async (path) => {
      const status = async (query: string) => (await traced(`${path}?${query}`, viewer)).answer;
      expect((await status('page=1000')).status, path).toBe(200);
      expect((await status('page=1001')).body, path).toStrictEqual(tooDeep(10));
      expect((await status('page=100&per_page=100')).status, path).toBe(200);
      expect((await status('page=100&per_page=500')).status, path).toBe(200);
      expect((await status('page=101&per_page=500')).body, path).toStrictEqual(tooDeep(100));
      expect((await status('page=10000&per_page=1')).status, path).toBe(200);
      expect((await status('page=10001&per_page=1')).body, path).toStrictEqual(tooDeep(1));
    }),
  );

  it(
    'serves a page at any depth after a cursor, as the next links give it',
    each(async (path) => {
      const first = (await traced(`${path}?per_page=1`, viewer)).answer;
      const next = first.body._links.next ?? '';
      expect(next, path).toMatch(/[?&]page=2&per_page=1&cursor=[\w-]+$/);
      const { answer } = await traced(next.replace('page=2&', 'page=5000000&'), viewer);
      expect(answer.status, `${path}: ${answer.text}`).toBe(200);
      expect(answer.body._meta.page).toBe(5_000_000);
      expect(answer.body.items).toHaveLength(1);
      expect(answer.body.items[0]).not.toStrictEqual(first.body.items[0]);
      expect(answer.body._links.next ?? '').toMatch(/[?&]page=5000001&per_page=1&cursor=[\w-]+$/);
    }),
  );
});

describe('the links of a page reached by cursor', () => {
  const at = (page: number) => ({ page, perPage: 1, offset: 0, limit: 1 });

  it('give no prev link where the previous page is deeper than a page number is served', () => {
    expect(collection([], 20_000, at(10_001), '/api/posts')._links.prev).toBe('/api/posts?page=10000&per_page=1');
    expect(collection([], 20_000, at(10_002), '/api/posts')._links.prev).toBeNull();
    // Past the end, prev is the last page: within reach, so linked.
    expect(collection([], 3, at(10_002), '/api/posts')._links.prev).toBe('/api/posts?page=3&per_page=1');
  });
});
