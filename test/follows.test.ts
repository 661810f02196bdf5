import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkAnswer } from './support/contract.js';
import { createUser, type TestUser } from './support/factories.js';
import { useServer } from './support/server.js';
import { expectNoContent, expectPlainError } from './support/assertions.js';
import { ANY_BEARER_CHALLENGE, JSON_TYPE, MISSING_ID } from './support/constants.js';
import { sender } from './support/http.js';

const server = useServer();
const send = sender(server);

const followPath = (id: number, target: number) => `/api/users/${id}/followed/${target}`;
const follow = (user: TestUser, target: number) => send('PUT', followPath(user.id, target), { as: user });
const unfollow = (user: TestUser, target: number) =>
  send('DELETE', followPath(user.id, target), { as: user });
const isFollowing = (viewer: TestUser, id: number, target: number) =>
  send('GET', followPath(id, target), { as: viewer });

async function userAs(viewer: TestUser, id: number): Promise<Record<string, unknown>> {
  const res = await send('GET', `/api/users/${id}`, { as: viewer });
  expect(res.status, res.text).toBe(200);
  return res.body as Record<string, unknown>;
}

async function countsOf(
  viewer: TestUser,
  id: number,
): Promise<{ follower_count: unknown; followed_count: unknown }> {
  const user = await userAs(viewer, id);
  return { follower_count: user.follower_count, followed_count: user.followed_count };
}

async function followRows(where: { follower_id?: number; followed_id?: number }): Promise<number> {
  const [row] = await server
    .db('follows')
    .where(where)
    .count<{ count: string | number }[]>({ count: '*' });
  return Number(row?.count ?? 0);
}

interface UserRow {
  id: number;
  username: string;
  email: string;
  about_me: string | null;
  last_seen: Date;
  post_count: number | string;
  follower_count: number | string;
  followed_count: number | string;
}

/** The representation SPEC.md describes, built from the database row, as `viewerId` sees it. */
function representation(row: UserRow, viewerId: number): Record<string, unknown> {
  const avatar = createHash('md5').update(row.email.trim().toLowerCase()).digest('hex');
  return {
    id: Number(row.id),
    username: row.username,
    ...(Number(row.id) === viewerId ? { email: row.email } : {}),
    last_seen: row.last_seen.toISOString(),
    about_me: row.about_me,
    post_count: Number(row.post_count),
    follower_count: Number(row.follower_count),
    followed_count: Number(row.followed_count),
    _links: {
      self: `/api/users/${row.id}`,
      followers: `/api/users/${row.id}/followers`,
      followed: `/api/users/${row.id}/followed`,
      posts: `/api/users/${row.id}/posts`,
      avatar: `https://www.gravatar.com/avatar/${avatar}?d=identicon&s=128`,
    },
  };
}

async function representations(
  ids: number[],
  viewerId: number,
): Promise<Record<string, unknown>[]> {
  const rows = await server.db<UserRow>('users').whereIn('id', ids).orderBy('id');
  return rows.map((row) => representation(row, viewerId));
}

/** Users created one after another, so their ids ascend in creation order. */
async function createUsers(n: number): Promise<TestUser[]> {
  const users: TestUser[] = [];
  for (let i = 0; i < n; i++) users.push(await createUser(server));
  return users;
}

/** A link with a cursor, as the server builds `next` links. */
function cursorLink(path: string, page: number, perPage: number): RegExp {
  const escaped = path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  return new RegExp(`^${escaped}\\?page=${page}&per_page=${perPage}&cursor=[A-Za-z0-9_-]+$`);
}

interface Collection {
  items: { id: number; email?: string }[];
  _meta: { page: number; per_page: number; total_pages: number; total_items: number };
  _links: { self: string; next: string | null; prev: string | null };
}

