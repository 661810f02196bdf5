import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/app.js';
import { createHttpServer } from '../src/server.js';
import { loadConfig } from '../src/config.js';
import { loadContract } from '../src/contract.js';
import { closeDb, openDb, type Db } from '../src/db/database.js';
import { HttpError } from '../src/http/http-error.js';
import { usersRepository } from '../src/db/users.js';
import { createLogger } from '../src/logger.js';
import { basic, createUser, login, uniqueName, type TestUser } from './support/factories.js';
import { useServer } from './support/server.js';
import { within } from './support/wait.js';
import { expectError } from './support/assertions.js';
import { ANY_BASIC_CHALLENGE, ANY_BEARER_CHALLENGE, INTERNAL_ERROR, INVALID_TOKEN, JSON_TYPE, MISSING_ID, NO_CREDENTIALS, PASSWORD, WRONG_LOGIN } from './support/constants.js';
import { rawRequest, readAnswer, sender, type Answer, type RawAnswer, type SendOptions } from './support/http.js';

// A stream that opens ends within a second, so that sweeping every operation never waits on one.
const server = useServer({ NOTIFICATIONS_STREAM_MAX_SECONDS: '1' });

/** What a browser sends when it navigates to a URL. */
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const BAD_IDS = ['abc', '0', '-1', '1.5', '99999999999999999999'];

/** A request as the tables below write it: the method among the options. */
type Call = SendOptions & { method?: string };

const send = sender(server);

function expectHtmlError(res: Answer, status: number): void {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^text\/html(;|$)/);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.text).toMatch(/^<!doctype html>/i);
  expect(res.text).toContain(String(status));
  expect(res.text).toContain(STATUS_CODES[status]);
}

const validNewUser = () => {
  const username = uniqueName('e');
  return { username, email: `${username}@example.com`, password: PASSWORD };
};

let viewer: TestUser;
let other: TestUser;
beforeAll(async () => {
  viewer = await createUser(server);
  other = await createUser(server);
});

describe('JSON error bodies', () => {
  it('every error under /api is {error, message} with the reason phrase, JSON and Cache-Control no-store', async () => {
    const cases: [number, string, Call][] = [
      [400, '/api/users', { method: 'POST', body: '{' }],
      [401, `/api/users/${other.id}`, {}],
      [401, '/api/tokens', { method: 'POST' }],
      [401, '/api/tokens', { method: 'POST', headers: { Authorization: basic(viewer.username, 'wrong password') } }],
      [403, `/api/users/${other.id}`, { method: 'PUT', headers: viewer.auth, body: '{}' }],
      [404, `/api/users/${MISSING_ID}`, { headers: viewer.auth }],
      [404, '/api/nope', {}],
      [405, '/api/users', { method: 'DELETE' }],
      [406, '/api', { headers: { Accept: 'application/xml' } }],
      [
        413,
        '/api/users',
        {
          method: 'POST',
          body: JSON.stringify({ ...validNewUser(), about_me: 'x'.repeat(70_000) }),
        },
      ],
      [
        415,
        '/api/users',
        {
          method: 'POST',
          headers: { 'Content-Type': 'text/plain' },
          body: JSON.stringify(validNewUser()),
        },
      ],
    ];
    for (const [status, path, options] of cases) {
      const res = await send(options.method ?? 'GET', path, options);
      expect({ path, status: res.status }).toEqual({ path, status });
      expectError(res, status);
    }
  });
});

