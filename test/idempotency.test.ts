import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../generated/openapi.js';
import { idempotencyRepository } from '../src/db/idempotency.js';
import { createUser, login, uniqueName, type TestUser } from './support/factories.js';
import { useServer } from './support/server.js';
import { expectError } from './support/assertions.js';
import { JSON_TYPE, PASSWORD } from './support/constants.js';
import { sender, type Answer } from './support/http.js';

type Post = components['schemas']['Post'];
type User = components['schemas']['User'];
type ApiError = components['schemas']['Error'];

const server = useServer();
const send = sender(server, { Accept: 'application/json' });

const REPLAYED = 'idempotent-replayed';

/** POST /api/posts as `user`, with an Idempotency-Key when one is given. */
const post = (user: TestUser, json: unknown, key?: string, token = user.token) =>
  send<Post & ApiError>('POST', '/api/posts', {
    json,
    headers: {
      Authorization: `Bearer ${token}`,
      ...(key !== undefined ? { 'Idempotency-Key': key } : {}),
    },
  });

/** POST /api/users (no token), with an Idempotency-Key when one is given. */
const register = (json: unknown, key?: string) =>
  send<User & ApiError>('POST', '/api/users', {
    json,
    headers: key !== undefined ? { 'Idempotency-Key': key } : {},
  });

function newAccount(): { username: string; email: string; password: string } {
  const username = uniqueName('idem');
  return { username, email: `${username}@example.com`, password: PASSWORD };
}

/** A first answer: 201, not marked as a replay. */
function expectCreated(res: Answer<{ id: number }>, location: string): void {
  expect(res.status, res.text).toBe(201);
  expect(res.headers.get('content-type')).toBe(JSON_TYPE);
  expect(res.headers.get('location')).toBe(location);
  expect(res.headers.get(REPLAYED)).toBeNull();
}

/** The same answer again: status, Location, ETag and body, marked `Idempotent-Replayed: true`. */
function expectReplayOf(retry: Answer, first: Answer): void {
  expect(retry.status, retry.text).toBe(first.status);
  expect(retry.headers.get('content-type')).toBe(JSON_TYPE);
  expect(retry.headers.get('cache-control')).toBe('no-store');
  expect(retry.headers.get('location')).toBe(first.headers.get('location'));
  expect(retry.headers.get('etag')).toBe(first.headers.get('etag'));
  expect(retry.headers.get(REPLAYED)).toBe('true');
  expect(retry.body).toStrictEqual(first.body);
}

async function postRows(userId: number): Promise<{ id: number; body: string }[]> {
  return server.db('posts').where({ user_id: userId }).orderBy('id').select('id', 'body');
}

async function postCountOf(user: TestUser): Promise<number> {
  const res = await send<User>('GET', `/api/users/${user.id}`, { headers: user.auth });
  expect(res.status, res.text).toBe(200);
  return res.body.post_count;
}

async function userRows(username: string): Promise<{ id: number }[]> {
  return server.db('users').whereRaw('lower(username) = lower(?)', [username]).select('id');
}

const keyRows = (principal: number, key: string) =>
  server.db('idempotency_keys').where({ principal, key });

