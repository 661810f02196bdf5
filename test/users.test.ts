import { createHash, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../generated/openapi.js';
import { loadContract } from '../src/contract.js';
import { schemaAccepts } from './support/contract.js';
import { basic, createUser, login, uniqueName, type TestUser } from './support/factories.js';
import { useServer, type TestServer } from './support/server.js';
import { expectBearerChallenge, expectPlainError, expectValidationError } from './support/assertions.js';
import { ETAG, ISO_UTC, JSON_TYPE, PASSWORD, TAKEN_EMAIL, TAKEN_USERNAME } from './support/constants.js';
import { sender, type Answer } from './support/http.js';

type User = components['schemas']['User'];
type UserCollection = components['schemas']['UserCollection'];
type ApiError = components['schemas']['Error'];

const server = useServer();
const send = sender(server, { Accept: 'application/json' });

const EMAIL_PATTERN = (loadContract().document() as { components: { schemas: { Email: { pattern: string } } } }).components.schemas.Email.pattern;

const register = (json: Record<string, unknown>, on: TestServer = server) =>
  send<User & ApiError>('POST', '/api/users', { json }, on);

/** Username, email and password for a registration no other test collides with. */
function newAccount(overrides: Record<string, unknown> = {}): Record<string, unknown> & { username: string; email: string; password: string } {
  const username = uniqueName('reg');
  return { username, email: `${username}@example.com`, password: PASSWORD, ...overrides };
}

function gravatar(email: string): string {
  const digest = createHash('md5').update(email.toLowerCase()).digest('hex');
  return `https://www.gravatar.com/avatar/${digest}?d=identicon&s=128`;
}

/** The exact user representation, with `email` only when `email` is given. */
function userRepresentation(
  id: number,
  fields: { username: string; email?: string; avatarEmail: string; about_me?: string | null; last_seen?: string },
): Record<string, unknown> {
  return {
    id,
    username: fields.username,
    // The user's own record (the only one with its email) also counts its unread messages.
    ...(fields.email !== undefined ? { email: fields.email, unread_message_count: 0 } : {}),
    last_seen: fields.last_seen ?? expect.stringMatching(ISO_UTC),
    about_me: fields.about_me ?? null,
    post_count: 0,
    follower_count: 0,
    followed_count: 0,
    _links: {
      self: `/api/users/${id}`,
      followers: `/api/users/${id}/followers`,
      followed: `/api/users/${id}/followed`,
      posts: `/api/users/${id}/posts`,
      avatar: gravatar(fields.avatarEmail),
    },
  };
}

function varyOf(headers: Headers): string[] {
  return (headers.get('vary') ?? '').split(',').map((v) => v.trim().toLowerCase()).filter(Boolean);
}

async function loginStatus(loginName: string, password: string): Promise<number> {
  const res = await send('POST', '/api/tokens', { authorization: basic(loginName, password) });
  return res.status;
}

describe('POST /api/users', () => {
  it('answers 201 with Location and the new user, email included and about_me null when unset', async () => {
    const account = newAccount();
    const before = Date.now();
    const res = await register(account);
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toBe(JSON_TYPE);
    const id = res.body.id;
    expect(id).toBeGreaterThan(0);
    expect(res.headers.get('location')).toBe(`/api/users/${id}`);
    expect(res.body).toStrictEqual(
      userRepresentation(id, { username: account.username, email: account.email, avatarEmail: account.email }),
    );
    const lastSeen = Date.parse(res.body.last_seen);
    expect(lastSeen).toBeGreaterThan(before - 5_000);
    expect(lastSeen).toBeLessThan(Date.now() + 5_000);
    expect(res.text).not.toContain(account.password);
  });

  it('stores about_me when given and accepts an explicit null', async () => {
    const withAbout = newAccount({ about_me: 'Hello, my name is Susan!' });
    const res = await register(withAbout);
    expect(res.status).toBe(201);
    expect(res.body).toStrictEqual(
      userRepresentation(res.body.id, {
        username: withAbout.username,
        email: withAbout.email,
        avatarEmail: withAbout.email,
        about_me: 'Hello, my name is Susan!',
      }),
    );
    const withNull = newAccount({ about_me: null });
    const nulled = await register(withNull);
    expect(nulled.status).toBe(201);
    expect(nulled.body.about_me).toBeNull();
  });

  it('answers a registration that is then readable by its own token with the same representation', async () => {
    const account = newAccount();
    const created = await register(account);
    expect(created.status).toBe(201);
    const token = await login(server, account.username, account.password);
    const read = await send<User>('GET', created.headers.get('location') ?? '', { token });
    expect(read.status).toBe(200);
    expect(read.body).toStrictEqual({ ...created.body, last_seen: expect.stringMatching(ISO_UTC) });
  });

  it('builds the avatar from the md5 of the lower-cased email', async () => {
    const name = uniqueName('Mixed');
    const email = `${name.toUpperCase()}@Example.COM`;
    const res = await register(newAccount({ username: name, email }));
    expect(res.status).toBe(201);
    expect(res.body._links.avatar).toBe(gravatar(email.toLowerCase()));
    expect(res.body.email?.toLowerCase()).toBe(email.toLowerCase());
  });

  it.each(['username', 'email', 'password'])('answers 400 naming %s when it is missing', async (member) => {
    const account = Object.fromEntries(Object.entries(newAccount()).filter(([key]) => key !== member));
    expectValidationError(await register(account), [`/body/${member}`]);
  });

  it('answers 400 naming every missing member at once', async () => {
    expectValidationError(await register({}), ['/body/username', '/body/email', '/body/password']);
  });

  it.each([
    ['a space', 'has space'],
    ['65 characters', 'a'.repeat(65)],
    ['the empty string', ''],
    ['an @', 'at@sign'],
    ['a non-ASCII letter', 'jos\u00e9'],
  ])('answers 400 when the username contains %s', async (_what, username) => {
    expectValidationError(await register(newAccount({ username })), ['/body/username']);
  });

  it('accepts a username of 64 letters, digits, _ . and -', async () => {
    const username = `${uniqueName('A')}_.-9`.padEnd(64, 'z');
    expect(username).toHaveLength(64);
    const res = await register(newAccount({ username, email: `${uniqueName()}@example.com` }));
    expect(res.status).toBe(201);
    expect(res.body.username).toBe(username);
  });

  it('accepts a one-character username', async () => {
    // Any single character might be taken by another run's test; try a few.
    const candidates = [...'abcdefghijklmnopqrstuvwxyz0123456789'].sort(() => Math.random() - 0.5);
    let status = 0;
    for (const username of candidates) {
      const res = await register(newAccount({ username, email: `${uniqueName()}@example.com` }));
      status = res.status;
      if (status === 201) break;
      expect(res.body).toStrictEqual(TAKEN_USERNAME);
    }
    expect(status).toBe(201);
  });

  it.each([
    ['not an address', 'not-an-email'],
    ['without a domain', 'someone@'],
    ['121 characters long', `${'a'.repeat(60)}@${'b'.repeat(48)}.example.com`],
  ])('answers 400 for an email %s', async (_what, email) => {
    expectValidationError(await register(newAccount({ email })), ['/body/email']);
  });

  // The contract's Email says exactly which addresses the server takes: a client validating
  // with the contract never sends one the server refuses, nor refuses one it would take.
  const hex = (n: number) => randomBytes(n).toString('hex').slice(0, n);
  it.each<[string, () => string, 201 | 400]>([
    ['a dotted domain', () => `susan${hex(8)}@example.com`, 201],
    ['a plus and dots in the local part', () => `susan.b+${hex(8)}@mail.example.co.uk`, 201],
    ['64 characters before the @', () => `${hex(64)}@example.com`, 201],
    ['a dotless domain', () => 'dotless@localhost', 400],
    ['a quoted local part', () => '"a b"@example.com', 400],
    ['an address literal', () => 'a@[127.0.0.1]', 400],
    ['two dots in a row', () => 'a..b@example.com', 400],
    ['a domain label starting with a hyphen', () => 'a@-example.com', 400],
    ['a domain label of 64 characters', () => `a@${'b'.repeat(64)}.com`, 400],
    ['65 characters before the @', () => `${'a'.repeat(65)}@example.com`, 400],
  ])('answers as the contract says for an email with %s', async (what, address, status) => {
    const email = address();
    expect(schemaAccepts('Email', email)).toBe(status === 201);
    // Tools that read `format` as a note (JSON Schema 2020-12's default) go by the pattern,
    // which says all but RFC 5321's 64 characters before the @.
    if (!what.startsWith('65')) expect(new RegExp(EMAIL_PATTERN).test(email)).toBe(status === 201);
    const res = await register(newAccount({ email }));
    expect(res.status).toBe(status);
    if (status === 400) expect(res.body.errors).toStrictEqual([{ path: '/body/email', message: 'must match format "email"' }]);
  });

  it('accepts an email of exactly 120 characters', async () => {
    const email = `${randomBytes(30).toString('hex')}@${'b'.repeat(47)}.example.com`;
    expect(email).toHaveLength(120);
    const res = await register(newAccount({ email }));
    expect(res.status).toBe(201);
    expect(res.body.email).toBe(email);
  });

  it('answers 400 for about_me over 140 characters and accepts exactly 140', async () => {
    expectValidationError(await register(newAccount({ about_me: 'x'.repeat(141) })), ['/body/about_me']);
    const ok = await register(newAccount({ about_me: 'x'.repeat(140) }));
    expect(ok.status).toBe(201);
    expect(ok.body.about_me).toBe('x'.repeat(140));
  });

  // Found by the contract fuzzer: the contract allowed a NUL, which PostgreSQL cannot store.
  it('answers 400 naming about_me for a NUL character, which the contract refuses too', async () => {
    expectValidationError(await register(newAccount({ about_me: 'nul \u0000 inside' })), ['/body/about_me']);
    expect(schemaAccepts('AboutMe', 'nul \u0000 inside')).toBe(false);
    expect(schemaAccepts('AboutMe', 'e\u0301 \u202e 😀 \ufeff')).toBe(true);
  });

  it('answers 400 for a password under 8 or over 128 characters', async () => {
    expectValidationError(await register(newAccount({ password: '1234567' })), ['/body/password']);
    expectValidationError(await register(newAccount({ password: 'p'.repeat(129) })), ['/body/password']);
  });

  it('accepts passwords of exactly 8 and 128 characters, which then log in', async () => {
    for (const password of ['12345678', 'p'.repeat(128)]) {
      const account = newAccount({ password });
      const res = await register(account);
      expect(res.status).toBe(201);
      expect(await loginStatus(account.username, password)).toBe(200);
    }
  });

  it('answers 400 naming an unknown member', async () => {
    const res = await register(newAccount({ is_admin: true }));
    expectValidationError(res, ['/body/is_admin']);
  });

  it('answers 400 for read-only members, which registration does not take', async () => {
    expectValidationError(await register(newAccount({ id: 1 })), ['/body/id']);
  });

  it('answers 400 "please use a different username" for a username taken in another case', async () => {
    const account = newAccount({ username: uniqueName('Taken') });
    expect((await register(account)).status).toBe(201);
    const again = await register(newAccount({ username: account.username.toLowerCase() }));
    expect(again.status).toBe(400);
    expect(again.headers.get('content-type')).toBe(JSON_TYPE);
    expect(again.body).toStrictEqual(TAKEN_USERNAME);
    const upper = await register(newAccount({ username: account.username.toUpperCase() }));
    expect(upper.body).toStrictEqual(TAKEN_USERNAME);
  });

  it('answers 400 "please use a different email address" for an email taken in another case', async () => {
    const account = newAccount();
    expect((await register(account)).status).toBe(201);
    const again = await register(newAccount({ email: account.email.toUpperCase() }));
    expect(again.status).toBe(400);
    expect(again.headers.get('content-type')).toBe(JSON_TYPE);
    expect(again.body).toStrictEqual(TAKEN_EMAIL);
  });

  it('lets exactly one of 10 racing registrations of one username win; the rest get 400, never 5xx', async () => {
    const username = uniqueName('race');
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        register({
          username: i % 2 ? username.toUpperCase() : username,
          email: `${username}_${i}@example.com`,
          password: PASSWORD,
        }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 400)).toHaveLength(9);
    for (const a of answers.filter((x) => x.status === 400)) expect(a.body).toStrictEqual(TAKEN_USERNAME);
    const rows = await server.db('users').whereRaw('lower(username) = lower(?)', [username]).count<{ count: number }[]>({ count: '*' });
    expect(Number(rows[0]?.count)).toBe(1);
  });

  it('lets exactly one of 10 racing registrations of one email win; the rest get 400, never 5xx', async () => {
    const email = `${uniqueName('race')}@example.com`;
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        register({ username: uniqueName('racer'), email: i % 2 ? email.toUpperCase() : email, password: PASSWORD }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 400)).toHaveLength(9);
    for (const a of answers.filter((x) => x.status === 400)) expect(a.body).toStrictEqual(TAKEN_EMAIL);
    const rows = await server.db('users').whereRaw('lower(email) = lower(?)', [email]).count<{ count: number }[]>({ count: '*' });
    expect(Number(rows[0]?.count)).toBe(1);
  });

  it('answers 400 for malformed JSON and for a JSON null body', async () => {
    const broken = await server.fetch('/api/users', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: '{"username": "x",',
    });
    expect(broken.status).toBe(400);
    expect(await broken.json()).toStrictEqual({ error: 'Bad Request', message: expect.any(String) });
    const nullBody = await server.fetch('/api/users', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: 'null',
    });
    expect(nullBody.status).toBe(400);
    expect(((await nullBody.json()) as ApiError).error).toBe('Bad Request');
  });

  it('answers 415 for a body that is not JSON', async () => {
    const res = await server.fetch('/api/users', {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain', Accept: 'application/json' },
      body: 'username=x',
    });
    expect(res.status).toBe(415);
    expect(await res.json()).toStrictEqual({ error: 'Unsupported Media Type', message: expect.any(String) });
  });

  it('answers 413 for a body over 64 KB', async () => {
    const res = await register(newAccount({ about_me: 'x'.repeat(70 * 1024) }));
    expectPlainError(res, 413);
  });

  it('returns the first answer to a retry with the same Idempotency-Key, creating one user', async () => {
    const account = newAccount();
    const key = uniqueName('idem');
    const first = await send<User>('POST', '/api/users', { json: account, headers: { 'Idempotency-Key': key } });
    expect(first.status).toBe(201);
    const retry = await send<User>('POST', '/api/users', { json: account, headers: { 'Idempotency-Key': key } });
    expect(retry.status).toBe(201);
    expect(retry.headers.get('location')).toBe(first.headers.get('location'));
    expect(retry.body).toStrictEqual(first.body);
    const rows = await server.db('users').whereRaw('lower(username) = lower(?)', [account.username]).count<{ count: number }[]>({ count: '*' });
    expect(Number(rows[0]?.count)).toBe(1);
  });

  it("registers a different body sent under another client's Idempotency-Key", async () => {
    const key = uniqueName('idem');
    const first = await send<User>('POST', '/api/users', { json: newAccount(), headers: { 'Idempotency-Key': key } });
    expect(first.status).toBe(201);
    const other = await send<User>('POST', '/api/users', { json: newAccount(), headers: { 'Idempotency-Key': key } });
    expect(other.status).toBe(201);
    expect(other.headers.get('idempotent-replayed')).toBeNull();
    expect(other.body.id).not.toBe(first.body.id);
  });

  describe('with PASSWORD_MIN_LENGTH=12', () => {
    const strict = useServer({ PASSWORD_MIN_LENGTH: '12' });

    it('answers 400 for a password under the configured minimum and accepts one at it', async () => {
      const short = await register(newAccount({ password: 'p'.repeat(11) }), strict);
      expect(short.status).toBe(400);
      expect(short.body.error).toBe('Bad Request');
      expect(short.body.message).toContain('password');
      const ok = await register(newAccount({ password: 'p'.repeat(12) }), strict);
      expect(ok.status).toBe(201);
    });
  });
});