describe('400 Bad Request', () => {
  it('answers malformed JSON with 400', async () => {
    for (const body of [
      '{',
      '{"username": "x",}',
      "{'username': 'x'}",
      'undefined',
      '{"a":1}garbage',
    ]) {
      const res = await send('POST', '/api/users', { body });
      expect(res.status, `${body}: ${res.text}`).toBe(400);
      expect(expectError(res, 400).message).toEqual(expect.any(String));
    }
  });

  it('answers a JSON null body with 400', async () => {
    expectError(await send('POST', '/api/users', { body: 'null' }), 400);
    expectError(
      await send('PUT', `/api/users/${viewer.id}`, { headers: viewer.auth, body: 'null' }),
      400,
    );
  });

  it('answers a JSON array, string or number body with 400', async () => {
    for (const body of ['[]', JSON.stringify([validNewUser()]), '"susan"', '42', 'true']) {
      const res = await send('POST', '/api/users', { body });
      expect(res.status, `${body}: ${res.text}`).toBe(400);
      expectError(res, 400);
    }
    expectError(
      await send('PUT', `/api/users/${viewer.id}`, { headers: viewer.auth, body: '[]' }),
      400,
    );
  });

  it('answers members of the wrong type with 400 naming each of them', async () => {
    const res = await send('POST', '/api/users', {
      body: JSON.stringify({
        username: 123,
        email: true,
        password: ['secret-secret'],
        about_me: { a: 1 },
      }),
    });
    const body = expectError(res, 400);
    expect(body.errors?.map((e) => e.path).sort()).toEqual([
      '/body/about_me',
      '/body/email',
      '/body/password',
      '/body/username',
    ]);
    for (const member of ['username', 'email', 'password', 'about_me'])
      expect(body.message).toContain(member);
  });

  it('answers missing members with 400 naming what is missing', async () => {
    const body = expectError(await send('POST', '/api/users', { body: '{}' }), 400);
    for (const member of ['username', 'email', 'password']) expect(body.message).toContain(member);
  });

  it('answers a wrongly typed update with 400 and changes nothing', async () => {
    const res = await send('PUT', `/api/users/${viewer.id}`, {
      headers: viewer.auth,
      body: JSON.stringify({ about_me: 42, username: null }),
    });
    const body = expectError(res, 400);
    expect(body.errors?.map((e) => e.path).sort()).toEqual(['/body/about_me', '/body/username']);
    const row = await server
      .db('users')
      .where({ id: viewer.id })
      .first<{ username: string; about_me: string | null }>();
    expect(row).toMatchObject({ username: viewer.username, about_me: null });
  });

  it('answers a NUL character in a string member with 400, never 5xx', async () => {
    const put = await send('PUT', `/api/users/${viewer.id}`, {
      headers: viewer.auth,
      body: JSON.stringify({ about_me: 'before \u0000 after' }),
    });
    const post = await send('POST', '/api/users', {
      body: JSON.stringify({ ...validNewUser(), about_me: 'a\u0000b' }),
    });
    expect({ put: put.status, post: post.status }).toEqual({ put: 400, post: 400 });
    expectError(put, 400);
    expectError(post, 400);
  });

  // Issue 12, defect 8: these were stored, the first two as U+FFFD and the last as its last member.
  it.each([
    ['bytes that are not UTF-8', Buffer.from([...Buffer.from('{"about_me":"caf'), 0xe9, ...Buffer.from('"}')]), /^the body is not valid UTF-8$/],
    ['an escaped lone surrogate', Buffer.from('{"about_me":"a\\ud800b"}'), /lone surrogate/],
    ['an escaped lone surrogate in a member name', Buffer.from('{"\\udc00":"x"}'), /lone surrogate/],
    ['a member name twice', Buffer.from('{"about_me":"first","about_me":"second"}'), /^the body has the member "about_me" twice in one object$/],
    ['a member name twice in a nested object', Buffer.from('{"about_me":"x","_links":{"self":"a","self":"b"}}'), /"self" twice/],
    // An outside review: 5,000 levels (25 KB) overflowed the duplicate scan's recursion, a 403.
    ['objects nested 5,000 deep', Buffer.from(`{"about_me":"x","a":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`), /^the body is nested more than 64 levels deep$/],
    ['arrays nested 65 deep', Buffer.from(`{"about_me":"x","a":${'['.repeat(64)}${']'.repeat(64)}}`), /nested more than 64 levels/],
  ])('answers a body with %s with 400 and changes nothing', async (_what, body, message) => {
    const before = await send('GET', `/api/users/${viewer.id}`, { headers: viewer.auth });
    const res = await send('PUT', `/api/users/${viewer.id}`, { headers: viewer.auth, body });
    expect(expectError(res, 400).message).toMatch(message);
    const registration = Buffer.concat([Buffer.from(JSON.stringify(validNewUser()).slice(0, -1) + ','), body.subarray(1)]);
    expectError(await send('POST', '/api/users', { body: registration }), 400);
    expect((await send('GET', `/api/users/${viewer.id}`, { headers: viewer.auth })).body).toEqual(before.body);
  });

  it('accepts what those checks must let through: surrogate pairs, raw or escaped, and a name once in each of two objects', async () => {
    const res = await send('PUT', `/api/users/${viewer.id}`, {
      headers: viewer.auth,
      body: '{"about_me":"\\ud83d\\ude00 = \ud83d\ude00","id":1,"_links":{"id":"1"}}',
    });
    expect(res.status, res.text).toBe(200);
    expect((res.body as { about_me: string }).about_me).toBe('\ud83d\ude00 = \ud83d\ude00');
  });

  it('answers a JSON body in a charset other than UTF-8 with 415 (RFC 8259, section 8.1)', async () => {
    const res = await send('PUT', `/api/users/${viewer.id}`, {
      headers: { ...viewer.auth, 'Content-Type': 'application/json; charset=utf-16le' },
      body: Buffer.from('{"about_me":"x"}', 'utf16le'),
    });
    expectError(res, 415);
  });

  // Issue 12, defect 8: the validator's own 400 named the whole URL ("api.users.%FF: malformed uri'").
  it('answers a path id that is not percent-encoded UTF-8 (%FF) with a 400 naming /path/id', async () => {
    for (const path of ['/api/users/%FF', '/api/users/%ED%A0%80/followers', `/api/users/${viewer.id}/followed/%C0`]) {
      const res = await send('GET', path, { headers: viewer.auth });
      const name = path.endsWith('%C0') ? 'target_id' : 'id';
      expect({ path, body: expectError(res, 400) }).toEqual({
        path,
        body: {
          error: 'Bad Request',
          message: `${name} (path): must be percent-encoded UTF-8`,
          errors: [{ path: `/path/${name}`, message: 'must be percent-encoded UTF-8' }],
        },
      });
    }
  });

  it('answers a body that does not decode under its Content-Encoding with 400, never 5xx', async () => {
    const statuses: Record<string, number> = {};
    for (const encoding of ['gzip', 'deflate', 'br']) {
      const res = await send('POST', '/api/users', {
        headers: { 'Content-Type': 'application/json', 'Content-Encoding': encoding },
        body: JSON.stringify(validNewUser()),
      });
      statuses[encoding] = res.status;
      if (res.status === 400) expectError(res, 400);
    }
    expect(statuses).toEqual({ gzip: 400, deflate: 400, br: 400 });
  });

  it('answers a body in a Content-Encoding the server does not know with 415', async () => {
    const res = await send('POST', '/api/users', {
      headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'made-up' },
      body: JSON.stringify(validNewUser()),
    });
    expectError(res, 415);
  });

  it.each(BAD_IDS)('answers the invalid path id %s with 400, never 5xx', async (id) => {
    const paths = [
      `/api/users/${id}`,
      `/api/users/${id}/followers`,
      `/api/users/${id}/followed`,
      `/api/users/${id}/followed/${other.id}`,
      `/api/users/${viewer.id}/followed/${id}`,
    ];
    for (const path of paths) {
      const res = await send('GET', path, { headers: viewer.auth });
      expect({ path, status: res.status }).toEqual({ path, status: 400 });
      expectError(res, 400);
    }
    for (const method of ['PUT', 'DELETE']) {
      for (const path of [
        `/api/users/${id}/followed/${other.id}`,
        `/api/users/${viewer.id}/followed/${id}`,
      ]) {
        const res = await send(method, path, { headers: viewer.auth });
        expect({ method, path, status: res.status }).toEqual({ method, path, status: 400 });
        expectError(res, 400);
      }
    }
    const put = await send('PUT', `/api/users/${id}`, { headers: viewer.auth, body: '{}' });
    expect(put.status, put.text).toBe(400);
    expectError(put, 400);
  });
});