describe('PUT /api/users/{id}/followed/{target_id}', () => {
  let alice: TestUser;
  let bob: TestUser;
  beforeAll(async () => {
    [alice, bob] = (await createUsers(2)) as [TestUser, TestUser];
  });

  it('answers 204 with an empty body and makes the user a follower of the target', async () => {
    const [a, b] = (await createUsers(2)) as [TestUser, TestUser];
    const res = await follow(a, b.id);
    expectNoContent(res);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await followRows({ follower_id: a.id, followed_id: b.id })).toBe(1);
    expectNoContent(await isFollowing(a, a.id, b.id));
  });

  // Found by the contract fuzzer: a malformed body was a 400, one over 64 KB a 413, neither declared.
  it('ignores a body, as the operation takes none', async () => {
    const [a, b, c] = (await createUsers(3)) as [TestUser, TestUser, TestUser];
    for (const [target, body] of [
      [b.id, '{'],
      [c.id, JSON.stringify({ note: 'x'.repeat(70_000) })],
    ] as const) {
      const res = await server.fetch(followPath(a.id, target), {
        method: 'PUT',
        headers: { ...a.auth, 'Content-Type': 'application/json' },
        body,
      });
      const { answer, violations } = await checkAnswer('followUser', res);
      expect({ status: answer.status, violations }).toEqual({ status: 204, violations: [] });
      expect(await followRows({ follower_id: a.id, followed_id: target })).toBe(1);
    }
  });

  // Found by the contract fuzzer: the validator let Infinity through, and the route answered 403.
  it('answers 400 naming the path parameter for an id of Infinity', async () => {
    const [a, b] = (await createUsers(2)) as [TestUser, TestUser];
    for (const path of [`/api/users/Infinity/followed/${b.id}`, `/api/users/${a.id}/followed/-Infinity`]) {
      const res = await send('PUT', path, { as: a });
      expect(res.status, `${path}: ${res.text}`).toBe(400);
      expect((res.body as { errors?: { path: string }[] }).errors?.map((e) => e.path)).toEqual([path.includes('/-Inf') ? '/path/target_id' : '/path/id']);
    }
    expect(await followRows({ follower_id: a.id })).toBe(0);
  });

  it('is idempotent: following twice leaves one follow and raises each count by one only', async () => {
    const [a, b] = (await createUsers(2)) as [TestUser, TestUser];
    expect(await countsOf(a, a.id)).toEqual({ follower_count: 0, followed_count: 0 });
    expect(await countsOf(a, b.id)).toEqual({ follower_count: 0, followed_count: 0 });

    expectNoContent(await follow(a, b.id));
    expectNoContent(await follow(a, b.id));

    expect(await followRows({ follower_id: a.id, followed_id: b.id })).toBe(1);
    expect(await countsOf(a, a.id)).toEqual({ follower_count: 0, followed_count: 1 });
    expect(await countsOf(a, b.id)).toEqual({ follower_count: 1, followed_count: 0 });
  });

  it('answers 400 when a user tries to follow itself', async () => {
    const res = await follow(alice, alice.id);
    expectPlainError(res, 400);
    expect(await followRows({ follower_id: alice.id, followed_id: alice.id })).toBe(0);
    expect(await countsOf(alice, alice.id)).toEqual({ follower_count: 0, followed_count: 0 });
  });

  it('answers 404 naming the target when the target does not exist', async () => {
    const res = await follow(alice, MISSING_ID);
    expectPlainError(res, 404, expect.stringContaining(String(MISSING_ID)));
    expect(await followRows({ follower_id: alice.id })).toBe(0);
  });

  it("answers 403 when {id} is not the token's user, and follows nobody", async () => {
    const [carol] = (await createUsers(1)) as [TestUser];
    // Alice tries to make Bob follow Carol.
    const res = await send('PUT', followPath(bob.id, carol.id), { as: alice });
    expectPlainError(res, 403);
    expect(await followRows({ follower_id: bob.id, followed_id: carol.id })).toBe(0);
    expect(await countsOf(alice, carol.id)).toEqual({ follower_count: 0, followed_count: 0 });
  });

  it("answers 403, not 404, for someone else's {id} even when the target does not exist", async () => {
    const res = await send('PUT', followPath(bob.id, MISSING_ID), { as: alice });
    expectPlainError(res, 403);
  });

  it('answers 401 with a Bearer challenge without a token', async () => {
    const res = await send('PUT', followPath(alice.id, bob.id), { as: null });
    expectPlainError(res, 401);
    expect(res.headers.get('www-authenticate')).toMatch(ANY_BEARER_CHALLENGE);
    expect(await followRows({ follower_id: alice.id, followed_id: bob.id })).toBe(0);
  });
});