describe('GET /api/users/{id}', () => {
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    [alice, bob] = await Promise.all([createUser(server, { about_me: 'I am Alice' }), createUser(server)]);
  });

  it('answers 401 with a Bearer challenge without a token', async () => {
    expectBearerChallenge(await send<ApiError>('GET', `/api/users/${alice.id}`));
  });

  it('answers 200 with the own user, email included, exactly as SPEC shapes it', async () => {
    const res = await send<User>('GET', `/api/users/${alice.id}`, { token: alice.token });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(JSON_TYPE);
    expect(res.body).toStrictEqual(
      userRepresentation(alice.id, { username: alice.username, email: alice.email, avatarEmail: alice.email, about_me: 'I am Alice' }),
    );
    expect(res.body.last_seen).toMatch(/Z$/);
  });

  it('answers 200 without email when the token is another user’s', async () => {
    const res = await send<User>('GET', `/api/users/${alice.id}`, { token: bob.token });
    expect(res.status).toBe(200);
    expect(res.body).toStrictEqual(
      userRepresentation(alice.id, { username: alice.username, avatarEmail: alice.email, about_me: 'I am Alice' }),
    );
    expect(res.body).not.toHaveProperty('email');
    expect(res.text).not.toContain(alice.email);
  });

  it('answers with Cache-Control private, no-cache, an ETag, and Vary on Authorization', async () => {
    const res = await send('GET', `/api/users/${alice.id}`, { token: alice.token });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('private, no-cache');
    expect(res.headers.get('etag')).toMatch(ETAG);
    expect(varyOf(res.headers)).toContain('authorization');
  });

  it('answers 304 with the ETag and no body to If-None-Match with the current ETag', async () => {
    const first = await send('GET', `/api/users/${alice.id}`, { token: alice.token });
    const etag = first.headers.get('etag') ?? '';
    expect(etag).toMatch(ETAG);
    const again = await send('GET', `/api/users/${alice.id}`, { token: alice.token, headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    expect(again.text).toBe('');
  });

  it('answers 200 to If-None-Match with an ETag that no longer holds', async () => {
    const res = await send<User>('GET', `/api/users/${alice.id}`, { token: alice.token, headers: { 'If-None-Match': '"stale"' } });
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(alice.id);
  });

  it('does not answer 304 to another user presenting the owner’s ETag (the representations differ)', async () => {
    const own = await send('GET', `/api/users/${alice.id}`, { token: alice.token });
    const etag = own.headers.get('etag') ?? '';
    const other = await send<User>('GET', `/api/users/${alice.id}`, { token: bob.token, headers: { 'If-None-Match': etag } });
    expect(other.status).toBe(200);
    expect(other.body).not.toHaveProperty('email');
    expect(other.headers.get('etag')).not.toBe(etag);
  });

  it('answers 404 with a JSON error body for an id no user has', async () => {
    const res = await send<ApiError>('GET', '/api/users/987654321', { token: alice.token });
    expectPlainError(res, 404);
  });

  it.each(['abc', '1.5', '0', '-3'])('answers 400 for the id %s, naming the path parameter', async (id) => {
    const res = await send<ApiError>('GET', `/api/users/${id}`, { token: alice.token });
    expectValidationError(res, ['/path/id']);
  });

  // Found by the contract fuzzer: these were read as numbers, so one user answered at many URLs.
  it('answers 400 naming the path parameter for an id not written as plain digits', async () => {
    for (const id of [`0x${alice.id.toString(16)}`, `${alice.id}e0`, `0${alice.id}`, `${alice.id}.0`, `+${alice.id}`, `%20${alice.id}`, 'Infinity']) {
      const res = await send<ApiError>('GET', `/api/users/${id}`, { token: alice.token });
      expect(res.body.errors, id).toEqual([{ path: '/path/id', message: 'must be written as decimal digits' }]);
      expectValidationError(res, ['/path/id']);
    }
  });
});