describe('401 Unauthorized', () => {
  it('answers a bearer endpoint without a token with 401 and a Bearer challenge', async () => {
    for (const [method, path] of [
      ['GET', '/api/users'],
      ['GET', `/api/users/${other.id}`],
      ['PUT', `/api/users/${viewer.id}`],
      ['GET', `/api/users/${other.id}/followers`],
      ['DELETE', '/api/tokens'],
    ] as const) {
      const res = await send(method, path, { ...(method === 'PUT' ? { body: '{}' } : {}) });
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 401 });
      expectError(res, 401);
      expect(res.headers.get('www-authenticate')).toMatch(ANY_BEARER_CHALLENGE);
    }
  });

  it('answers a wrong, malformed or other-scheme credential on a bearer endpoint with 401 and a Bearer challenge', async () => {
    for (const authorization of [
      'Bearer not-a-token',
      'Bearer',
      `Token ${viewer.token}`,
      `${viewer.token}`,
      basic(viewer.username, viewer.password),
      `Bearer ${viewer.token} extra`,
    ]) {
      const res = await send('GET', `/api/users/${other.id}`, {
        headers: { Authorization: authorization },
      });
      expect({ authorization, status: res.status }).toEqual({ authorization, status: 401 });
      expectError(res, 401);
      expect(res.headers.get('www-authenticate')).toMatch(ANY_BEARER_CHALLENGE);
    }
  });

  it('answers an expired token with 401 and a Bearer challenge', async () => {
    const user = await createUser(server);
    await server
      .db('tokens')
      .where({ user_id: user.id })
      .update({ expires_at: new Date(Date.now() - 1000) });
    const res = await send('GET', `/api/users/${user.id}`, { headers: user.auth });
    expectError(res, 401);
    expect(res.headers.get('www-authenticate')).toMatch(ANY_BEARER_CHALLENGE);
  });

  it('accepts the bearer scheme name in any case (so the 401s above are about the credential)', async () => {
    const res = await send('GET', `/api/users/${other.id}`, {
      headers: { Authorization: `bEARer ${viewer.token}` },
    });
    expect(res.status, res.text).toBe(200);
  });

  it('says "credentials are required" to every request without usable credentials, whichever the scheme', async () => {
    // Once the validator said "Authorization header required", our handler "a bearer token is
    // required", and a login without credentials nothing at all.
    const messages: Record<string, string | undefined> = {};
    for (const [label, path, method, authorization] of [
      ['bearer, no header', `/api/users/${other.id}`, 'GET', undefined],
      ['bearer, scheme name alone', `/api/users/${other.id}`, 'GET', 'Bearer'],
      ['bearer, another scheme', `/api/users/${other.id}`, 'GET', basic(viewer.username, viewer.password)],
      ['bearer, DELETE /api/tokens with no header', '/api/tokens', 'DELETE', undefined],
      ['basic, no header', '/api/tokens', 'POST', undefined],
      ['basic, scheme name alone', '/api/tokens', 'POST', 'Basic'],
      ['basic, another scheme', '/api/tokens', 'POST', `Bearer ${viewer.token}`],
    ] as const) {
      const res = await send(method, path, { headers: authorization === undefined ? {} : { Authorization: authorization } });
      expectError(res, 401);
      messages[label] = (res.body as { message?: string }).message;
    }
    expect(Object.values(messages)).toEqual(Object.values(messages).map(() => NO_CREDENTIALS));
  });

  it('says what is wrong with credentials that were sent, in one wording per cause', async () => {
    const token = await send('GET', `/api/users/${other.id}`, { headers: { Authorization: 'Bearer not-a-token' } });
    const login = await send('POST', '/api/tokens', { headers: { Authorization: basic(viewer.username, 'wrong password') } });
    const nobody = await send('POST', '/api/tokens', { headers: { Authorization: basic(uniqueName('nobody'), 'wrong password') } });
    expect([token.body, login.body, nobody.body]).toEqual([
      { error: 'Unauthorized', message: INVALID_TOKEN },
      { error: 'Unauthorized', message: WRONG_LOGIN },
      { error: 'Unauthorized', message: WRONG_LOGIN },
    ]);
  });

  /** Each Authorization value (or none) to POST /api/tokens, and how the answer differs from SPEC.md's. */
  async function tokenAnswers(message: string, authorizations: (string | undefined)[]): Promise<string[]> {
    const wrong: string[] = [];
    for (const authorization of authorizations) {
      const res = await send('POST', '/api/tokens', {
        headers: authorization ? { Authorization: authorization } : {},
      });
      const got = {
        status: res.status,
        type: res.headers.get('content-type'),
        cacheControl: res.headers.get('cache-control'),
        challenge: ANY_BASIC_CHALLENGE.test(res.headers.get('www-authenticate') ?? ''),
        body: res.body,
      };
      const want = {
        status: 401,
        type: JSON_TYPE,
        cacheControl: 'no-store',
        challenge: true,
        body: { error: 'Unauthorized', message },
      };
      if (JSON.stringify(got) !== JSON.stringify(want))
        wrong.push(`${authorization ?? '(none)'}: ${JSON.stringify(got)}`);
    }
    return wrong;
  }

  it('answers POST /api/tokens with wrong credentials with 401, a message that does not say which is wrong, and a Basic challenge', async () => {
    expect(
      await tokenAnswers(WRONG_LOGIN, [
        basic(viewer.username, 'wrong password'),
        basic(uniqueName('nobody'), PASSWORD),
        basic(viewer.email, 'wrong password'),
        basic(viewer.username, ''),
      ]),
    ).toEqual([]);
  });

  it('answers POST /api/tokens without usable Basic credentials with 401, "credentials are required" and a Basic challenge', async () => {
    expect(
      await tokenAnswers(NO_CREDENTIALS, [
        undefined,
        `Bearer ${viewer.token}`,
        'Basic',
        'Basic !!!',
        `Basic ${Buffer.from('no-colon').toString('base64')}`,
        `Basic ${Buffer.from(':password').toString('base64')}`,
      ]),
    ).toEqual([]);
  });

  it('answers POST /api/tokens with a NUL character in the login with 401, not 5xx', async () => {
    expect(
      await tokenAnswers(WRONG_LOGIN, [
        basic(`${viewer.username}\u0000`, viewer.password),
        basic(`nul\u0000@example.com`, viewer.password),
      ]),
    ).toEqual([]);
  });
});

