import { describe, expect, it } from 'vitest';
import { createUser, type TestUser } from './support/factories.js';
import { useServer } from './support/server.js';
import { expectNoContent, expectPlainError } from './support/assertions.js';
import { MISSING_ID } from './support/constants.js';
import { sender } from './support/http.js';

const server = useServer();
const send = sender(server);

const blockPath = (id: number, target: number) => `/api/users/${id}/blocked/${target}`;
const block = (user: TestUser, target: number) => send('PUT', blockPath(user.id, target), { as: user });
const unblock = (user: TestUser, target: number) => send('DELETE', blockPath(user.id, target), { as: user });
const blocks = (user: TestUser, target: number) => send('GET', blockPath(user.id, target), { as: user });
const follow = (user: TestUser, target: number) => send('PUT', `/api/users/${user.id}/followed/${target}`, { as: user });
const follows = (viewer: TestUser, id: number, target: number) => send('GET', `/api/users/${id}/followed/${target}`, { as: viewer });
const message = (from: TestUser, to: number) => send('POST', `/api/users/${to}/messages`, { as: from, json: { body: 'hello' } });

const users = (n: number) => Promise.all(Array.from({ length: n }, () => createUser(server)));

describe('PUT, GET and DELETE /api/users/{id}/blocked/{target_id}', () => {
  it('block (204), tell (204, or 404 when not blocked) and unblock (204), each idempotent', async () => {
    const [a, b] = (await users(2)) as [TestUser, TestUser];
    expectPlainError(await blocks(a, b.id), 404, `user ${a.id} does not block user ${b.id}`);
    expectNoContent(await block(a, b.id));
    expectNoContent(await block(a, b.id));
    expectNoContent(await blocks(a, b.id));
    expectNoContent(await unblock(a, b.id));
    expectNoContent(await unblock(a, b.id));
    expectPlainError(await blocks(a, b.id), 404);
  });

  it('answer 400 to blocking oneself, 404 to an unknown target', async () => {
    const [a] = (await users(1)) as [TestUser];
    expectPlainError(await block(a, a.id), 400, 'you cannot block yourself');
    expectPlainError(await block(a, MISSING_ID), 404, `user ${MISSING_ID} does not exist`);
  });

  it("answer 403 for someone else's blocks, to read as to change", async () => {
    const [a, b, c] = (await users(3)) as [TestUser, TestUser, TestUser];
    expectNoContent(await block(b, c.id));
    expectPlainError(await send('PUT', blockPath(b.id, a.id), { as: a }), 403, 'you can only change whom you block');
    expectPlainError(await send('DELETE', blockPath(b.id, c.id), { as: a }), 403, 'you can only change whom you block');
    expectPlainError(await send('GET', blockPath(b.id, c.id), { as: a }), 403, 'you can only see whom you block');
    expectPlainError(await send('GET', `/api/users/${b.id}/blocked`, { as: a }), 403, 'you can only see whom you block');
    expectNoContent(await blocks(b, c.id));
  });
});

describe('GET /api/users/{id}/blocked', () => {
  it('lists the users one blocks by id, paged by cursor', async () => {
    const [a, ...others] = (await users(4)) as TestUser[];
    for (const other of others) expectNoContent(await block(a as TestUser, other.id));
    const first = await send<{ items: { id: number }[]; _meta: { total_items: number }; _links: { next: string | null } }>(
      'GET',
      `/api/users/${(a as TestUser).id}/blocked?per_page=2`,
      { as: a },
    );
    expect(first.status, first.text).toBe(200);
    expect(first.body._meta.total_items).toBe(3);
    const ids = others.map((o) => o.id).sort((x, y) => x - y);
    expect(first.body.items.map((u) => u.id)).toEqual(ids.slice(0, 2));
    const second = await send<{ items: { id: number }[]; _links: { next: string | null } }>('GET', first.body._links.next as string, { as: a });
    expect(second.body.items.map((u) => u.id)).toEqual(ids.slice(2));
    expect(second.body._links.next).toBeNull();
  });
});