describe('GET /api/users/{id}/followed/{target_id}', () => {
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  beforeAll(async () => {
    [alice, bob, carol] = (await createUsers(3)) as [TestUser, TestUser, TestUser];
    expectNoContent(await follow(alice, bob.id));
  });

  it('answers 204 with an empty body when the user follows the target, to anyone who asks', async () => {
    expectNoContent(await isFollowing(alice, alice.id, bob.id));
    // Whether Alice follows Bob is public: Carol may ask too.
    expectNoContent(await isFollowing(carol, alice.id, bob.id));
  });

  it('answers 404 with a JSON error when the user does not follow the target', async () => {
    // Following is one-way: Bob does not follow Alice back.
    expectPlainError(await isFollowing(alice, bob.id, alice.id), 404);
    expectPlainError(await isFollowing(alice, alice.id, carol.id), 404);
  });

  it('answers 404 once the user has unfollowed the target', async () => {
    const [a, b] = (await createUsers(2)) as [TestUser, TestUser];
    expectNoContent(await follow(a, b.id));
    expectNoContent(await isFollowing(a, a.id, b.id));
    expectNoContent(await unfollow(a, b.id));
    expectPlainError(await isFollowing(a, a.id, b.id), 404);
  });

  it('answers 401 with a Bearer challenge without a token', async () => {
    const res = await send('GET', followPath(alice.id, bob.id), { as: null });
    expectPlainError(res, 401);
    expect(res.headers.get('www-authenticate')).toMatch(ANY_BEARER_CHALLENGE);
  });
});

describe('DELETE /api/users/{id}/followed/{target_id}', () => {
  it('answers 204 with an empty body, removes the follow and puts the counts back', async () => {
    const [a, b] = (await createUsers(2)) as [TestUser, TestUser];
    expectNoContent(await follow(a, b.id));
    expect(await countsOf(a, b.id)).toEqual({ follower_count: 1, followed_count: 0 });

    const res = await unfollow(a, b.id);
    expectNoContent(res);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await followRows({ follower_id: a.id, followed_id: b.id })).toBe(0);
    expect(await countsOf(a, a.id)).toEqual({ follower_count: 0, followed_count: 0 });
    expect(await countsOf(a, b.id)).toEqual({ follower_count: 0, followed_count: 0 });
  });

  it('is idempotent: unfollowing someone not followed answers 204 and changes no count', async () => {
    const [a, b, c] = (await createUsers(3)) as [TestUser, TestUser, TestUser];
    expectNoContent(await follow(a, c.id));
    // Never followed.
    expectNoContent(await unfollow(a, b.id));
    // Followed, unfollowed, unfollowed again.
    expectNoContent(await unfollow(a, c.id));
    expectNoContent(await unfollow(a, c.id));
    // A target that does not exist at all.
    expectNoContent(await unfollow(a, MISSING_ID));
    expect(await countsOf(a, a.id)).toEqual({ follower_count: 0, followed_count: 0 });
    expect(await countsOf(a, b.id)).toEqual({ follower_count: 0, followed_count: 0 });
    expect(await countsOf(a, c.id)).toEqual({ follower_count: 0, followed_count: 0 });
  });

  it("answers 403 for someone else's {id} and leaves the follow in place", async () => {
    const [a, b, c] = (await createUsers(3)) as [TestUser, TestUser, TestUser];
    expectNoContent(await follow(b, c.id));
    const res = await send('DELETE', followPath(b.id, c.id), { as: a });
    expectPlainError(res, 403);
    expect(await followRows({ follower_id: b.id, followed_id: c.id })).toBe(1);
    expect(await countsOf(a, c.id)).toEqual({ follower_count: 1, followed_count: 0 });
  });

  it('answers 401 with a Bearer challenge without a token and leaves the follow in place', async () => {
    const [a, b] = (await createUsers(2)) as [TestUser, TestUser];
    expectNoContent(await follow(a, b.id));
    const res = await send('DELETE', followPath(a.id, b.id), { as: null });
    expectPlainError(res, 401);
    expect(res.headers.get('www-authenticate')).toMatch(ANY_BEARER_CHALLENGE);
    expect(await followRows({ follower_id: a.id, followed_id: b.id })).toBe(1);
  });
});