describe('404 Not Found', () => {
  it('answers an unknown URL under /api with a JSON error by default', async () => {
    for (const path of [
      '/api/nope',
      '/api/users/1/nope',
      '/api/tokens/1/nope',
      '/api/users/1/followed/2/3',
      '/api/users/1/followers/2',
    ]) {
      const res = await send('GET', path, { headers: viewer.auth });
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expectError(res, 404);
    }
    expectError(await send('GET', '/api/nope', { headers: { Accept: 'application/json' } }), 404);
  });

  it('answers a path of ours written in another case with a 404, never a 500', async () => {
    // Paths are case sensitive: these once reached the routes past the validator, unauthenticated.
    const id = viewer.id;
    for (const [method, path] of [
      ['GET', `/API/users/${id}`],
      ['GET', '/api/USERS'],
      ['GET', `/Api/users/${id}/followers`],
      ['PUT', `/API/users/${id}`],
      ['POST', '/API/posts'],
      ['GET', '/HEALTHZ'],
      ['GET', '/API/OPENAPI.JSON'],
    ] as const) {
      const res = await send(method, path, { headers: { ...viewer.auth, Accept: 'application/json', 'Content-Type': 'application/json' }, ...(method === 'GET' ? {} : { body: '{}' }) });
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 404 });
    }
  });

  it('answers an unknown URL under /api with an HTML page to a client that prefers text/html', async () => {
    expectHtmlError(await send('GET', '/api/nope', { headers: { Accept: 'text/html' } }), 404);
    expectHtmlError(await send('GET', '/api/nope', { headers: { Accept: BROWSER_ACCEPT } }), 404);
    expectHtmlError(
      await send('GET', '/api/nope', { headers: { Accept: 'application/json;q=0.5, text/html' } }),
      404,
    );
  });

  it('answers with JSON when application/json is acceptable as much as text/html', async () => {
    const answers: Record<string, string | null> = {};
    for (const accept of [
      'text/html, application/json',
      'application/json, text/html',
      'text/html;q=0.5, application/json;q=0.5',
    ]) {
      const res = await send('GET', '/api/nope', { headers: { Accept: accept } });
      expect(res.status).toBe(404);
      answers[accept] = res.headers.get('content-type');
    }
    expect(answers).toEqual({
      'text/html, application/json': JSON_TYPE,
      'application/json, text/html': JSON_TYPE,
      'text/html;q=0.5, application/json;q=0.5': JSON_TYPE,
    });
    expectError(
      await send('GET', '/api/nope', { headers: { Accept: 'text/html, application/json' } }),
      404,
    );
  });

  it('answers an unknown URL outside /api by the same rule: HTML to a browser, JSON to anyone else', async () => {
    // It was HTML whatever the client asked for, where the tutorial's wants_json_response gives JSON.
    for (const path of ['/nope', '/favicon.ico', '/apinope']) {
      expectHtmlError(await send('GET', path, { headers: { Accept: BROWSER_ACCEPT } }), 404);
      expectHtmlError(await send('GET', path, { headers: { Accept: 'text/html' } }), 404);
      expectError(await send('GET', path, { headers: { Accept: 'application/json' } }), 404);
      expectError(await send('GET', path, { headers: { Accept: '*/*' } }), 404);
      expectError(await send('GET', path, { headers: { Accept: 'text/html, application/json' } }, server.baseUrl), 404);
    }
    const bare = await fetch(`${server.baseUrl}/nope`, { headers: { Accept: '' } });
    expectError(await readAnswer(bare), 404);
  });

  it('answers a user that does not exist with a JSON error', async () => {
    const body = expectError(
      await send('GET', `/api/users/${MISSING_ID}`, { headers: viewer.auth }),
      404,
    );
    expect(body.message).toContain(String(MISSING_ID));
  });
});

