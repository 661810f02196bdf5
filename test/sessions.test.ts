import { describe, expect, it } from 'vitest';
import type { components } from '../generated/openapi.js';
import { sessionsRepository } from '../src/db/sessions.js';
import { hashToken } from '../src/security/tokens.js';
import { expectBearerChallenge, expectNoContent, expectPlainError } from './support/assertions.js';
import { BEARER_CHALLENGE, MISSING_ID } from './support/constants.js';
import { checkAnswer } from './support/contract.js';
import { basic, createUser, type TestUser } from './support/factories.js';
import { sender, type Answer } from './support/http.js';
import { useServer, type TestServer } from './support/server.js';

type Token = components['schemas']['Token'];
type Session = components['schemas']['Session'];
type SessionCollection = components['schemas']['SessionCollection'];
type ApiError = components['schemas']['Error'];

const server = useServer();
const send = sender(server, { Accept: 'application/json' });

const INVALID_REFRESH = 'the refresh token is invalid or has expired';
const DAY_MS = 86_400_000;

/** Logs in through POST /api/tokens (a new session), naming the device when given. */
async function startSession(u: TestUser, device?: string, on: TestServer = server): Promise<Token> {
  const json = device === undefined ? undefined : { device };
  const answer = await send<Token>('POST', '/api/tokens', { authorization: basic(u.username, u.password), json }, on);
  if (answer.status !== 200) throw new Error(`login failed: ${answer.status} ${answer.text}`);
  return answer.body;
}

/** POST /api/tokens/refresh with this refresh token, and no Authorization header. */
const refresh = (refreshToken: string, on: TestServer = server) =>
  send<Token & ApiError>('POST', '/api/tokens/refresh', { json: { refresh_token: refreshToken } }, on);

/** Whether an access token still authenticates. */
async function works(u: { id: number }, token: string, on: TestServer = server): Promise<boolean> {
  const { status } = await send('GET', `/api/users/${u.id}`, { token }, on);
  expect([200, 401]).toContain(status);
  return status === 200;
}

/** The refresh's 401: the contract's error body and the API's Bearer challenge. */
function expectRefused(res: Answer): void {
  expectPlainError(res, 401, INVALID_REFRESH);
  expect(res.headers.get('www-authenticate')).toBe(BEARER_CHALLENGE);
}

/** A new pair of the same session: fresh tokens, expiries about 15 minutes and 30 days away. */
function expectNextPair(res: Answer<Token>, before: Token): void {
  expect(res.status, res.text).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.body).toStrictEqual({
    token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    expires_at: expect.any(String),
    user_id: before.user_id,
    refresh_token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    refresh_expires_at: expect.any(String),
    session_id: before.session_id,
  });
  expect(res.body.token).not.toBe(before.token);
  expect(res.body.refresh_token).not.toBe(before.refresh_token);
  expect(Math.abs(Date.parse(res.body.expires_at) - (Date.now() + 900_000))).toBeLessThan(60_000);
  expect(Math.abs(Date.parse(res.body.refresh_expires_at) - (Date.now() + 30 * DAY_MS))).toBeLessThan(60_000);
}

/** Moves the moment a refresh token was exchanged into the past, as the database's clock sees it. */
async function exchangedAgo(refreshToken: string, seconds: number): Promise<void> {
  const changed = await server
    .db('refresh_tokens')
    .where({ token_hash: hashToken(refreshToken) })
    .update({ rotated_at: server.db.raw('now() - make_interval(secs => ?)', [seconds]) });
  expect(changed).toBe(1);
}