describe('follower_count and followed_count on GET /api/users/{id}', () => {
  it('are exact after a series of follows and unfollows', async () => {
    const [a, b, c, d] = (await createUsers(4)) as [TestUser, TestUser, TestUser, TestUser];
    const counts = async () => ({
      a: await countsOf(d, a.id),
      b: await countsOf(d, b.id),
      c: await countsOf(d, c.id),
      d: await countsOf(d, d.id),
    });

    expectNoContent(await follow(a, b.id));
    expectNoContent(await follow(a, c.id));
    expectNoContent(await follow(b, c.id));
    expectNoContent(await follow(c, a.id));
    expectNoContent(await follow(d, c.id));
    expect(await counts()).toEqual({
      a: { follower_count: 1, followed_count: 2 },
      b: { follower_count: 1, followed_count: 1 },
      c: { follower_count: 3, followed_count: 1 },
      d: { follower_count: 0, followed_count: 1 },
    });

    expectNoContent(await unfollow(a, c.id));
    expectNoContent(await unfollow(d, c.id));
    expectNoContent(await follow(b, a.id));
    expect(await counts()).toEqual({
      a: { follower_count: 2, followed_count: 1 },
      b: { follower_count: 1, followed_count: 2 },
      c: { follower_count: 1, followed_count: 1 },
      d: { follower_count: 0, followed_count: 0 },
    });

    // The counts agree with the rows, user by user.
    for (const u of [a, b, c, d]) {
      expect(await countsOf(d, u.id)).toEqual({
        follower_count: await followRows({ followed_id: u.id }),
        followed_count: await followRows({ follower_id: u.id }),
      });
    }
  });
});

/**
 * A hub with five fans. The fans follow the hub in reverse id order and the hub follows
 * them in a shuffled order, so an order by time of following would show.
 */