describe('405 Method Not Allowed', () => {
  const allowOf = (res: Answer) =>
    (res.headers.get('allow') ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter((m) => m && m !== 'HEAD')
      .sort();

  it.each([
    ['PATCH', '/api/users/1', ['GET', 'PUT']],
    ['DELETE', '/api/users/1', ['GET', 'PUT']],
    ['DELETE', '/api/users', ['GET', 'POST']],
    ['PUT', '/api/users', ['GET', 'POST']],
    ['PUT', '/api/tokens', ['DELETE', 'GET', 'POST']],
    ['PUT', '/api/tokens/1', ['DELETE', 'GET']],
    ['GET', '/api/tokens/refresh', ['POST']],
    ['POST', '/api/users/1/followed/2', ['DELETE', 'GET', 'PUT']],
    ['POST', '/api', ['GET']],
  ])(
    'answers %s %s with 405, an Allow header listing %j, and a JSON error',
    async (method, path, allowed) => {
      for (const headers of [{}, viewer.auth]) {
        const res = await send(method, path, { headers });
        expectError(res, 405);
        expect(allowOf(res)).toEqual(allowed);
      }
    },
  );
});

describe('405 Method Not Allowed to a browser', () => {
  it('answers with an HTML page and the Allow header to a client that prefers text/html', async () => {
    // It was JSON whatever the client asked for.
    const res = await send('DELETE', '/api/users', { headers: { Accept: BROWSER_ACCEPT } });
    expectHtmlError(res, 405);
    expect(res.headers.get('allow')?.split(', ').sort()).toEqual(['GET', 'HEAD', 'POST']);
  });
});

describe('406 Not Acceptable', () => {
  it('answers GET /api with Accept: application/xml with 406 and a JSON error', async () => {
    expectError(await send('GET', '/api', { headers: { Accept: 'application/xml' } }), 406);
  });

  it('answers an authenticated GET that accepts no JSON with 406', async () => {
    expectError(
      await send('GET', `/api/users/${other.id}`, { headers: { ...viewer.auth, Accept: 'text/csv' } }),
      406,
    );
  });

  it('serves JSON when JSON is acceptable at all', async () => {
    for (const accept of [
      '*/*',
      'application/*',
      'application/xml, application/json;q=0.1',
      BROWSER_ACCEPT,
    ]) {
      const res = await send('GET', '/api', { headers: { Accept: accept } });
      expect({ accept, status: res.status }).toEqual({ accept, status: 200 });
      expect(res.headers.get('content-type')).toBe(JSON_TYPE);
    }
  });
});

describe('413 Payload Too Large', () => {
  it('answers a POST /api/users body over 64 KB with 413 and creates nobody', async () => {
    const user = validNewUser();
    const res = await send('POST', '/api/users', {
      body: JSON.stringify({ ...user, about_me: 'x'.repeat(65 * 1024) }),
    });
    expectError(res, 413);
    expect(await server.db('users').where({ username: user.username }).first()).toBeUndefined();
  });

  it('answers a PUT /api/users/{id} body over 64 KB with 413', async () => {
    const res = await send('PUT', `/api/users/${viewer.id}`, {
      headers: viewer.auth,
      body: JSON.stringify({ about_me: 'x'.repeat(65 * 1024) }),
    });
    expectError(res, 413);
  });

  it('still accepts a body just under the limit (the 413 is about size)', async () => {
    const user = validNewUser();
    const padding = ' '.repeat(60 * 1024);
    const res = await send('POST', '/api/users', {
      body: `${padding}${JSON.stringify(user)}`,
    });
    expect(res.status, res.text).toBe(201);
  });
});

describe('415 Unsupported Media Type', () => {
  it.each([
    ['text/plain', JSON.stringify(validNewUser())],
    [
      'application/x-www-form-urlencoded',
      'username=susan&email=susan%40example.com&password=correct+horse+battery+staple',
    ],
    [
      'multipart/form-data; boundary=x',
      '--x\r\nContent-Disposition: form-data; name="username"\r\n\r\nsusan\r\n--x--\r\n',
    ],
    ['application/xml', '<user><username>susan</username></user>'],
  ])(
    'answers POST /api/users with Content-Type %s with 415 and a JSON error',
    async (type, body) => {
      const res = await send('POST', '/api/users', {
        headers: { 'Content-Type': type },
        body,
      });
      expectError(res, 415);
    },
  );

  it('answers PUT /api/users/{id} with a form body with 415', async () => {
    const res = await send('PUT', `/api/users/${viewer.id}`, {
      headers: { ...viewer.auth, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'about_me=hi',
    });
    expectError(res, 415);
  });
});

describe('500 Internal Server Error', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const failOnce = () =>
    vi
      .spyOn(usersRepository, 'findById')
      .mockRejectedValueOnce(new Error('SELECT secret FROM internals'));

  it('answers an unexpected failure with {"error":"Internal Server Error"} and a message of its own: no stack or SQL', async () => {
    const spy = failOnce();
    const res = await send('GET', `/api/users/${other.id}`, { headers: viewer.auth });
    expect(spy).toHaveBeenCalled();
    expectError(res, 500);
    expect(res.body).toEqual({ error: 'Internal Server Error', message: INTERNAL_ERROR });
    expect(res.text).not.toMatch(/SELECT|secret|internals|\bat\s|\.ts:|stack/i);
    expect(res.headers.get('x-request-id')).toMatch(/\S/);
  });

  it('answers an unexpected failure with an HTML page and no stack to a browser', async () => {
    const spy = failOnce();
    const res = await send('GET', `/api/users/${other.id}`, {
      headers: { ...viewer.auth, Accept: BROWSER_ACCEPT },
    });
    expect(spy).toHaveBeenCalled();
    expectHtmlError(res, 500);
    expect(res.text).not.toMatch(/SELECT|secret|internals|\bat\s|\.ts:|stack/i);
  });

  it('answers a bare 500 JSON, never a stack page, when even the error answer breaks the contract', async () => {
    // 418 is declared for no operation: response validation rejects the error answer itself.
    const spy = vi.spyOn(usersRepository, 'findById').mockRejectedValueOnce(new HttpError(418, 'teapot'));
    const res = await send('GET', `/api/users/${other.id}`, { headers: viewer.auth });
    expect(spy).toHaveBeenCalled();
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toBe(JSON_TYPE);
    expect(res.body).toEqual({ error: 'Internal Server Error', message: INTERNAL_ERROR });
    expect(res.text).not.toMatch(/teapot|\bat\s|\.ts:|stack/i);
  });

  it('answers a browser with the HTML page, never JSON, when even the error answer breaks the contract', async () => {
    const spy = vi.spyOn(usersRepository, 'findById').mockRejectedValueOnce(new HttpError(418, 'teapot'));
    const res = await send('GET', `/api/users/${other.id}`, { headers: { ...viewer.auth, Accept: BROWSER_ACCEPT } });
    expect(spy).toHaveBeenCalled();
    expectHtmlError(res, 500);
    expect(res.text).not.toMatch(/teapot|\bat\s|\.ts:|stack/i);
  });

  it('recovers at once: the next request succeeds', async () => {
    failOnce();
    expect((await send('GET', `/api/users/${other.id}`, { headers: viewer.auth })).status).toBe(500);
    const res = await send('GET', `/api/users/${other.id}`, { headers: viewer.auth });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ id: other.id, username: other.username });
  });
});