describe('what a block does', () => {
  it('hides the blocker, and its posts, from the blocked user in search; not the other way; unblocking shows them again', async () => {
    const [blocker, blocked, bystander] = (await users(3)) as [TestUser, TestUser, TestUser];
    const word = `zebrafish${blocker.id}`;
    const post = await send<{ id: number }>('POST', '/api/posts', { as: blocker, json: { body: `a ${word} today` } });
    expect(post.status, post.text).toBe(201);
    const found = async (viewer: TestUser) => {
      const byName = await send<{ items: { id: number }[] }>('GET', `/api/users?q=${encodeURIComponent(blocker.username)}`, { as: viewer });
      const byWord = await send<{ items: { id: number }[]; _meta: { total_items: number } }>('GET', `/api/posts?q=${word}`, { as: viewer });
      expect(byName.status, byName.text).toBe(200);
      expect(byWord.status, byWord.text).toBe(200);
      return { user: byName.body.items.some((u) => u.id === blocker.id), posts: byWord.body._meta.total_items };
    };
    expect(await found(blocked)).toEqual({ user: true, posts: 1 });
    expectNoContent(await block(blocker, blocked.id));
    expect(await found(blocked)).toEqual({ user: false, posts: 0 });
    expect(await found(bystander)).toEqual({ user: true, posts: 1 });
    const back = await send<{ items: { id: number }[] }>('GET', `/api/users?q=${encodeURIComponent(blocked.username)}`, { as: blocker });
    expect(back.body.items.map((u) => u.id)).toContain(blocked.id);
    expectNoContent(await unblock(blocker, blocked.id));
    expect(await found(blocked)).toEqual({ user: true, posts: 1 });
  });

  it('the blocked user can neither message nor follow the blocker (403); unblocking restores both', async () => {
    const [a, b] = (await users(2)) as [TestUser, TestUser];
    expectNoContent(await block(a, b.id));
    expectPlainError(await message(b, a.id), 403, `you cannot message user ${a.id}, who has blocked you`);
    expectPlainError(await follow(b, a.id), 403, `you cannot follow user ${a.id}, who has blocked you`);
    // The blocker is not held back.
    expect((await message(a, b.id)).status).toBe(201);
    expectNoContent(await follow(a, b.id));

    expectNoContent(await unblock(a, b.id));
    expect((await message(b, a.id)).status).toBe(201);
    expectNoContent(await follow(b, a.id));
  });

  it("ends the blocked user's follow of the blocker, and its counts; the blocker's follow stays", async () => {
    const [a, b] = (await users(2)) as [TestUser, TestUser];
    expectNoContent(await follow(b, a.id));
    expectNoContent(await follow(a, b.id));
    expectNoContent(await block(a, b.id));
    expectPlainError(await follows(a, b.id, a.id), 404);
    expectNoContent(await follows(a, a.id, b.id));
    const me = await send<{ follower_count: number; followed_count: number }>('GET', `/api/users/${a.id}`, { as: a });
    expect(me.body).toMatchObject({ follower_count: 0, followed_count: 1 });
  });

  it('and a concurrent follow never both win: either the follow is refused or the block ends it', async () => {
    for (let round = 0; round < 5; round++) {
      const [a, b] = (await users(2)) as [TestUser, TestUser];
      const [blocked, followed] = await Promise.all([block(a, b.id), follow(b, a.id)]);
      expect(blocked.status).toBe(204);
      expect([204, 403]).toContain(followed.status);
      expectPlainError(await follows(a, b.id, a.id), 404);
      const counts = await send<{ follower_count: number }>('GET', `/api/users/${a.id}`, { as: a });
      expect(counts.body.follower_count).toBe(0);
    }
  });

  it('and never deadlocks with an unfollow, a follow back or a message at the same moment', async () => {
    const failures: string[] = [];
    for (let round = 0; round < 5; round++) {
      const [a, b] = (await users(2)) as [TestUser, TestUser];
      expectNoContent(await follow(b, a.id));
      const answers = await Promise.all([
        block(a, b.id),
        send('DELETE', `/api/users/${b.id}/followed/${a.id}`, { as: b }),
        follow(a, b.id),
        message(b, a.id),
      ]);
      const [blocked, unfollowed, followed, messaged] = answers;
      for (const res of [blocked, unfollowed, followed]) if (res?.status !== 204) failures.push(`round ${round}: ${res?.status} ${res?.text}`);
      if (![201, 403].includes(messaged?.status as number)) failures.push(`round ${round}: message ${messaged?.status} ${messaged?.text}`);
      expectPlainError(await follows(a, b.id, a.id), 404);
    }
    expect(failures).toEqual([]);
  });
});