describe.each([
  ['followers', 'follower_count'],
  ['followed', 'followed_count'],
] as const)('GET /api/users/{id}/%s', (list, countName) => {
  let hub: TestUser;
  let fans: TestUser[];
  let outsider: TestUser;
  let lonely: TestUser;
  let fanIds: number[];
  const base = () => `/api/users/${hub.id}/${list}`;

  beforeAll(async () => {
    [hub, ...fans] = (await createUsers(6)) as [TestUser, ...TestUser[]];
    [outsider, lonely] = (await createUsers(2)) as [TestUser, TestUser];
    fanIds = fans.map((f) => f.id).sort((x, y) => x - y);
    for (const fan of [...fans].reverse()) expectNoContent(await follow(fan, hub.id));
    for (const i of [2, 0, 4, 1, 3]) expectNoContent(await follow(hub, (fans[i] as TestUser).id));
    // Noise: follows that involve neither side of the hub's lists.
    expectNoContent(await follow(outsider, (fans[0] as TestUser).id));
  });

  it('answers 200 with the whole collection, ordered by id ascending, total equal to the count', async () => {
    const res = await send('GET', base(), { as: outsider });
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('content-type')).toBe(JSON_TYPE);
    expect(res.headers.get('cache-control')).toBe('private, no-cache');
    expect(res.headers.get('etag')).toMatch(/^(W\/)?"[^"]+"$/);
    expect(res.body).toEqual({
      items: await representations(fanIds, outsider.id),
      _meta: { page: 1, per_page: 10, total_pages: 1, total_items: 5 },
      _links: { self: `${base()}?page=1&per_page=10`, next: null, prev: null },
    });
    expect((await userAs(outsider, hub.id))[countName]).toBe(5);
  });

  it('pages through with per_page=2 via _links.next, without repeats or gaps', async () => {
    const seen: number[] = [];
    const pages: Collection[] = [];
    let next: string | null = `${base()}?per_page=2`;
    while (next !== null && pages.length < 10) {
      const res = await send('GET', next, { as: outsider });
      expect(res.status, res.text).toBe(200);
      const page = res.body as Collection;
      pages.push(page);
      seen.push(...page.items.map((u) => u.id));
      next = page._links.next;
    }
    expect(seen).toEqual(fanIds);
    expect(pages.map((p) => p._meta)).toEqual(
      [1, 2, 3].map((page) => ({ page, per_page: 2, total_pages: 3, total_items: 5 })),
    );
    const link = (p: number) => `${base()}?page=${p}&per_page=2`;
    const withCursor = (p: number) => expect.stringMatching(cursorLink(base(), p, 2));
    expect(pages.map((p) => p._links)).toEqual([
      { self: link(1), next: withCursor(2), prev: null },
      { self: withCursor(2), next: withCursor(3), prev: link(1) },
      { self: withCursor(3), next: null, prev: link(2) },
    ]);
    expect(pages[0]?._links.next).toBe(pages[1]?._links.self);
    expect(pages[1]?.items).toEqual(await representations(fanIds.slice(2, 4), outsider.id));
  });

  it('serves page=2 without a cursor by offset, the same users as the next link', async () => {
    const first = (await send('GET', `${base()}?per_page=2`, { as: outsider })).body as Collection;
    const byCursor = (await send('GET', first._links.next ?? '', { as: outsider })).body as Collection;
    const byPage = await send('GET', `${base()}?page=2&per_page=2`, { as: outsider });
    expect(byPage.status, byPage.text).toBe(200);
    expect((byPage.body as Collection).items).toEqual(byCursor.items);
    expect((byPage.body as Collection)._links.next).toMatch(cursorLink(base(), 3, 2));
  });

  it('goes on after the last user seen when earlier ones leave the list meanwhile', async () => {
    const [subject, ...others] = (await createUsers(5)) as [TestUser, ...TestUser[]];
    const path = `/api/users/${subject.id}/${list}`;
    for (const other of others) {
      expectNoContent(list === 'followers' ? await follow(other, subject.id) : await follow(subject, other.id));
    }
    const first = (await send('GET', `${path}?per_page=2`, { as: outsider })).body as Collection;
    expect(first.items.map((u) => u.id)).toEqual(others.slice(0, 2).map((u) => u.id));
    const gone = others[0] as TestUser;
    expectNoContent(list === 'followers' ? await unfollow(gone, subject.id) : await unfollow(subject, gone.id));
    const second = (await send('GET', first._links.next ?? '', { as: outsider })).body as Collection;
    expect(second.items.map((u) => u.id)).toEqual(others.slice(2, 4).map((u) => u.id));
  });

  it('answers 400 to a cursor the server did not make', async () => {
    const posts = Buffer.from(`${Date.now()}.1`).toString('base64url');
    for (const cursor of ['bm90IGEgY3Vyc29y', posts, Buffer.from('i-1').toString('base64url'), Buffer.from('i99999999999999999').toString('base64url')]) {
      const res = await send('GET', `${base()}?cursor=${cursor}`, { as: outsider });
      expect(res.status, `${cursor}: ${res.text}`).toBe(400);
      expect(res.body).toEqual({ error: 'Bad Request', message: 'cursor: is not one this server made; follow the links it gives' });
    }
  });

  it('answers a page past the end with no items, a prev link and next null', async () => {
    const res = await send('GET', `${base()}?page=4&per_page=2`, { as: outsider });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({
      items: [],
      _meta: { page: 4, per_page: 2, total_pages: 3, total_items: 5 },
      _links: {
        self: `${base()}?page=4&per_page=2`,
        next: null,
        prev: `${base()}?page=3&per_page=2`,
      },
    });
  });

  it('answers an empty collection for a user with none', async () => {
    const res = await send('GET', `/api/users/${lonely.id}/${list}`, { as: outsider });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({
      items: [],
      _meta: { page: 1, per_page: 10, total_pages: 0, total_items: 0 },
      _links: {
        self: `/api/users/${lonely.id}/${list}?page=1&per_page=10`,
        next: null,
        prev: null,
      },
    });
  });

  it("shows no other user's email, only the viewer's own", async () => {
    const asHub = await send('GET', base(), { as: hub });
    expect(asHub.status, asHub.text).toBe(200);
    for (const item of (asHub.body as Collection).items) expect(item).not.toHaveProperty('email');
    expect(asHub.text).not.toContain('@example.com');

    const viewer = fans[3] as TestUser;
    const asFan = await send('GET', base(), { as: viewer });
    expect(asFan.status, asFan.text).toBe(200);
    const items = (asFan.body as Collection).items;
    expect(items.filter((u) => 'email' in u)).toEqual([
      expect.objectContaining({ id: viewer.id, email: viewer.email }),
    ]);
    expect(items).toEqual(await representations(fanIds, viewer.id));
  });

  it('follows the counts after an unfollow', async () => {
    const [a, b] = (await createUsers(2)) as [TestUser, TestUser];
    const [subject, other] = list === 'followers' ? [b, a] : [a, b];
    expectNoContent(await follow(a, b.id));
    const before = await send('GET', `/api/users/${subject.id}/${list}`, { as: a });
    expect(before.body).toEqual({
      items: await representations([other.id], a.id),
      _meta: { page: 1, per_page: 10, total_pages: 1, total_items: 1 },
      _links: {
        self: `/api/users/${subject.id}/${list}?page=1&per_page=10`,
        next: null,
        prev: null,
      },
    });
    expectNoContent(await unfollow(a, b.id));
    const after = await send('GET', `/api/users/${subject.id}/${list}`, { as: a });
    expect((after.body as Collection)._meta.total_items).toBe(0);
    expect((after.body as Collection).items).toEqual([]);
  });

  it('answers 404 for a user that does not exist', async () => {
    expectPlainError(await send('GET', `/api/users/${MISSING_ID}/${list}`, { as: outsider }), 404);
  });

  it('answers 400 for a page or per_page below 1 or not an integer', async () => {
    for (const query of ['page=0', 'per_page=0', 'page=abc', 'per_page=1.5', 'page=-1']) {
      const res = await send('GET', `${base()}?${query}`, { as: outsider });
      expect(res.status, `${query}: ${res.text}`).toBe(400);
      expect(res.body).toMatchObject({ error: 'Bad Request', message: expect.any(String) });
    }
  });

  it('answers 401 with a Bearer challenge without a token', async () => {
    const res = await send('GET', base(), { as: null });
    expectPlainError(res, 401);
    expect(res.headers.get('www-authenticate')).toMatch(ANY_BEARER_CHALLENGE);
  });
});