describe('503 Service Unavailable while the database is unreachable', () => {
  let downUrl: string;
  let http: Server;
  let downDb: Db;

  beforeAll(async () => {
    const config = loadConfig({ NODE_ENV: 'test', RESPONSE_VALIDATION: 'true' });
    // Nothing listens on port 1.
    downDb = openDb({ url: 'postgres://postgres:postgres@127.0.0.1:1/none' });
    const app = createApp({
      db: downDb,
      config,
      contract: loadContract(),
      logger: createLogger('silent'),
    });
    http = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => http.once('listening', () => resolve()));
    downUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    http?.closeAllConnections();
    await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
    if (downDb) await closeDb(downDb);
  });

  async function expectUnavailable(path: string, options: Call): Promise<void> {
    // At once, not after waiting on the database: no answer within 5 s fails here.
    const res = await within(`${options.method ?? 'GET'} ${path} while the database is down`, 5_000, send(options.method ?? 'GET', path, options, downUrl));
    expectError(res, 503);
    expect(res.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
  }

  it('answers GET /api/users/{id} with any bearer token with 503 and Retry-After', async () => {
    await expectUnavailable('/api/users/1', { headers: { Authorization: 'Bearer some-token' } });
  });

  it('answers POST /api/users with a valid body with 503 and Retry-After', async () => {
    await expectUnavailable('/api/users', { method: 'POST', body: JSON.stringify(validNewUser()) });
  });

  it('answers POST /api/tokens with Basic credentials with 503 and Retry-After', async () => {
    await expectUnavailable('/api/tokens', {
      method: 'POST',
      headers: { Authorization: basic('susan', PASSWORD) },
    });
  });

  it('still answers what needs no database', async () => {
    const res = await send('GET', '/api', {}, downUrl);
    expect(res.status, res.text).toBe(200);
  });
});

// Issue 12, defect 8: Node keeps the first of two Host lines and takes any value, and these were served.
describe('400 for a Host header that is repeated or malformed (RFC 9112, section 3.2)', () => {
  const get = (hostLines: string) => rawRequest(server.baseUrl, `GET /api HTTP/1.1\r\n${hostLines}Accept: application/json\r\nConnection: close\r\n\r\n`);
  const expectRawJsonError = (res: RawAnswer, status: number, message: RegExp) => {
    expect(res.status, res.body).toBe(status);
    expect(res.headers['content-type']).toBe(JSON_TYPE);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(res.body)).toEqual({ error: STATUS_CODES[status], message: expect.stringMatching(message) });
  };

  it('answers two Host lines with 400, the same or not', async () => {
    for (const lines of ['Host: a.example\r\nHost: b.example\r\n', 'Host: a.example\r\nhost: a.example\r\n']) {
      expectRawJsonError(await get(lines), 400, /^the request must carry one Host header, not 2$/);
    }
  });

  it.each(['a b.example', 'a.example/path', 'user@a.example', 'a.example:80x', 'a.example:-1', '[::1', '[not-an-address]', '::1', 'a"b', 'a.example:80:80'])(
    'answers Host: %s with 400',
    async (host) => {
      expectRawJsonError(await get(`Host: ${host}\r\n`), 400, /^the Host header must be a host name or address, and an optional port$/);
    },
  );

  it.each(['a.example', 'A.Example:8080', '127.0.0.1:1', '[::1]:80', '[2001:db8::1]', '[v1.fe80::a+en1]', 'xn--bcher-kva.example', 'a%2Db.example', '', 'a.example:'])(
    'serves Host: %s',
    async (host) => {
      const res = await get(`Host: ${host}\r\n`);
      expect(res.status, res.body).toBe(200);
    },
  );
});

// Issue 12, defect 8: Node's own 431 (and 400) is a status line with no body.
describe('what Node refuses before the app sees it, through the server src/main.ts runs', () => {
  let base = '';
  let close: () => Promise<void> = async () => {};
  beforeAll(async () => {
    const config = loadConfig({ NODE_ENV: 'test', RESPONSE_VALIDATION: 'true' });
    const app = createApp({ db: server.db, config, contract: loadContract(), logger: createLogger('silent') });
    const { server: http } = createHttpServer(app, config.http);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    close = async () => {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    };
  });
  afterAll(() => close());

  const expectRaw = (res: RawAnswer, status: number, message: RegExp) => {
    expect({ status: res.status, type: res.headers['content-type'], cache: res.headers['cache-control'], body: JSON.parse(res.body || 'null') as unknown }).toEqual({
      status,
      type: JSON_TYPE,
      cache: 'no-store',
      body: { error: STATUS_CODES[status], message: expect.stringMatching(message) },
    });
    expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body));
  };

  it('answers headers over 16 KB with 431 and the JSON error body', async () => {
    const res = await rawRequest(base, `GET /api HTTP/1.1\r\nHost: a.example\r\nX-Big: ${'a'.repeat(17_000)}\r\nConnection: close\r\n\r\n`);
    expectRaw(res, 431, /^the request line and headers must not be larger than 16 KB in all$/);
  });

  it('answers a request line over 16 KB with 431 and the JSON error body', async () => {
    const res = await rawRequest(base, `GET /api/users?page=${'1'.repeat(17_000)} HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n`);
    expectRaw(res, 431, /16 KB/);
  });

  it('answers what is not HTTP with 400 and the JSON error body', async () => {
    expectRaw(await rawRequest(base, 'HELLO THERE\r\n\r\n'), 400, /^the request is not valid HTTP\/1.1$/);
    expectRaw(await rawRequest(base, 'GET /api HTTP/1.1\r\nHost: a.example\r\nBad Header\r\n\r\n'), 400, /not valid HTTP/);
  });

  it('serves a request with headers just under the limit', async () => {
    const res = await rawRequest(base, `GET /api HTTP/1.1\r\nHost: a.example\r\nX-Big: ${'a'.repeat(15_000)}\r\nConnection: close\r\n\r\n`);
    expect(res.status, res.body).toBe(200);
  });
});