describe('POST /api/posts with an Idempotency-Key', () => {
  it('answers a retry with the first answer, marked Idempotent-Replayed, and makes one post', async () => {
    const user = await createUser(server);
    const key = randomUUID();
    const first = await post(user, { body: 'flaky network' }, key);
    expectCreated(first, `/api/posts/${first.body.id}`);
    expect(first.body).toMatchObject({ body: 'flaky network', author: user.id });

    const retry = await post(user, { body: 'flaky network' }, key);
    expectReplayOf(retry, first);
    const third = await post(user, { body: 'flaky network' }, key);
    expectReplayOf(third, first);

    expect(await postRows(user.id)).toEqual([{ id: first.body.id, body: 'flaky network' }]);
    expect(await postCountOf(user)).toBe(1);
  });

  it('answers a retry from another token of the same user (another device) with the first answer', async () => {
    const user = await createUser(server);
    const otherToken = await login(server, user.username, user.password);
    const key = randomUUID();
    const first = await post(user, { body: 'from my phone' }, key);
    expectCreated(first, `/api/posts/${first.body.id}`);
    expectReplayOf(await post(user, { body: 'from my phone' }, key, otherToken), first);
    expect(await postCountOf(user)).toBe(1);
  });

  it('answers 422 to the same key with a different body and creates nothing', async () => {
    const user = await createUser(server);
    const key = randomUUID();
    const first = await post(user, { body: 'the original' }, key);
    expectCreated(first, `/api/posts/${first.body.id}`);

    for (const json of [{ body: 'something else' }, { body: ' the original' }]) {
      const res = await post(user, json, key);
      expectError(res, 422);
      expect(res.headers.get(REPLAYED)).toBeNull();
      expect(res.headers.get('location')).toBeNull();
    }
    expect(await postRows(user.id)).toEqual([{ id: first.body.id, body: 'the original' }]);
    expect(await postCountOf(user)).toBe(1);
    // The key still stands for the first request.
    expectReplayOf(await post(user, { body: 'the original' }, key), first);
  });

  it("scopes keys to the user: another user's same key makes that user's own post", async () => {
    const [a, b] = [await createUser(server), await createUser(server)];
    const key = 'same-key-for-everyone';
    const fromA = await post(a, { body: 'shared words' }, key);
    expectCreated(fromA, `/api/posts/${fromA.body.id}`);
    const fromB = await post(b, { body: 'shared words' }, key);
    expectCreated(fromB, `/api/posts/${fromB.body.id}`);
    expect(fromB.body.id).not.toBe(fromA.body.id);
    expect(fromB.body).toMatchObject({ body: 'shared words', author: b.id });

    // And B using it with another body is B's business alone: still a new post for C.
    const c = await createUser(server);
    const fromC = await post(c, { body: 'different words' }, key);
    expectCreated(fromC, `/api/posts/${fromC.body.id}`);

    expect(await postRows(a.id)).toEqual([{ id: fromA.body.id, body: 'shared words' }]);
    expect(await postRows(b.id)).toEqual([{ id: fromB.body.id, body: 'shared words' }]);
    expectReplayOf(await post(a, { body: 'shared words' }, key), fromA);
    expectReplayOf(await post(b, { body: 'shared words' }, key), fromB);
  });

  it('makes two posts from two identical requests without a key', async () => {
    const user = await createUser(server);
    const first = await post(user, { body: 'twice on purpose' });
    const second = await post(user, { body: 'twice on purpose' });
    expectCreated(first, `/api/posts/${first.body.id}`);
    expectCreated(second, `/api/posts/${second.body.id}`);
    expect(second.body.id).not.toBe(first.body.id);
    expect((await postRows(user.id)).map((r) => r.body)).toEqual([
      'twice on purpose',
      'twice on purpose',
    ]);
    expect(await postCountOf(user)).toBe(2);
  });

  it('does not burn a key whose first request was refused: the same key then works', async () => {
    const user = await createUser(server);
    const key = randomUUID();
    expectError(await post(user, { body: '   ' }, key), 400);
    expectError(await post(user, { body: 'x'.repeat(141) }, key), 400);
    expectError(await post(user, { text: 'wrong member' }, key), 400);
    // Without a valid token nothing is remembered either.
    const anonymous = await send('POST', '/api/posts', {
      json: { body: 'who am I' },
      headers: { 'Idempotency-Key': key },
    });
    expectError(anonymous, 401);
    expect(await keyRows(user.id, key)).toEqual([]);

    const ok = await post(user, { body: 'second try' }, key);
    expectCreated(ok, `/api/posts/${ok.body.id}`);
    expectReplayOf(await post(user, { body: 'second try' }, key), ok);
    expect(await postCountOf(user)).toBe(1);
  });

  it('forgets a key after 24 hours: the same key then makes a new post', async () => {
    const user = await createUser(server);
    const key = randomUUID();
    const first = await post(user, { body: 'old news' }, key);
    expectCreated(first, `/api/posts/${first.body.id}`);

    // 23 hours on, the key still holds.
    expect(
      await keyRows(user.id, key).update({
        created_at: server.db.raw("now() - interval '23 hours'"),
      }),
    ).toBe(1);
    expectReplayOf(await post(user, { body: 'old news' }, key), first);
    expect(await postCountOf(user)).toBe(1);

    // 25 hours on, it is forgotten.
    expect(
      await keyRows(user.id, key).update({
        created_at: server.db.raw("now() - interval '25 hours'"),
      }),
    ).toBe(1);
    const again = await post(user, { body: 'old news' }, key);
    expectCreated(again, `/api/posts/${again.body.id}`);
    expect(again.body.id).not.toBe(first.body.id);
    expect((await postRows(user.id)).map((r) => r.id)).toEqual([first.body.id, again.body.id]);
    expect(await postCountOf(user)).toBe(2);
    // And the key now stands for the new post.
    expectReplayOf(await post(user, { body: 'old news' }, key), again);
  });

  it('forgets a key after 24 hours even for a different body: no 422, a new post', async () => {
    const user = await createUser(server);
    const key = randomUUID();
    const yesterday = await post(user, { body: 'yesterday' }, key);
    expectCreated(yesterday, `/api/posts/${yesterday.body.id}`);
    await keyRows(user.id, key).update({
      created_at: server.db.raw("now() - interval '25 hours'"),
    });
    const today = await post(user, { body: 'today' }, key);
    expectCreated(today, `/api/posts/${today.body.id}`);
    expect(today.body.id).not.toBe(yesterday.body.id);
    expect(today.body.body).toBe('today');
    expect(await postCountOf(user)).toBe(2);
  });

  it('sweeps away answers older than 24 hours and keeps the fresh ones', async () => {
    const user = await createUser(server);
    const [oldKey, freshKey] = [randomUUID(), randomUUID()];
    await post(user, { body: 'old' }, oldKey);
    await post(user, { body: 'fresh' }, freshKey);
    await keyRows(user.id, oldKey).update({ created_at: server.db.raw("now() - interval '25 hours'") });
    expect(await idempotencyRepository.deleteExpired(server.db)).toBeGreaterThanOrEqual(1);
    expect(await keyRows(user.id, oldKey)).toEqual([]);
    expect(await keyRows(user.id, freshKey)).toHaveLength(1);
  });

  // An outside review: one DELETE of a large backlog would run into the statement timeout every hour.
  it('sweeps a backlog in batches, until none is left', async () => {
    const user = await createUser(server);
    const keys = Array.from({ length: 5 }, () => randomUUID());
    for (const key of keys) await post(user, { body: `old ${key}` }, key);
    for (const key of keys) await keyRows(user.id, key).update({ created_at: server.db.raw("now() - interval '25 hours'") });
    expect(await idempotencyRepository.deleteExpired(server.db, 2)).toBeGreaterThanOrEqual(5);
    for (const key of keys) expect(await keyRows(user.id, key)).toEqual([]);
  });

  it('answers 400 to a key longer than 255 characters (or empty) and accepts one of exactly 255', async () => {
    const user = await createUser(server);
    for (const key of ['k'.repeat(256), 'k'.repeat(1000), '']) {
      const res = await post(user, { body: 'long key' }, key);
      const error = expectError(res, 400);
      expect(error.message, `key of ${key.length}`).toMatch(/idempotency-key/i);
    }
    expect(await postCountOf(user)).toBe(0);
    expect(await server.db('idempotency_keys').where({ principal: user.id })).toEqual([]);

    const ok = await post(user, { body: 'long key' }, 'k'.repeat(255));
    expectCreated(ok, `/api/posts/${ok.body.id}`);
    expectReplayOf(await post(user, { body: 'long key' }, 'k'.repeat(255)), ok);
  });

  it('keeps a key for posts apart from the same key used for a registration', async () => {
    const key = randomUUID();
    const account = newAccount();
    const registered = await register(account, key);
    expectCreated(registered, `/api/users/${registered.body.id}`);
    const token = await login(server, account.username, account.password);
    const user: TestUser = {
      id: registered.body.id,
      ...account,
      token,
      auth: { Authorization: `Bearer ${token}` },
      user: registered.body,
    };
    const written = await post(user, { body: 'first words' }, key);
    expectCreated(written, `/api/posts/${written.body.id}`);
  });
});