describe('GET /api/users', () => {
  let viewer: TestUser;
  const mine: number[] = [];

  beforeAll(async () => {
    viewer = await createUser(server);
    mine.push(viewer.id);
    const created = await Promise.all(Array.from({ length: 11 }, () => register(newAccount())));
    for (const c of created) {
      expect(c.status).toBe(201);
      mine.push(c.body.id);
    }
  });

  const list = (query: string, token = viewer.token) => send<UserCollection & ApiError>('GET', `/api/users${query}`, { token });

  it('answers 401 with a Bearer challenge without a token', async () => {
    expectBearerChallenge(await send<ApiError>('GET', '/api/users'));
  });

  it('answers the first page of 10 by default, shaped as a collection', async () => {
    const res = await list('');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(JSON_TYPE);
    expect(res.headers.get('cache-control')).toBe('private, no-cache');
    expect(res.headers.get('etag')).toMatch(ETAG);
    expect(varyOf(res.headers)).toContain('authorization');
    const { total_items } = res.body._meta;
    expect(total_items).toBeGreaterThanOrEqual(12);
    const totalPages = Math.ceil(total_items / 10);
    expect(res.body).toStrictEqual({
      items: expect.any(Array),
      _meta: { page: 1, per_page: 10, total_pages: totalPages, total_items },
      _links: { self: '/api/users?page=1&per_page=10', next: expect.stringMatching(/^\/api\/users\?page=2&per_page=10&cursor=[\w-]+$/), prev: null },
    });
    expect(res.body.items).toHaveLength(10);
    for (const item of res.body.items) {
      expect(item).toStrictEqual({
        ...userRepresentation(item.id, { username: item.username, avatarEmail: '', about_me: item.about_me }),
        ...(item.id === viewer.id ? { email: viewer.email } : {}),
        post_count: expect.any(Number),
        follower_count: expect.any(Number),
        followed_count: expect.any(Number),
        _links: {
          self: `/api/users/${item.id}`,
          followers: `/api/users/${item.id}/followers`,
          followed: `/api/users/${item.id}/followed`,
          posts: `/api/users/${item.id}/posts`,
          avatar: expect.stringMatching(/^https:\/\/www\.gravatar\.com\/avatar\/[0-9a-f]{32}\?d=identicon&s=128$/),
        },
      });
    }
  });

  it('orders users by id ascending', async () => {
    const res = await list('?per_page=100');
    expect(res.status).toBe(200);
    const ids = res.body.items.map((u) => u.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('serves per_page above 100 as 100, in _meta and _links', async () => {
    const res = await list('?per_page=500');
    expect(res.status).toBe(200);
    const { total_items } = res.body._meta;
    expect(res.body._meta).toStrictEqual({ page: 1, per_page: 100, total_pages: Math.ceil(total_items / 100), total_items });
    expect(res.body._links.self).toBe('/api/users?page=1&per_page=100');
    expect(res.body._links.prev).toBeNull();
    if (total_items > 100) expect(res.body._links.next).toMatch(/^\/api\/users\?page=2&per_page=100&cursor=[\w-]+$/);
    else expect(res.body._links.next).toBeNull();
    expect(res.body.items).toHaveLength(Math.min(100, total_items));
  });

  it.each([
    ['page=0', '/query/page'],
    ['page=-1', '/query/page'],
    ['page=abc', '/query/page'],
    ['page=1.5', '/query/page'],
    ['per_page=0', '/query/per_page'],
    ['per_page=abc', '/query/per_page'],
    // Found by the contract fuzzer: these were read as numbers.
    ['page=1e0', '/query/page'],
    ['page=02', '/query/page'],
    ['per_page=0x10', '/query/per_page'],
    ['per_page=+5', '/query/per_page'],
    // Found by the contract fuzzer: the validator let Infinity through, and page=Infinity was a 500.
    ['page=Infinity', '/query/page'],
    ['per_page=Infinity', '/query/per_page'],
  ])('answers 400 for %s', async (query, path) => {
    expectValidationError(await list(`?${query}`), [path]);
  });

  it('answers 400 naming an unknown query parameter', async () => {
    expectValidationError(await list('?sort=username'), ['/query/sort']);
  });

  it('answers a page past the end with no items, a prev link and next null', async () => {
    // As deep as a page by number goes (page × per_page = 10000).
    const res = await list('?page=1000&per_page=10');
    expect(res.status).toBe(200);
    const { total_items } = res.body._meta;
    expect(res.body).toStrictEqual({
      items: [],
      _meta: { page: 1000, per_page: 10, total_pages: Math.ceil(total_items / 10), total_items },
      _links: { self: '/api/users?page=1000&per_page=10', next: null, prev: expect.stringMatching(/^\/api\/users\?page=\d+&per_page=10$/) },
    });
    const prev = await send<UserCollection>('GET', res.body._links.prev ?? '', { token: viewer.token });
    expect(prev.status).toBe(200);
    expect(prev.body.items.length).toBeGreaterThan(0);
  });

  it('walks every page through next links without repeats, ids ascending, own email only', async () => {
    const seen: number[] = [];
    let next: string | null = '/api/users?per_page=3';
    let pages = 0;
    while (next) {
      const res: Answer<UserCollection> = await send<UserCollection>('GET', next, { token: viewer.token });
      expect(res.status).toBe(200);
      expect(res.body._meta.per_page).toBe(3);
      expect(res.body._meta.page).toBe(pages + 1);
      expect(res.body._links.prev).toBe(pages === 0 ? null : `/api/users?page=${pages}&per_page=3`);
      for (const item of res.body.items) {
        seen.push(item.id);
        if (item.id === viewer.id) expect(item.email).toBe(viewer.email);
        else expect(item).not.toHaveProperty('email');
      }
      next = res.body._links.next;
      pages += 1;
      expect(pages).toBeLessThan(10_000);
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    for (const id of mine) expect(seen).toContain(id);
  });
});

describe('PUT /api/users/{id}', () => {
  const put = (id: number, token: string, json: unknown, headers: Record<string, string> = {}) =>
    send<User & ApiError>('PUT', `/api/users/${id}`, { token, json, headers });
  const get = (id: number, token: string) => send<User>('GET', `/api/users/${id}`, { token });

  it('answers 200 and changes username, email and about_me', async () => {
    const u = await createUser(server);
    const username = uniqueName('renamed');
    const email = `${username}@example.org`;
    const res = await put(u.id, u.token, { username, email, about_me: 'Now with a bio' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(JSON_TYPE);
    expect(res.headers.get('etag')).toMatch(ETAG);
    const expected = userRepresentation(u.id, { username, email, avatarEmail: email, about_me: 'Now with a bio' });
    expect(res.body).toStrictEqual(expected);
    const read = await get(u.id, u.token);
    expect(read.body).toStrictEqual(expected);
    expect(await loginStatus(username, u.password)).toBe(200);
    expect(await loginStatus(email, u.password)).toBe(200);
    expect(await loginStatus(u.username, u.password)).toBe(401);
  });

  it('answers 200 and sets about_me to null', async () => {
    const u = await createUser(server, { about_me: 'something' });
    const res = await put(u.id, u.token, { about_me: null });
    expect(res.status).toBe(200);
    expect(res.body).toStrictEqual(userRepresentation(u.id, { username: u.username, email: u.email, avatarEmail: u.email, about_me: null }));
  });

  it('answers 200 to a change of the own username’s case', async () => {
    const u = await createUser(server);
    const res = await put(u.id, u.token, { username: u.username.toUpperCase() });
    expect(res.status).toBe(200);
    expect(res.body.username).toBe(u.username.toUpperCase());
  });

  it('answers 401 with a Bearer challenge without a token', async () => {
    const u = await createUser(server);
    const res = await send<ApiError>('PUT', `/api/users/${u.id}`, { json: { about_me: 'x' } });
    expectBearerChallenge(res);
  });

  it('answers 403 when the id is another user’s, and changes nothing', async () => {
    const [owner, intruder] = await Promise.all([createUser(server), createUser(server)]);
    const res = await put(owner.id, intruder.token, { about_me: 'hacked' });
    expectPlainError(res, 403);
    const read = await get(owner.id, owner.token);
    expect(read.body.about_me).toBeNull();
  });

  it('answers 403, not 404, when the id belongs to no user', async () => {
    const u = await createUser(server);
    expectPlainError(await put(987654321, u.token, { about_me: 'x' }), 403);
  });

  it('answers 200 to exactly the representation GET gave, changing nothing', async () => {
    const u = await createUser(server, { about_me: 'round trip' });
    const read = await get(u.id, u.token);
    expect(read.status).toBe(200);
    const res = await put(u.id, u.token, read.body);
    expect(res.status).toBe(200);
    expect(res.body).toStrictEqual(read.body);
  });

  it('accepts and ignores read-only members with other values', async () => {
    const u = await createUser(server);
    const read = await get(u.id, u.token);
    const res = await put(u.id, u.token, {
      ...read.body,
      id: u.id + 1000,
      post_count: 99,
      follower_count: 98,
      followed_count: 97,
      last_seen: '2000-01-01T00:00:00.000Z',
      _links: { self: '/api/users/1', avatar: 'https://example.com/a.png' },
      about_me: 'changed',
    });
    expect(res.status).toBe(200);
    expect(res.body).toStrictEqual({ ...read.body, about_me: 'changed', last_seen: expect.stringMatching(ISO_UTC) });
    expect(res.body.last_seen).not.toBe('2000-01-01T00:00:00.000Z');
  });

  // Found by the contract fuzzer: body-parser read an empty body as {}, and the update was a 200.
  it('answers 400 to an empty body sent as JSON', async () => {
    const u = await createUser(server);
    const res = await send<ApiError>('PUT', `/api/users/${u.id}`, {
      token: u.token,
      headers: { 'Content-Type': 'application/json' },
    });
    expect(res.status).toBe(400);
    expect(res.body).toStrictEqual({ error: 'Bad Request', message: 'the body is not valid JSON, or not a JSON object' });
  });

  // Found by the contract fuzzer: the validator checked formats loosely and let a 13th month through.
  it('answers 400 for a read-only last_seen that is not a date-time', async () => {
    const u = await createUser(server);
    for (const lastSeen of ['2026-13-01T00:00:00Z', '2026-02-30T00:00:00Z', '2026-01-01T24:00:00Z']) {
      expectValidationError(await put(u.id, u.token, { about_me: 'x', last_seen: lastSeen }), ['/body/last_seen']);
    }
    expect((await get(u.id, u.token)).body.about_me).toBeNull();
  });

  // Found by Schemathesis: a count past int64 (2^63, 1e300) passed the validator's int64 check.
  it('answers 400 for a read-only count no JSON parser reads exactly', async () => {
    const u = await createUser(server);
    for (const count of [2 ** 63, 1e300, Number.MAX_SAFE_INTEGER + 1]) {
      expect(schemaAccepts('Count', count)).toBe(false);
      expectValidationError(await put(u.id, u.token, { about_me: 'x', followed_count: count }), ['/body/followed_count']);
    }
    expect((await put(u.id, u.token, { followed_count: Number.MAX_SAFE_INTEGER })).status).toBe(200);
    expect((await get(u.id, u.token)).body.about_me).toBeNull();
  });

  it('answers 400 naming an unknown member', async () => {
    const u = await createUser(server);
    expectValidationError(await put(u.id, u.token, { about_me: 'x', is_admin: true }), ['/body/is_admin']);
    expect((await get(u.id, u.token)).body.about_me).toBeNull();
  });

  it.each([
    ['username', 'has space'],
    ['username', 'a'.repeat(65)],
    ['email', 'not-an-email'],
    ['about_me', 'x'.repeat(141)],
    ['about_me', 'nul \u0000 inside'],
  ])('answers 400 for an invalid %s', async (member, value) => {
    const u = await createUser(server);
    expectValidationError(await put(u.id, u.token, { [member]: value }), [`/body/${member}`]);
  });

  it('answers 400 "please use a different username" for a username taken in another case', async () => {
    const [u, other] = await Promise.all([createUser(server), createUser(server)]);
    const res = await put(u.id, u.token, { username: other.username.toUpperCase() });
    expect(res.status).toBe(400);
    expect(res.body).toStrictEqual(TAKEN_USERNAME);
  });

  it('answers 400 "please use a different email address" for an email taken in another case', async () => {
    const [u, other] = await Promise.all([createUser(server), createUser(server)]);
    const res = await put(u.id, u.token, { email: other.email.toUpperCase() });
    expect(res.status).toBe(400);
    expect(res.body).toStrictEqual(TAKEN_EMAIL);
  });

  it('answers 400 to a password change without current_password', async () => {
    const u = await createUser(server);
    const res = await put(u.id, u.token, { password: 'a brand new password' });
    expectPlainError(res, 400);
    expect(res.body.message).toContain('current_password');
    expect(await loginStatus(u.username, u.password)).toBe(200);
  });

  it('answers 403 to a password change with a wrong current_password', async () => {
    const u = await createUser(server);
    const res = await put(u.id, u.token, { password: 'a brand new password', current_password: 'not the password' });
    expectPlainError(res, 403);
    expect(await loginStatus(u.username, u.password)).toBe(200);
    expect(await loginStatus(u.username, 'a brand new password')).toBe(401);
  });

  it('answers 400 to a new password under 8 characters', async () => {
    const u = await createUser(server);
    expectValidationError(await put(u.id, u.token, { password: 'short', current_password: u.password }), ['/body/password']);
  });

  it('changes the password, keeps the token used and revokes every other token of the user', async () => {
    const u = await createUser(server);
    const otherDevice = await login(server, u.username, u.password);
    const bystander = await createUser(server);
    const newPassword = 'a brand new password';
    const res = await put(u.id, u.token, { password: newPassword, current_password: u.password });
    expect(res.status).toBe(200);
    expect(res.body).toStrictEqual(userRepresentation(u.id, { username: u.username, email: u.email, avatarEmail: u.email }));
    expect(res.text).not.toContain(newPassword);

    expect(await loginStatus(u.username, u.password)).toBe(401);
    expect(await loginStatus(u.username, newPassword)).toBe(200);
    expect((await get(u.id, u.token)).status).toBe(200);
    expectBearerChallenge(await send<ApiError>('GET', `/api/users/${u.id}`, { token: otherDevice }));
    expect((await get(bystander.id, bystander.token)).status).toBe(200);
  });

  it('ends every other session of the user on a password change, refresh tokens included, and keeps the current one', async () => {
    const u = await createUser(server);
    const loginOf = async () => {
      const res = await send<{ token: string; refresh_token: string; session_id: number }>('POST', '/api/tokens', { authorization: basic(u.username, u.password) });
      expect(res.status).toBe(200);
      return res.body;
    };
    const refreshStatus = async (refreshToken: string) => (await send('POST', '/api/tokens/refresh', { json: { refresh_token: refreshToken } })).status;
    const [here, other] = [await loginOf(), await loginOf()];
    const res = await put(u.id, here.token, { password: 'a brand new password', current_password: u.password });
    expect(res.status).toBe(200);
    expectBearerChallenge(await send<ApiError>('GET', `/api/users/${u.id}`, { token: other.token }));
    expect(await refreshStatus(other.refresh_token)).toBe(401);
    expect((await get(u.id, here.token)).status).toBe(200);
    expect(await refreshStatus(here.refresh_token)).toBe(200);
    const left = await server.db('sessions').where({ user_id: u.id }).pluck('id');
    expect(left).toEqual([here.session_id]);
  });

  it('answers 200 to If-Match with the current ETag, and its answer’s ETag serves the next If-Match', async () => {
    const u = await createUser(server);
    const read = await get(u.id, u.token);
    const etag = read.headers.get('etag') ?? '';
    expect(etag).toMatch(ETAG);
    const first = await put(u.id, u.token, { about_me: 'first' }, { 'If-Match': etag });
    expect(first.status).toBe(200);
    expect(first.body.about_me).toBe('first');
    const next = first.headers.get('etag') ?? '';
    expect(next).toMatch(ETAG);
    expect(next).not.toBe(etag);
    const second = await put(u.id, u.token, { about_me: 'second' }, { 'If-Match': next });
    expect(second.status).toBe(200);
    expect(second.body.about_me).toBe('second');
  });

  it('answers 412 to If-Match with a stale ETag, and changes nothing', async () => {
    const u = await createUser(server);
    const otherDevice = await login(server, u.username, u.password);
    const read = await get(u.id, u.token);
    const stale = read.headers.get('etag') ?? '';
    expect((await put(u.id, otherDevice, { about_me: 'from the other device' })).status).toBe(200);
    const res = await put(u.id, u.token, { about_me: 'lost update' }, { 'If-Match': stale });
    expectPlainError(res, 412);
    expect((await get(u.id, u.token)).body.about_me).toBe('from the other device');
  });

  it('answers 200 to If-Match *', async () => {
    const u = await createUser(server);
    const res = await put(u.id, u.token, { about_me: 'star' }, { 'If-Match': '*' });
    expect(res.status).toBe(200);
    expect(res.body.about_me).toBe('star');
  });

  it('answers 400 for an id that is not an integer', async () => {
    const u = await createUser(server);
    expect((await send('PUT', '/api/users/abc', { token: u.token, json: { about_me: 'x' } })).status).toBe(400);
  });
});