describe('X-Request-Id', () => {
  it('echoes a sane X-Request-Id the client sent', async () => {
    for (const id of ['abc-123', 'req_42.7:x', '6f1c2a9e-0d7b-4c43-9d0e-1b2f3a4b5c6d']) {
      const res = await send('GET', '/api', { headers: { 'X-Request-Id': id } });
      expect(res.headers.get('x-request-id')).toBe(id);
    }
    const error = await send('GET', '/api/nope', { headers: { 'X-Request-Id': 'on-an-error' } });
    expect(error.status).toBe(404);
    expect(error.headers.get('x-request-id')).toBe('on-an-error');
  });

  it('generates a fresh id when none is sent', async () => {
    const a = await send('GET', '/api');
    const b = await send('GET', '/api');
    expect(a.headers.get('x-request-id')).toMatch(/^[\w.:-]{8,128}$/);
    expect(b.headers.get('x-request-id')).toMatch(/^[\w.:-]{8,128}$/);
    expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'));
  });

  it('replaces an insane X-Request-Id instead of echoing it', async () => {
    for (const id of [
      'x'.repeat(500),
      'has spaces in it',
      '<script>alert(1)</script>',
      'semi;colon',
      'caf\u00e9',
    ]) {
      const res = await send('GET', '/api', { headers: { 'X-Request-Id': id } });
      const echoed = res.headers.get('x-request-id');
      expect(echoed).toMatch(/^[\w.:-]{8,128}$/);
      expect(echoed).not.toBe(id);
    }
  });
});