describe('POST /api/tokens/refresh', () => {
  it('answers 200 with a new access token and a new refresh token of the same session, which both work', async () => {
    const u = await createUser(server);
    const first = await startSession(u);
    const res = await refresh(first.refresh_token);
    expectNextPair(res, first);
    const { violations } = await checkAnswer('refreshToken', await server.fetch('/api/tokens/refresh', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: res.body.refresh_token }),
    }));
    expect(violations).toEqual([]);
    expect(await works(u, res.body.token)).toBe(true);
  });

  it('rotates: once its successor has been exchanged in turn, the old refresh token is refused', async () => {
    const u = await createUser(server);
    const first = await startSession(u);
    const second = (await refresh(first.refresh_token)).body;
    const third = await refresh(second.refresh_token);
    expectNextPair(third, second);
    expectRefused(await refresh(first.refresh_token));
  });

  it('ends the whole session when an exchanged refresh token comes back after the grace window (reuse)', async () => {
    const u = await createUser(server);
    const other = await startSession(u);
    const first = await startSession(u);
    const next = (await refresh(first.refresh_token)).body;
    await exchangedAgo(first.refresh_token, 11);
    expectRefused(await refresh(first.refresh_token));
    // Whoever held the next pair (the thief, or the app) is logged out: access and refresh alike.
    expect(await works(u, next.token)).toBe(false);
    expect(await works(u, first.token)).toBe(false);
    expectRefused(await refresh(next.refresh_token));
    expect(await server.db('sessions').where({ id: first.session_id })).toEqual([]);
    // Another session of the user is not touched.
    expect(await works(u, other.token)).toBe(true);
    expectNextPair(await refresh(other.refresh_token), other);
  });

  it('answers a retry within the grace window with the same pair, without rotating again', async () => {
    const u = await createUser(server);
    const first = await startSession(u);
    const answer = await refresh(first.refresh_token);
    expectNextPair(answer, first);
    const retry = await refresh(first.refresh_token);
    expect(retry.status).toBe(200);
    expect(retry.body).toStrictEqual(answer.body);
    expect(await server.db('refresh_tokens').where({ session_id: first.session_id })).toHaveLength(2);
    expect(await works(u, retry.body.token)).toBe(true);
    expectNextPair(await refresh(retry.body.refresh_token), answer.body);
  });

  it('ends the session when the retry comes after its pair was already exchanged, even within the window', async () => {
    const u = await createUser(server);
    const first = await startSession(u);
    const second = (await refresh(first.refresh_token)).body;
    const third = (await refresh(second.refresh_token)).body;
    expectRefused(await refresh(first.refresh_token));
    expect(await works(u, third.token)).toBe(false);
  });

  it('makes two refreshes with one token at once one rotation, and answers both with the same pair', async () => {
    const u = await createUser(server);
    const first = await startSession(u);
    const answers = await Promise.all(Array.from({ length: 6 }, () => refresh(first.refresh_token)));
    for (const answer of answers) expect(answer.status).toBe(200);
    const one = answers[0] as Answer<Token>;
    expectNextPair(one, first);
    for (const answer of answers) expect(answer.body).toStrictEqual(one.body);
    const rows = await server.db('refresh_tokens').where({ session_id: first.session_id });
    expect(rows).toHaveLength(2);
    expect(await works(u, one.body.token)).toBe(true);
  });

  it('moves the session’s end out again with each refresh (sliding expiry)', async () => {
    const u = await createUser(server);
    const first = await startSession(u);
    const inAnHour = server.db.raw("now() + interval '1 hour'");
    await server.db('sessions').where({ id: first.session_id }).update({ expires_at: inAnHour, last_used_at: server.db.raw("now() - interval '1 day'") });
    await server.db('refresh_tokens').where({ token_hash: hashToken(first.refresh_token) }).update({ expires_at: inAnHour });
    const res = await refresh(first.refresh_token);
    expectNextPair(res, first);
    const session = await server.db('sessions').where({ id: first.session_id }).first();
    expect(session.expires_at.toISOString()).toBe(res.body.refresh_expires_at);
    expect(Math.abs(session.last_used_at.getTime() - Date.now())).toBeLessThan(60_000);
  });

  it('answers 401 to an expired refresh token, and to one of a session past its end', async () => {
    const u = await createUser(server);
    const [a, b] = [await startSession(u), await startSession(u)];
    const past = server.db.raw("now() - interval '1 second'");
    await server.db('refresh_tokens').where({ token_hash: hashToken(a.refresh_token) }).update({ expires_at: past });
    await server.db('sessions').where({ id: b.session_id }).update({ expires_at: past });
    expectRefused(await refresh(a.refresh_token));
    expectRefused(await refresh(b.refresh_token));
  });

  it('answers 401 with a Bearer challenge to an unknown refresh token, as the contract declares', async () => {
    const res = await server.fetch('/api/tokens/refresh', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: 'Vh2pQ6b0lq9w3JmC4zR8sTn1XyK5aGd7eUf2iHo0LbM' }),
    });
    const { answer, violations } = await checkAnswer('refreshToken', res);
    expect(violations).toEqual([]);
    expect(answer.status).toBe(401);
    expectRefused(await refresh('Vh2pQ6b0lq9w3JmC4zR8sTn1XyK5aGd7eUf2iHo0LbM'));
  });

  it('answers 401 to an access token sent as a refresh token', async () => {
    const u = await createUser(server);
    expectRefused(await refresh(u.token));
  });

  it.each([
    ['a body that is not JSON', '{'],
    ['no refresh_token', '{}'],
    ['a refresh_token that is not a string', '{"refresh_token": 42}'],
    ['an empty refresh_token', '{"refresh_token": ""}'],
    ['another member', '{"refresh_token": "abc", "device": "x"}'],
    ['JSON null', 'null'],
  ])('answers 400 to %s, as the contract declares', async (_what, body) => {
    const res = await server.fetch('/api/tokens/refresh', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    const { answer, violations } = await checkAnswer('refreshToken', res);
    expect({ status: answer.status, violations }).toEqual({ status: 400, violations: [] });
  });

  it('stores refresh tokens and the pair kept for a retry so that no token can be read from the table', async () => {
    const u = await createUser(server);
    const first = await startSession(u);
    const next = (await refresh(first.refresh_token)).body;
    const everything = JSON.stringify(await server.db('refresh_tokens').where({ session_id: first.session_id }));
    const rows = await server.db('refresh_tokens').where({ session_id: first.session_id });
    const bytes = rows.flatMap((row: Record<string, unknown>) => Object.values(row).filter(Buffer.isBuffer) as Buffer[]);
    for (const token of [first.refresh_token, next.refresh_token, next.token]) {
      expect(everything).not.toContain(token);
      for (const b of bytes) {
        for (const encoding of ['utf8', 'hex', 'base64', 'base64url'] as const) expect(b.toString(encoding)).not.toContain(token);
      }
    }
  });

  describe('with REFRESH_REUSE_GRACE_SECONDS=0', () => {
    const strict = useServer({ REFRESH_REUSE_GRACE_SECONDS: '0' });

    it('refuses the old refresh token at once after rotation and ends its session', async () => {
      const u = await createUser(strict);
      const first = await startSession(u, undefined, strict);
      const next = await refresh(first.refresh_token, strict);
      expectNextPair(next, first);
      expectRefused(await refresh(first.refresh_token, strict));
      expectRefused(await refresh(next.body.refresh_token, strict));
      expect(await works(u, next.body.token, strict)).toBe(false);
    });
  });
});