/**
 * Opens enough database connections that racing requests really run side by side: on a
 * cold pool each waits for its own new connection and they end up one after another.
 */
async function warmUp(user: TestUser): Promise<void> {
  await Promise.all(
    Array.from({ length: 20 }, () =>
      send('GET', `/api/users/${user.id}/posts`, { headers: user.auth }),
    ),
  );
}

/** Rounds per race: one can come out in order by chance; several hardly ever. */
const ROUNDS = 3;
/** Registrations hash the password first, which spreads them out: race them more often. */
const REGISTRATION_ROUNDS = 5;

describe('POST /api/posts with an Idempotency-Key, racing', () => {
  let user: TestUser;
  beforeAll(async () => {
    user = await createUser(server);
    await warmUp(user);
  });

  it('answers 10 concurrent identical requests all with 201 and the same post, making one post', async () => {
    for (let round = 1; round <= ROUNDS; round++) {
      const key = randomUUID();
      const body = `at once, round ${round}`;
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => post(user, { body }, key)),
      );
      expect(answers.map((a) => `${a.status} ${a.status === 201 ? '' : a.text}`)).toEqual(
        answers.map(() => '201 '),
      );
      const ids = new Set(answers.map((a) => a.body.id));
      expect(ids.size).toBe(1);
      const [id] = [...ids];
      for (const a of answers) {
        expect(a.headers.get('location')).toBe(`/api/posts/${id}`);
        expect(a.body).toStrictEqual(answers[0]?.body);
      }
      // One of them made it; the other nine are replays of it.
      expect(answers.filter((a) => a.headers.get(REPLAYED) === null)).toHaveLength(1);
      expect(answers.filter((a) => a.headers.get(REPLAYED) === 'true')).toHaveLength(9);
      expect(await server.db('posts').where({ user_id: user.id, body })).toHaveLength(1);
      expect(await keyRows(user.id, key)).toHaveLength(1);
    }
    expect(await postCountOf(user)).toBe(ROUNDS);
  });

  it('lets exactly one of several different bodies win under one key; the others get 422', async () => {
    const racer = await createUser(server);
    const key = randomUUID();
    // Five bodies, each sent twice, all at once.
    const bodies = Array.from({ length: 10 }, (_, i) => `contender ${i % 5}`);
    const answers = await Promise.all(bodies.map((body) => post(racer, { body }, key)));

    expect(
      answers
        .filter((a) => a.status !== 201 && a.status !== 422)
        .map((a) => `${a.status} ${a.text}`),
    ).toEqual([]);
    const won = answers.filter((a) => a.status === 201);
    const lost = answers
      .map((a, i) => ({ a, body: bodies[i] }))
      .filter(({ a }) => a.status === 422);
    expect(won).toHaveLength(2);
    expect(lost).toHaveLength(8);
    const winner = won[0]?.body as Post;
    for (const a of won) expect(a.body).toStrictEqual(winner);
    for (const { a, body } of lost) {
      expect(body).not.toBe(winner.body);
      expectError(a, 422);
    }
    expect(won.filter((a) => a.headers.get(REPLAYED) === 'true')).toHaveLength(1);
    expect(await postRows(racer.id)).toEqual([{ id: winner.id, body: winner.body }]);
    expect(await postCountOf(racer)).toBe(1);
  });
});