/** Every operation in openapi.yaml, hit with bad requests of every kind: never a 5xx. */
describe('bad requests to every operation', () => {
  interface Sent {
    operationId: string;
    label: string;
    res: Answer;
  }
  const results: Sent[] = [];
  const operations: { method: string; path: string; operationId: string; hasBody: boolean }[] = [];

  const BAD_BODIES = [
    '{',
    'null',
    '[]',
    '"text"',
    '12',
    '{}',
    '{"username": 5, "email": [], "password": {}, "about_me": 7}',
    '{"username": "", "email": "not-an-email", "password": "short"}',
    '{"username": "has spaces", "email": "a@b.c", "password": "correct horse battery staple"}',
    `{"about_me": "${'x'.repeat(141)}"}`,
    '{"about_me": "nul \\u0000 byte"}',
    '{"username": "nul\\u0000byte", "email": "nul\\u0000@example.com", "password": "correct horse battery staple"}',
    '{"unknown": 1}',
    JSON.stringify({ ...validNewUser(), about_me: 'nul \u0000 byte' }),
    JSON.stringify({ ...validNewUser(), password: 'nul \u0000 byte password' }),
    '{"id": "x", "follower_count": -1, "_links": 5}',
    '{"password": "a new password here"}',
    '{"password": "a new password here", "current_password": 5}',
    '{"email": "' + 'a'.repeat(200) + '@example.com"}',
    '{"about_me": "\\ud800"}',
    '{"a":'.repeat(2000) + '1' + '}'.repeat(2000),
    `{"about_me": ${'1'.repeat(400)}}`,
  ];
  const BAD_PARAMS = [
    ...BAD_IDS,
    '1e400',
    '%',
    '%zz',
    '%00',
    '9007199254740992',
    ' 1',
    '0x10',
    'null',
    'x'.repeat(3000),
  ];
  const BAD_QUERIES = [
    'page=0',
    'per_page=0',
    'page=abc',
    'per_page=-5',
    'page=1.5',
    'page=99999999999',
    'per_page=99999999999',
    'page=2147483647&per_page=100',
    'unknown=1',
    'page=1&page=2',
    'page[a]=1',
    'page=%',
  ];

  const BODY_HEADER_VARIANTS: Record<string, string>[] = [
    { 'Content-Type': 'application/json; charset=latin1' },
    { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
    { 'Content-Type': 'application/json', 'Content-Encoding': 'br' },
    { 'Content-Type': 'application/json', 'Content-Encoding': 'made-up' },
    { 'Content-Type': 'text/plain' },
    { 'Content-Type': 'application/x-www-form-urlencoded' },
    { 'Content-Type': 'application/json-patch+json' },
    { 'Content-Type': '' },
  ];
  const HEADER_VARIANTS: Record<string, string>[] = [
    { Accept: 'application/xml' },
    { Accept: 'text/html' },
    { Accept: ';;;,,q=x' },
    { 'If-None-Match': 'garbage' },
    { 'If-None-Match': '*' },
    { 'If-Match': 'garbage' },
    { 'If-Match': 'W/"weak"' },
    { 'X-Request-Id': '' },
  ];

  beforeAll(async () => {
    const doc = loadContract().document() as {
      paths: Record<string, Record<string, { operationId?: string; requestBody?: unknown }>>;
    };
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of ['get', 'put', 'post', 'delete', 'patch']) {
        const op = item[method];
        if (op)
          operations.push({
            method: method.toUpperCase(),
            path,
            operationId: op.operationId ?? '',
            hasBody: op.requestBody !== undefined,
          });
      }
    }

    const sweeper = await createUser(server);
    const target = await createUser(server);
    const fill = (path: string, values: Record<string, string>) =>
      path.replace(/\{(\w+)\}/g, (_m, name: string) => values[name] ?? String(target.id));
    const valid = { id: String(sweeper.id), target_id: String(target.id) };

    for (const op of operations) {
      const goodPath = fill(op.path, valid);
      const isBasic = op.operationId === 'createToken';
      /** Valid credentials; revoking a token spends it, so that operation gets a fresh one each time. */
      const goodAuth = async (): Promise<Record<string, string>> => {
        if (isBasic) return { Authorization: basic(sweeper.username, sweeper.password) };
        if (op.operationId === 'revokeToken')
          return {
            Authorization: `Bearer ${await login(server, sweeper.username, sweeper.password)}`,
          };
        return sweeper.auth;
      };
      const run = async (label: string, path: string, options: Call) => {
        const res = await send(op.method, path, { ...options });
        results.push({
          operationId: op.operationId,
          label: `${op.method} ${path.slice(0, 120)} ${label}`.slice(0, 300),
          res,
        });
      };
      const body = op.hasBody ? { body: '{}' } : {};

      // No or bad credentials.
      await run('no auth', goodPath, body);
      const badAuths = [
        'Bearer nope',
        'Bearer',
        'Bearer ' + 'x'.repeat(5000),
        'bearer \u00e9',
        'Basic',
        'Basic !!!',
        `Basic ${Buffer.from('no-colon').toString('base64')}`,
        `Basic ${Buffer.from(':').toString('base64')}`,
        `Basic ${Buffer.from(`${'u'.repeat(5000)}:p`).toString('base64')}`,
        // Long, but under Node's 16 KB header limit (beyond it Node itself answers 431).
        `Basic ${Buffer.from(`${sweeper.username}:${'p'.repeat(8_000)}`).toString('base64')}`,
        `Basic ${Buffer.from('nul\u0000name:password').toString('base64')}`,
        `Basic ${Buffer.from('nul\u0000@example.com:password').toString('base64')}`,
        `Basic ${Buffer.from('\u00ff\u00fe:\u00ff', 'latin1').toString('base64')}`,
        basic(sweeper.username, 'wrong password'),
        `Digest username="x"`,
        `Bearer ${sweeper.token}, Basic x`,
      ];
      for (const authorization of badAuths) {
        await run(`auth=${authorization.slice(0, 40)}`, goodPath, {
          headers: { Authorization: authorization },
          ...body,
        });
      }

      // Bad path parameters, with valid credentials.
      for (const name of op.path.match(/\{(\w+)\}/g) ?? []) {
        const key = name.slice(1, -1);
        for (const bad of BAD_PARAMS) {
          await run(`${key}=${bad.slice(0, 20)}`, fill(op.path, { ...valid, [key]: bad }), {
            headers: await goodAuth(),
            ...body,
          });
        }
      }

      // Bad query strings.
      for (const query of BAD_QUERIES) {
        await run(`?${query}`, `${goodPath}?${query}`, { headers: await goodAuth(), ...body });
      }

      // Odd headers.
      for (const headers of HEADER_VARIANTS) {
        await run(JSON.stringify(headers), goodPath, {
          headers: { ...(await goodAuth()), ...headers },
          ...body,
        });
      }

      // Bad bodies, on every method that can carry one (GET cannot through fetch).
      if (op.method !== 'GET') {
        for (const bad of BAD_BODIES) {
          await run(`body=${bad.slice(0, 40)}`, goodPath, { headers: await goodAuth(), body: bad });
        }
        for (const headers of BODY_HEADER_VARIANTS) {
          await run(`body headers ${JSON.stringify(headers)}`, goodPath, {
            headers: { ...(await goodAuth()), ...headers },
            body: Buffer.from('{"about_me": "hi"}'),
          });
        }
        await run('body over 64 KB', goodPath, {
          headers: await goodAuth(),
          body: JSON.stringify({ about_me: 'x'.repeat(70_000) }),
        });
      }
    }
  }, 180_000);

  it('covers every operation in openapi.yaml', () => {
    expect(operations.map((o) => o.operationId)).toEqual(
      expect.arrayContaining([
        'createToken',
        'createUser',
        'followUser',
        'getApi',
        'getFollow',
        'getUser',
        'listFollowed',
        'listFollowers',
        'listUsers',
        'revokeToken',
        'unfollowUser',
        'updateUser',
      ]),
    );
    for (const op of operations)
      expect(results.filter((r) => r.operationId === op.operationId).length).toBeGreaterThan(20);
  });

  it('never answers with a 5xx', () => {
    const failures = results
      .filter((r) => r.res.status >= 500)
      .map((r) => `${r.res.status} ${r.label} -> ${r.res.text.slice(0, 200)}`);
    expect(failures).toEqual([]);
  });

  it('answers every 4xx under /api with the JSON error body (or an HTML 404 for a browser)', () => {
    const malformed = results
      .filter((r) => r.res.status >= 400 && r.res.status < 500)
      .filter((r) => {
        const type = r.res.headers.get('content-type') ?? '';
        if (r.res.status === 404 && type.startsWith('text/html')) return false;
        const body = r.res.body as Record<string, unknown> | undefined;
        const keysOk =
          body !== undefined &&
          Object.keys(body).every((k) => ['error', 'message', 'errors'].includes(k));
        return !(
          type === JSON_TYPE &&
          keysOk &&
          body.error === STATUS_CODES[r.res.status] &&
          r.res.headers.get('cache-control') === 'no-store'
        );
      })
      .map(
        (r) =>
          `${r.res.status} ${r.label} -> ${r.res.headers.get('content-type')} ${r.res.text.slice(0, 200)}`,
      );
    expect(malformed).toEqual([]);
  });

  it('sends a challenge with every 401', () => {
    const missing = results
      .filter((r) => r.res.status === 401)
      .filter(
        (r) => !/^(Basic|Bearer) realm="[^"]+"$/.test(r.res.headers.get('www-authenticate') ?? ''),
      )
      .map((r) => r.label);
    expect(missing).toEqual([]);
  });
});
