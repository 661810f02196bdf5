import { beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../src/db/database.js';
import { createUser, type TestUser } from './support/factories.js';
import { useServer } from './support/server.js';

const server = useServer();

const ITEMS = 101;

/** The SQL statements the server sends while answering one request. */
async function statementsOf(path: string, as: TestUser): Promise<{ status: number; statements: number; next: string | null }> {
  let statements = 0;
  const count = () => statements++;
  server.db.on('query', count);
  try {
    const res = await server.fetch(path, { headers: as.auth });
    const body = (await res.json()) as { _links?: { next?: string | null } };
    return { status: res.status, statements, next: body._links?.next ?? null };
  } finally {
    server.db.off('query', count);
  }
}

describe('SQL statements per request', () => {
  let viewer: TestUser;
  let hub: number;

  beforeAll(async () => {
    viewer = await createUser(server);
    // Arranged in bulk: 101 users who follow the hub, whom the hub and the viewer follow, each with a post.
    const users = await server.db('users').insert(
      Array.from({ length: ITEMS + 1 }, (_, i) => ({
        username: `stmt_${process.pid}_${Date.now()}_${i}`,
        email: `stmt_${process.pid}_${Date.now()}_${i}@example.com`,
        password_hash: 'not a login',
      })),
      ['id'],
    );
    const [first, ...others] = users.map((u: { id: number }) => u.id) as [number, ...number[]];
    hub = first;
    await server.db('follows').insert(others.map((id) => ({ follower_id: id, followed_id: hub })));
    await server.db('follows').insert(others.map((id) => ({ follower_id: hub, followed_id: id })));
    await server.db('follows').insert(others.map((id) => ({ follower_id: viewer.id, followed_id: id })));
    await server.db('posts').insert(others.map((id) => ({ user_id: id, body: `post of ${id}` })));
    await server.db('posts').insert(others.map(() => ({ user_id: hub, body: 'a post of the hub' })));
  });

  it('reads a user with two: the token with its user, and the user', async () => {
    expect(await statementsOf(`/api/users/${hub}`, viewer)).toMatchObject({ status: 200, statements: 2 });
    expect(await statementsOf(`/api/users/${viewer.id}`, viewer)).toMatchObject({ status: 200, statements: 1 });
  });

  it("reads the top of a feed with one more when that changes the reader's new_post_in_feed count, then as many as any page", async () => {
    const feed = `/api/users/${viewer.id}/feed?per_page=1`;
    // The posts above were written to the viewer's timeline: showing its top counts them seen.
    expect(await statementsOf(feed, viewer)).toMatchObject({ status: 200, statements: 4 });
    expect(await statementsOf(feed, viewer)).toMatchObject({ status: 200, statements: 3 });
  });

  it.each([
    ['/api/users', 3],
    ['/api/users/{hub}/followers', 3],
    ['/api/users/{hub}/followed', 3],
    ['/api/posts', 3],
    ['/api/users/{hub}/posts', 3],
    ['/api/users/{viewer}/feed', 3],
  ])('answers %s with as many for 100 items as for 1 (%i), on every page', async (template, expected) => {
    const path = template.replace('{hub}', String(hub)).replace('{viewer}', String(viewer.id));
    const one = await statementsOf(`${path}?per_page=1`, viewer);
    const hundred = await statementsOf(`${path}?per_page=100`, viewer);
    expect(one).toMatchObject({ status: 200, statements: expected });
    expect(hundred).toMatchObject({ status: 200, statements: expected });
    expect(hundred.next).not.toBeNull();
    expect(await statementsOf(hundred.next ?? '', viewer)).toMatchObject({ status: 200, statements: expected });
  });

  it.each([
    ['/api/posts?q=hub', 2],
    ['/api/users?q=stmt_', 2],
  ])('answers the search %s with as many for 100 results as for 1 (%i: the token, then the page and its total in one), on every page', async (path, expected) => {
    const one = await statementsOf(`${path}&per_page=1`, viewer);
    const hundred = await statementsOf(`${path}&per_page=100`, viewer);
    expect(one).toMatchObject({ status: 200, statements: expected });
    expect(hundred).toMatchObject({ status: 200, statements: expected });
    expect(hundred.next).not.toBeNull();
    expect(await statementsOf(hundred.next ?? '', viewer)).toMatchObject({ status: 200, statements: expected });
  });
});

describe('queryRows, the hot path past knex', () => {
  it("rejects with PostgreSQL's error, tells knex's listeners, and gives the connection back every time", async () => {
    const events: string[] = [];
    const onQuery = () => events.push('query');
    const onError = (err: { code?: string }) => events.push(`error ${err.code}`);
    const onResponse = () => events.push('response');
    server.db.on('query', onQuery).on('query-error', onError).on('query-response', onResponse);
    try {
      // More attempts than the pool has connections: a leaked connection would time the rest out.
      for (let i = 0; i < 30; i++) await expect(queryRows(server.db, 'SELECT 1 / $1::int', [0])).rejects.toMatchObject({ code: '22012' });
      expect(await queryRows(server.db, 'SELECT $1::int AS n', [7])).toEqual([{ n: 7 }]);
    } finally {
      server.db.off('query', onQuery).off('query-error', onError).off('query-response', onResponse);
    }
    expect(events).toEqual([...Array.from({ length: 30 }, () => ['query', 'error 22012']).flat(), 'query', 'response']);
  });
});