describe('POST /api/users with an Idempotency-Key', () => {
  it('answers a retry with the first 201 and user, not a 400 for the taken username', async () => {
    const account = newAccount();
    const key = randomUUID();
    const first = await register(account, key);
    expectCreated(first, `/api/users/${first.body.id}`);
    expect(first.body).toMatchObject({
      username: account.username,
      email: account.email,
      post_count: 0,
    });

    const retry = await register(account, key);
    expectReplayOf(retry, first);
    expect(await userRows(account.username)).toEqual([{ id: first.body.id }]);

    // Without the key, the same registration is a taken username.
    const plain = await register(account);
    expect(expectError(plain, 400).message).toBe('please use a different username');
  });

  it('treats the same members in another order as the same request', async () => {
    const { username, email, password } = newAccount();
    const key = randomUUID();
    const first = await register({ username, email, password }, key);
    expectCreated(first, `/api/users/${first.body.id}`);
    expectReplayOf(await register({ password, email, username }, key), first);
    expect(await userRows(username)).toHaveLength(1);
  });

  it("registers both of two different registrations under one key: without a token a key is no client's own", async () => {
    const key = randomUUID();
    const firstAccount = newAccount();
    const first = await register(firstAccount, key);
    expectCreated(first, `/api/users/${first.body.id}`);
    const otherAccount = newAccount();
    const other = await register(otherAccount, key);
    expectCreated(other, `/api/users/${other.body.id}`);
    expect(other.body.id).not.toBe(first.body.id);
    expect(other.body.username).toBe(otherAccount.username);

    expectReplayOf(await register(firstAccount, key), first);
    expectReplayOf(await register(otherAccount, key), other);
    expect(await userRows(firstAccount.username)).toEqual([{ id: first.body.id }]);
    expect(await userRows(otherAccount.username)).toEqual([{ id: other.body.id }]);
  });

  it('registers everyone who sends the text "null" as the key, as an old generated client does', async () => {
    const accounts = [newAccount(), newAccount(), newAccount()];
    for (const account of accounts) {
      const res = await register(account, 'null');
      expectCreated(res, `/api/users/${res.body.id}`);
      expect(res.body.username).toBe(account.username);
    }
  });

  it('answers 10 concurrent identical registrations under one key all with 201 and the same user', async () => {
    await warmUp(await createUser(server));
    for (let round = 1; round <= REGISTRATION_ROUNDS; round++) {
      const account = newAccount();
      const key = randomUUID();
      const answers = await Promise.all(Array.from({ length: 10 }, () => register(account, key)));
      expect(answers.map((a) => `${a.status} ${a.status === 201 ? '' : a.text}`)).toEqual(
        answers.map(() => '201 '),
      );
      const ids = new Set(answers.map((a) => a.body.id));
      expect(ids.size).toBe(1);
      for (const a of answers) {
        expect(a.headers.get('location')).toBe(`/api/users/${[...ids][0]}`);
        expect(a.body).toStrictEqual(answers[0]?.body);
      }
      expect(answers.filter((a) => a.headers.get(REPLAYED) === null)).toHaveLength(1);
      expect(await userRows(account.username)).toHaveLength(1);
    }
  });

  it('does not burn a key whose first registration was refused (taken username, short password)', async () => {
    const taken = await createUser(server);
    const key = randomUUID();
    const clash = await register({ ...newAccount(), username: taken.username }, key);
    expect(expectError(clash, 400).message).toBe('please use a different username');
    expectError(await register({ ...newAccount(), password: 'short' }, key), 400);
    expectError(await register({ username: uniqueName('idem') }, key), 400);
    expect(await keyRows(0, key)).toEqual([]);

    const account = newAccount();
    const ok = await register(account, key);
    expectCreated(ok, `/api/users/${ok.body.id}`);
    expect(ok.body.username).toBe(account.username);
    expectReplayOf(await register(account, key), ok);
  });

  it('answers 400 to a key longer than 255 characters and registers nobody', async () => {
    const account = newAccount();
    expectError(await register(account, 'k'.repeat(256)), 400);
    expect(await userRows(account.username)).toEqual([]);
  });

  it('answers 400 to a key that is not all visible ASCII characters and registers nobody', async () => {
    const account = newAccount();
    for (const key of ['two words', 'tab\there', 'caf\u00e9']) {
      const error = expectError(await register(account, key), 400);
      expect(error.message, JSON.stringify(key)).toMatch(/idempotency-key/i);
    }
    expect(await userRows(account.username)).toEqual([]);
    expect(await keyRows(0, 'two words')).toEqual([]);

    const ok = await register(account, '!~"visible-ASCII_only:0123456789');
    expectCreated(ok, `/api/users/${ok.body.id}`);
  });
});