describe('concurrent follows and unfollows', () => {
  let target: TestUser;
  let crowd: TestUser[];

  beforeAll(async () => {
    target = await createUser(server);
    crowd = await Promise.all(Array.from({ length: 30 }, () => createUser(server)));
  });

  /** follower_count, the rows in follows and the list total: all three must agree. */
  async function tally(): Promise<{ count: unknown; rows: number; listed: number; items: number }> {
    const list = await send('GET', `/api/users/${target.id}/followers?per_page=100`, { as: target });
    expect(list.status, list.text).toBe(200);
    const body = list.body as Collection;
    return {
      count: (await userAs(target, target.id)).follower_count,
      rows: await followRows({ followed_id: target.id }),
      listed: body._meta.total_items,
      items: body.items.length,
    };
  }

  it('keeps follower_count exact when 30 users follow one target at once', async () => {
    const answers = await Promise.all(crowd.map((u) => follow(u, target.id)));
    expect(answers.map((a) => a.status)).toEqual(crowd.map(() => 204));
    expect(await tally()).toEqual({ count: 30, rows: 30, listed: 30, items: 30 });
  });

  it('keeps the counts exact when some unfollow while the others follow again, at once', async () => {
    const leaving = crowd.slice(0, 10);
    const staying = crowd.slice(10);
    const answers = await Promise.all([
      ...leaving.map((u) => unfollow(u, target.id)),
      ...staying.map((u) => follow(u, target.id)),
    ]);
    expect(answers.map((a) => a.status)).toEqual(crowd.map(() => 204));
    expect(await tally()).toEqual({ count: 20, rows: 20, listed: 20, items: 20 });
    const left = new Set(leaving.map((u) => u.id));
    for (const u of crowd) {
      expect((await countsOf(target, u.id)).followed_count).toBe(left.has(u.id) ? 0 : 1);
    }
  });

  it('keeps follower_count equal to the rows when every user follows and unfollows at the same moment', async () => {
    const answers = await Promise.all(
      crowd.flatMap((u, i) =>
        i % 2 === 0
          ? [follow(u, target.id), unfollow(u, target.id)]
          : [unfollow(u, target.id), follow(u, target.id)],
      ),
    );
    expect(answers.filter((a) => a.status !== 204).map((a) => `${a.status} ${a.text}`)).toEqual([]);
    const { count, rows, listed, items } = await tally();
    expect(count).toBe(rows);
    expect(listed).toBe(rows);
    expect(items).toBe(rows);
    for (const u of crowd) {
      expect((await countsOf(target, u.id)).followed_count).toBe(
        await followRows({ follower_id: u.id }),
      );
    }
  });

  it('never fails (no deadlock) when two users follow and unfollow each other at the same moment, 20 times', async () => {
    const [a, b] = (await createUsers(2)) as [TestUser, TestUser];
    const failures: string[] = [];
    for (let round = 0; round < 20; round++) {
      const followed = await Promise.all([follow(a, b.id), follow(b, a.id)]);
      const unfollowed = await Promise.all([unfollow(a, b.id), unfollow(b, a.id)]);
      for (const res of [...followed, ...unfollowed]) {
        if (res.status !== 204) failures.push(`round ${round}: ${res.status} ${res.text}`);
      }
    }
    expect(failures).toEqual([]);
    // And in one last round, both stay followed.
    const last = await Promise.all([follow(a, b.id), follow(b, a.id)]);
    expect(last.map((r) => r.status)).toEqual([204, 204]);
    expect(await countsOf(a, a.id)).toEqual({ follower_count: 1, followed_count: 1 });
    expect(await countsOf(a, b.id)).toEqual({ follower_count: 1, followed_count: 1 });
  });
});