describe('GET /api/tokens', () => {
  it('lists the caller’s sessions, newest first, marking the one of the token used as current', async () => {
    const u = await createUser(server);
    const phone = await startSession(u, "Susan's iPhone");
    const laptop = await startSession(u, 'Laptop');
    const stranger = await createUser(server);
    const res = await send<SessionCollection>('GET', '/api/tokens', { token: phone.token });
    const { violations } = await checkAnswer('listSessions', await server.fetch('/api/tokens', { headers: { Authorization: `Bearer ${phone.token}` } }));
    expect(violations).toEqual([]);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('private, no-cache');
    const etag = res.headers.get('etag') ?? '';
    expect(etag).not.toBe('');
    const again = await server.fetch('/api/tokens', { headers: { Authorization: `Bearer ${phone.token}`, 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    const rows = await server.db('sessions').where({ user_id: u.id }).orderBy('id', 'desc');
    expect(rows.map((r: { id: number }) => r.id)).toEqual([laptop.session_id, phone.session_id, expect.any(Number)]);
    expect(res.body).toStrictEqual({
      items: rows.map((r: { id: number; device: string | null; created_at: Date; last_used_at: Date }) => ({
        id: r.id,
        device: r.device,
        created_at: r.created_at.toISOString(),
        last_used_at: r.last_used_at.toISOString(),
        current: r.id === phone.session_id,
        _links: { self: `/api/tokens/${r.id}` },
      })),
      _meta: { page: 1, per_page: 10, total_pages: 1, total_items: 3 },
      _links: { self: '/api/tokens?page=1&per_page=10', next: null, prev: null },
    });
    expect(res.body.items.map((s) => s.device)).toEqual(['Laptop', "Susan's iPhone", null]);
    const theirs = await send<SessionCollection>('GET', '/api/tokens', { token: stranger.token });
    expect(theirs.body.items.map((s) => s.id)).not.toContain(phone.session_id);
    expect(theirs.body._meta.total_items).toBe(1);
  });

  it('pages with page and per_page, and leaves out sessions that have ended', async () => {
    const u = await createUser(server);
    const a = await startSession(u);
    const b = await startSession(u);
    expectNoContent(await send('DELETE', `/api/tokens/${a.session_id}`, { token: b.token }));
    await server.db('sessions').where({ user_id: u.id }).whereNotIn('id', [a.session_id, b.session_id]).update({ expires_at: server.db.raw("now() - interval '1 second'") });
    const res = await send<SessionCollection>('GET', '/api/tokens?page=1&per_page=1', { token: b.token });
    expect(res.status).toBe(200);
    expect(res.body.items.map((s) => [s.id, s.current])).toEqual([[b.session_id, true]]);
    expect(res.body._meta).toEqual({ page: 1, per_page: 1, total_pages: 1, total_items: 1 });
  });

  it('answers 401 with a Bearer challenge without a token', async () => {
    expectBearerChallenge(await send<ApiError>('GET', '/api/tokens'));
  });
});

describe('GET /api/tokens/{session_id}', () => {
  it('answers 200 with the caller’s session as the list shows it, current only for the token’s own, and 304 to its ETag', async () => {
    const u = await createUser(server);
    const phone = await startSession(u, "Susan's iPhone");
    const laptop = await startSession(u, 'Laptop');
    const res = await server.fetch(`/api/tokens/${phone.session_id}`, { headers: { Authorization: `Bearer ${phone.token}`, Accept: 'application/json' } });
    const { answer, violations } = await checkAnswer('getSession', res);
    expect(violations).toEqual([]);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('private, no-cache');
    const row = await server.db('sessions').where({ id: phone.session_id }).first();
    const own = JSON.parse(answer.text) as Session;
    expect(own).toStrictEqual({
      id: phone.session_id,
      device: "Susan's iPhone",
      created_at: row.created_at.toISOString(),
      last_used_at: row.last_used_at.toISOString(),
      current: true,
      _links: { self: `/api/tokens/${phone.session_id}` },
    });
    // The same item as in the list, for the same token.
    const list = await send<SessionCollection>('GET', '/api/tokens', { token: phone.token });
    expect(list.body.items.find((s) => s.id === phone.session_id)).toStrictEqual(own);
    // Read with another session's token, it is not the current one.
    const fromLaptop = await send<Session>('GET', `/api/tokens/${phone.session_id}`, { token: laptop.token });
    expect(fromLaptop.status).toBe(200);
    expect(fromLaptop.body).toStrictEqual({ ...own, current: false });
    const etag = answer.headers.get('etag') ?? '';
    expect(etag).not.toBe('');
    const again = await server.fetch(`/api/tokens/${phone.session_id}`, { headers: { Authorization: `Bearer ${phone.token}`, 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });

  it('answers 404, never 403, to another user’s session, as the contract declares', async () => {
    const [u, other] = [await createUser(server), await createUser(server)];
    const theirs = await startSession(other);
    const res = await server.fetch(`/api/tokens/${theirs.session_id}`, { headers: { Authorization: `Bearer ${u.token}`, Accept: 'application/json' } });
    const { answer, violations } = await checkAnswer('getSession', res);
    expect(violations).toEqual([]);
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.text)).toStrictEqual({ error: 'Not Found', message: `session ${theirs.session_id} does not exist` });
  });

  it('answers 404 to a session that never was, and to one that has ended', async () => {
    const u = await createUser(server);
    const s = await startSession(u);
    const expired = await startSession(u);
    expectPlainError(await send('GET', `/api/tokens/${MISSING_ID}`, { token: u.token }), 404, `session ${MISSING_ID} does not exist`);
    expect((await send('GET', `/api/tokens/${s.session_id}`, { token: u.token })).status).toBe(200);
    expectNoContent(await send('DELETE', `/api/tokens/${s.session_id}`, { token: u.token }));
    expectPlainError(await send('GET', `/api/tokens/${s.session_id}`, { token: u.token }), 404, `session ${s.session_id} does not exist`);
    // Past its refresh expiry (not yet swept), a session has ended too.
    await server.db('sessions').where({ id: expired.session_id }).update({ expires_at: server.db.raw("now() - interval '1 second'") });
    expectPlainError(await send('GET', `/api/tokens/${expired.session_id}`, { token: u.token }), 404, `session ${expired.session_id} does not exist`);
  });

  it('answers 400 to a session id that is not a positive integer, and 401 without a token', async () => {
    const u = await createUser(server);
    const res = await server.fetch('/api/tokens/abc', { headers: { Authorization: `Bearer ${u.token}` } });
    const { answer, violations } = await checkAnswer('getSession', res);
    expect({ status: answer.status, violations }).toEqual({ status: 400, violations: [] });
    expectBearerChallenge(await send<ApiError>('GET', `/api/tokens/${MISSING_ID}`));
  });
});

describe('sessionsRepository.deleteExpired (the hourly sweep)', () => {
  it('deletes sessions past their refresh expiry with their tokens, in batches, and leaves live ones', async () => {
    const u = await createUser(server);
    const live = await startSession(u);
    const gone = await Promise.all([startSession(u), startSession(u), startSession(u)]);
    const goneIds = gone.map((s) => s.session_id);
    await server.db('sessions').whereIn('id', goneIds).update({ expires_at: server.db.raw("now() - interval '1 second'") });
    expect(await sessionsRepository.deleteExpired(server.db, 2)).toBeGreaterThanOrEqual(3);
    expect(await server.db('sessions').whereIn('id', goneIds)).toEqual([]);
    expect(await server.db('tokens').whereIn('session_id', goneIds)).toEqual([]);
    expect(await server.db('refresh_tokens').whereIn('session_id', goneIds)).toEqual([]);
    expect(await server.db('sessions').where({ id: live.session_id })).toHaveLength(1);
    expect(await works(u, live.token)).toBe(true);
  });
});

describe('DELETE /api/tokens/{session_id}', () => {
  it('ends another session of the caller’s: its access and refresh tokens stop working, this one goes on', async () => {
    const u = await createUser(server);
    const here = await startSession(u, 'Laptop');
    const lost = await startSession(u, 'Lost phone');
    expectNoContent(await send('DELETE', `/api/tokens/${lost.session_id}`, { token: here.token }));
    expect(await works(u, lost.token)).toBe(false);
    expectRefused(await refresh(lost.refresh_token));
    expect(await works(u, here.token)).toBe(true);
    expectNextPair(await refresh(here.refresh_token), here);
  });

  it('answers 404, never 403, to another user’s session, and leaves it alone', async () => {
    const [u, other] = [await createUser(server), await createUser(server)];
    const theirs = await startSession(other);
    const res = await server.fetch(`/api/tokens/${theirs.session_id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${u.token}`, Accept: 'application/json' } });
    const { answer, violations } = await checkAnswer('endSession', res);
    expect(violations).toEqual([]);
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.text)).toStrictEqual({ error: 'Not Found', message: `session ${theirs.session_id} does not exist` });
    expect(await works(other, theirs.token)).toBe(true);
  });

  it('answers 404 to a session that never was, and to one already ended', async () => {
    const u = await createUser(server);
    const s = await startSession(u);
    expectPlainError(await send('DELETE', `/api/tokens/${MISSING_ID}`, { token: u.token }), 404, `session ${MISSING_ID} does not exist`);
    expectNoContent(await send('DELETE', `/api/tokens/${s.session_id}`, { token: u.token }));
    expectPlainError(await send('DELETE', `/api/tokens/${s.session_id}`, { token: u.token }), 404, `session ${s.session_id} does not exist`);
  });

  it('ends the session of the token used when that is the one named', async () => {
    const u = await createUser(server);
    const s = await startSession(u);
    expectNoContent(await send('DELETE', `/api/tokens/${s.session_id}`, { token: s.token }));
    expect(await works(u, s.token)).toBe(false);
    expect(await works(u, u.token)).toBe(true);
  });

  it('answers 400 to a session id that is not a positive integer', async () => {
    const u = await createUser(server);
    const res = await server.fetch('/api/tokens/abc', { method: 'DELETE', headers: { Authorization: `Bearer ${u.token}` } });
    const { answer, violations } = await checkAnswer('endSession', res);
    expect({ status: answer.status, violations }).toEqual({ status: 400, violations: [] });
  });
});
