import { describe, expect, it } from 'vitest';
import {
  createMicroblogClient,
  etagOf,
  ifMatch,
  ifNoneMatch,
  isMicroblogApiError,
  isNotModified,
  MicroblogApiError,
  notificationEvents,
  serverSentEvents,
  unwrap,
  type MicroblogClient,
  type UserNotification,
  type Post,
  type ServerSentEvent,
} from '../sdk/typescript/src/index.js';
import { createUser, uniqueName, type TestUser } from './support/factories.js';
import { useServer } from './support/server.js';

const server = useServer();

/** A fresh SDK client for the test server. */
const client = (options: { token?: string } = {}): MicroblogClient =>
  createMicroblogClient({ baseUrl: server.baseUrl, ...options });

/** What a promise rejects with (failing the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

/** What the typed call's result turns into through unwrap(): the thrown error. */
async function unwrapError(call: Promise<{ data?: unknown; error?: unknown; response: Response }>) {
  const result = await call;
  const error = (() => {
    try {
      unwrap(result);
    } catch (thrown) {
      return thrown;
    }
    throw new Error(`expected ${result.response.status} to be an error`);
  })();
  expect(error).toBeInstanceOf(MicroblogApiError);
  return { error: error as MicroblogApiError, response: result.response };
}

async function follow(follower: TestUser, target: TestUser): Promise<void> {
  const res = await server.api.PUT('/api/users/{id}/followed/{target_id}', {
    params: { path: { id: follower.id, target_id: target.id } },
    headers: follower.auth,
  });
  expect(res.response.status).toBe(204);
}

async function writePost(author: TestUser, body: string): Promise<Post> {
  return unwrap(await server.api.POST('/api/posts', { body: { body }, headers: author.auth }));
}

describe('createMicroblogClient: login and tokens', () => {
  it('logs in with Basic credentials, returns the token and sends it from then on', async () => {
    const susan = await createUser(server);
    const api = client();

    const token = await api.login(susan.username, susan.password);

    expect(token).toEqual({
      token: expect.any(String),
      expires_at: expect.any(String),
      user_id: susan.id,
      refresh_token: expect.any(String),
      refresh_expires_at: expect.any(String),
      session_id: expect.any(Number),
    });
    expect(api.token).toBe(token.token);
    expect(api.refreshToken).toBe(token.refresh_token);
    const me = unwrap(await api.GET('/api/users/{id}', { params: { path: { id: susan.id } } }));
    expect(me.email).toBe(susan.email); // only the user's own record shows it
  });

  it('logs in with the email address and a password outside Latin-1 (UTF-8 Basic credentials)', async () => {
    const password = 'pässwörd ✓ 密码 🔑';
    const susan = await createUser(server, { password });

    const token = await client().login(susan.email, password);

    expect(token.user_id).toBe(susan.id);
  });

  it('names the session after the device given, and refresh() exchanges the kept refresh token for the next pair', async () => {
    const susan = await createUser(server);
    const api = client();
    const first = await api.login(susan.username, susan.password, { device: "Susan's laptop" });

    const next = await api.refresh();

    expect(next).toMatchObject({ user_id: susan.id, session_id: first.session_id });
    expect(next.token).not.toBe(first.token);
    expect(api.token).toBe(next.token);
    expect(api.refreshToken).toBe(next.refresh_token);
    const sessions = unwrap(await api.GET('/api/tokens'));
    expect(sessions.items.find((s) => s.id === first.session_id)).toMatchObject({ device: "Susan's laptop", current: true });
  });

  it('throws a MicroblogApiError 401 from refresh() once the session has ended, and from refresh() before any login a TypeError', async () => {
    const susan = await createUser(server);
    const api = client();
    await api.login(susan.username, susan.password);
    const kept = api.refreshToken as string;
    await api.logout();

    expect(api.refreshToken).toBeUndefined();
    await expect(rejection(api.refresh())).resolves.toBeInstanceOf(TypeError);
    const error = await rejection(api.refresh(kept));
    expect(error).toMatchObject({ name: 'MicroblogApiError', status: 401, message: 'the refresh token is invalid or has expired' });
  });

  it('throws a MicroblogApiError for wrong credentials, and keeps no token', async () => {
    const susan = await createUser(server);
    const api = client();

    const error = await rejection(api.login(susan.username, 'not the password'));

    expect(error).toBeInstanceOf(MicroblogApiError);
    expect(error).toMatchObject({
      name: 'MicroblogApiError',
      status: 401,
      error: 'Unauthorized',
      message: 'the username (or email address) or the password is wrong',
      errors: [],
      requestId: expect.stringMatching(/^[\w.:-]+$/),
    });
    expect(api.token).toBeUndefined();
  });

  it('sends a token given at creation, and none after setToken(undefined)', async () => {
    const susan = await createUser(server);
    const api = client({ token: susan.token });
    const get = () => api.GET('/api/users/{id}', { params: { path: { id: susan.id } } });

    expect((await get()).response.status).toBe(200);
    api.setToken(undefined);
    const { error } = await unwrapError(get());
    expect(error).toMatchObject({
      status: 401,
      error: 'Unauthorized',
      message: 'credentials are required',
    });
  });

  it("lets a request's own Authorization header win over the client's token", async () => {
    const [susan, david] = await Promise.all([createUser(server), createUser(server)]);
    const api = client({ token: susan.token });

    const davidsOwn = unwrap(
      await api.GET('/api/users/{id}', { params: { path: { id: david.id } }, headers: david.auth }),
    );

    expect(davidsOwn.email).toBe(david.email);
  });

  it('logs out: revokes the token in use and stops sending it', async () => {
    const susan = await createUser(server);
    const api = client();
    const { token } = await api.login(susan.username, susan.password);

    await api.logout();

    expect(api.token).toBeUndefined();
    const res = await server.fetch(`/api/users/${susan.id}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(401);
  });

  it('sends its requests through the fetch it was given', async () => {
    const susan = await createUser(server);
    const seen: string[] = [];
    const api = createMicroblogClient({
      baseUrl: server.baseUrl,
      token: susan.token,
      fetch: (request) => {
        seen.push(
          `${request.method} ${new URL(request.url).pathname} ${request.headers.get('Authorization')}`,
        );
        return fetch(request);
      },
    });

    await api.GET('/api/users/{id}', { params: { path: { id: susan.id } } });

    expect(seen).toEqual([`GET /api/users/${susan.id} Bearer ${susan.token}`]);
  });
});

describe('createMicroblogClient: paging', () => {
  it('paginate() collects every item of a multi-page collection exactly once, in order', async () => {
    const target = await createUser(server);
    const followers = await Promise.all(Array.from({ length: 7 }, () => createUser(server)));
    for (const follower of followers) await follow(follower, target);

    const ids: number[] = [];
    // The token comes per request: later pages must carry the same headers.
    for await (const user of client().paginate('/api/users/{id}/followers', {
      params: { path: { id: target.id }, query: { per_page: 3 } },
      headers: target.auth,
    })) {
      ids.push(user.id);
    }

    expect(ids).toEqual(followers.map((follower) => follower.id).sort((a, b) => a - b));
  });

  it('pages() yields each page, following _links.next to the last', async () => {
    const target = await createUser(server);
    const followers = await Promise.all(Array.from({ length: 5 }, () => createUser(server)));
    for (const follower of followers) await follow(follower, target);

    const pages = [];
    for await (const page of client({ token: target.token }).pages('/api/users/{id}/followers', {
      params: { path: { id: target.id }, query: { per_page: 2 } },
    })) {
      pages.push(page);
    }

    expect(pages.map((page) => [page._meta.page, page.items.length, page._links.next])).toEqual([
      // The next links carry a keyset cursor besides the page number.
      [1, 2, expect.stringMatching(new RegExp(`^/api/users/${target.id}/followers\\?page=2&per_page=2&cursor=[\\w-]+$`))],
      [2, 2, expect.stringMatching(new RegExp(`^/api/users/${target.id}/followers\\?page=3&per_page=2&cursor=[\\w-]+$`))],
      [3, 1, null],
    ]);
  });

  it('follows cursor links: a post written while paging is neither repeated nor skipped into', async () => {
    const author = await createUser(server);
    const written: Post[] = [];
    for (let i = 1; i <= 5; i++) written.push(await writePost(author, `post ${i}`));

    const seen: number[] = [];
    for await (const post of client({ token: author.token }).paginate('/api/users/{id}/posts', {
      params: { path: { id: author.id }, query: { per_page: 2 } },
    })) {
      seen.push(post.id);
      if (seen.length === 1) await writePost(author, 'written while paging');
    }

    expect(seen).toEqual(written.map((post) => post.id).reverse());
  });

  it('walks a collection that needs no parameters', async () => {
    const susan = await createUser(server);
    const seen = new Set<number>();
    let count = 0;
    for await (const user of client({ token: susan.token }).paginate('/api/users', {
      params: { query: { per_page: 100 } },
    })) {
      seen.add(user.id);
      count++;
    }
    expect(seen.has(susan.id)).toBe(true);
    expect(count).toBe(seen.size);
  });

  it('newer() follows _links.newer above a page until one comes back empty: what arrived, newest first', async () => {
    const author = await createUser(server);
    const reader = await createUser(server);
    await follow(reader, author);
    for (let i = 1; i <= 3; i++) await writePost(author, `old ${i}`);
    // No token in the client: the headers given go with every request.
    const api = client();
    const top = unwrap(
      await api.GET('/api/users/{id}/feed', {
        params: { path: { id: reader.id }, query: { per_page: 2 } },
        headers: reader.auth,
      }),
    );
    const arrived: number[] = [];
    for (let i = 1; i <= 5; i++) arrived.unshift((await writePost(author, `new ${i}`)).id);

    const pulled: number[] = [];
    const sizes: number[] = [];
    let last = top;
    for await (const page of api.newer(top, { headers: reader.auth })) {
      sizes.push(page.items.length);
      pulled.unshift(...page.items.map((post) => post.id));
      last = page;
    }

    expect(pulled).toEqual(arrived);
    expect(sizes).toEqual([2, 2, 1]);
    // Asked again from the last page: nothing, until a post arrives.
    const again = async () => {
      const ids: number[] = [];
      for await (const page of api.newer(last, { headers: reader.auth }))
        ids.unshift(...page.items.map((post) => post.id));
      return ids;
    };
    expect(await again()).toEqual([]);
    const later = await writePost(author, 'later');
    expect(await again()).toEqual([later.id]);
  });

  it('newer() from the page of an empty timeline gives the first posts it holds', async () => {
    const author = await createUser(server);
    const api = client({ token: author.token });
    const empty = unwrap(
      await api.GET('/api/users/{id}/posts', { params: { path: { id: author.id } } }),
    );
    expect(empty.items).toEqual([]);
    const first = await writePost(author, 'first');
    const second = await writePost(author, 'second');

    const pages = [];
    for await (const page of api.newer(empty)) pages.push(page.items.map((post) => post.id));

    expect(pages).toEqual([[second.id, first.id]]);
  });

  it('search: paginate() through a search of posts; newer() of search results yields nothing', async () => {
    const author = await createUser(server);
    const api = client({ token: author.token });
    // Letters only, found in no other post.
    const word = `zq${Math.random().toString(36).slice(2).replace(/[^a-z]/g, '')}${Date.now().toString(36).replace(/[^a-z]/g, '')}srch`;
    const written: number[] = [];
    for (let i = 0; i < 3; i++) written.unshift((await writePost(author, `${word} ${i}`)).id);
    const found: number[] = [];
    for await (const post of api.paginate('/api/posts', { params: { query: { q: word, per_page: 2 } } })) found.push(post.id);
    expect(found).toEqual(written);
    const page = unwrap(await api.GET('/api/posts', { params: { query: { q: word } } }));
    expect(page._links.newer).toBeNull();
    const pulled = [];
    for await (const above of api.newer(page)) pulled.push(above);
    expect(pulled).toEqual([]);
  });

  it('throws a MicroblogApiError when the collection cannot be had', async () => {
    const susan = await createUser(server);
    const missing = 2_000_000_000;

    const error = await rejection(
      (async () => {
        for await (const user of client({ token: susan.token }).paginate(
          '/api/users/{id}/followers',
          {
            params: { path: { id: missing } },
          },
        )) {
          throw new Error(`no item expected, got ${user.id}`);
        }
      })(),
    );

    expect(error).toBeInstanceOf(MicroblogApiError);
    expect(error).toMatchObject({
      status: 404,
      error: 'Not Found',
      message: `user ${missing} does not exist`,
    });
  });
});

describe('createMicroblogClient: retries of a POST under one Idempotency-Key', () => {
  /** A client whose fetch fails its first tries as `faults` says, recording each try's key. */
  function flaky(token: string, faults: ('lost answer' | 'refused' | '503')[]) {
    const tries: { method: string; path: string; key: string | null }[] = [];
    const api = createMicroblogClient({
      baseUrl: server.baseUrl,
      token,
      retry: { attempts: 3, baseDelayMs: 0 },
      fetch: async (request) => {
        tries.push({
          method: request.method,
          path: new URL(request.url).pathname,
          key: request.headers.get('Idempotency-Key'),
        });
        const fault = faults[tries.length - 1];
        if (fault === 'lost answer') {
          await fetch(request);
          throw new TypeError('fetch failed');
        }
        if (fault === 'refused') throw new TypeError('fetch failed');
        if (fault === '503') return new Response('busy', { status: 503, headers: { 'Retry-After': '0' } });
        return fetch(request);
      },
    });
    return { api, tries };
  }

  async function postsBy(author: TestUser, body: string): Promise<number> {
    let count = 0;
    for await (const post of client({ token: author.token }).paginate('/api/users/{id}/posts', {
      params: { path: { id: author.id } },
    }))
      if (post.body === body) count += 1;
    return count;
  }

  it('retries after a lost answer and a 503 under one generated key, and the server posts once', async () => {
    const susan = await createUser(server);
    const body = uniqueName('retried');
    const { api, tries } = flaky(susan.token, ['lost answer', '503']);

    const { response, data } = await api.POST('/api/posts', { body: { body } });

    expect(response.status).toBe(201);
    expect(response.headers.get('Idempotent-Replayed')).toBe('true');
    expect(data?.body).toBe(body);
    expect(tries).toHaveLength(3);
    expect(tries[0]?.key).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(tries.map((t) => t.key)).size).toBe(1);
    expect(await postsBy(susan, body)).toBe(1);
  });

  it("keeps the caller's own key across its retries", async () => {
    const susan = await createUser(server);
    const { api, tries } = flaky(susan.token, ['refused']);

    const { response } = await api.POST('/api/posts', {
      body: { body: uniqueName('keyed') },
      headers: { 'Idempotency-Key': 'my-key-1' },
    });

    expect(response.status).toBe(201);
    expect(tries.map((t) => t.key)).toEqual(['my-key-1', 'my-key-1']);
  });

  it('gives up after the attempts allowed: the last 503 is the answer', async () => {
    const susan = await createUser(server);
    const { api, tries } = flaky(susan.token, ['503', '503', '503']);

    const { response } = await api.POST('/api/posts', { body: { body: uniqueName('never') } });

    expect(response.status).toBe(503);
    expect(tries).toHaveLength(3);
  });

  it('sends other requests once, with no key: a login, a PUT', async () => {
    const susan = await createUser(server);
    const david = await createUser(server);
    const { api, tries } = flaky(susan.token, ['refused', 'refused']);

    await expect(api.login(susan.username, susan.password)).rejects.toThrow(TypeError);
    await expect(
      api.PUT('/api/users/{id}/followed/{target_id}', {
        params: { path: { id: susan.id, target_id: david.id } },
      }),
    ).rejects.toThrow(TypeError);

    expect(tries).toEqual([
      { method: 'POST', path: '/api/tokens', key: null },
      { method: 'PUT', path: `/api/users/${susan.id}/followed/${david.id}`, key: null },
    ]);
  });

  it('with retry: false sends a POST once, as given', async () => {
    const susan = await createUser(server);
    const seen: (string | null)[] = [];
    const api = createMicroblogClient({
      baseUrl: server.baseUrl,
      token: susan.token,
      retry: false,
      fetch: (request) => {
        seen.push(request.headers.get('Idempotency-Key'));
        return fetch(request);
      },
    });

    expect((await api.POST('/api/posts', { body: { body: uniqueName('once') } })).response.status).toBe(201);
    expect(seen).toEqual([null]);
  });
});

describe('ETag helpers', () => {
  it('a conditional GET with the ETag gets a 304; a PUT with a stale one a 412', async () => {
    const susan = await createUser(server);
    const api = client({ token: susan.token });
    const post = await writePost(susan, uniqueName('versioned'));
    const read = await api.GET('/api/posts/{id}', { params: { path: { id: post.id } } });
    const etag = etagOf(read);
    expect(etag).toMatch(/^(W\/)?"/);

    const again = await api.GET('/api/posts/{id}', {
      params: { path: { id: post.id } },
      headers: ifNoneMatch(etag ?? ''),
    });
    expect(isNotModified(again)).toBe(true);
    expect(again.data).toBeUndefined();

    const edit = (body: string) =>
      api.PUT('/api/posts/{id}', {
        params: { path: { id: post.id } },
        body: { body },
        headers: ifMatch(etag ?? ''),
      });
    expect((await edit('edited')).response.status).toBe(200);
    const { error } = await unwrapError(edit('lost update'));
    expect(isMicroblogApiError(error, 412)).toBe(true);
    expect(error.body).toMatchObject({ error: 'Precondition Failed' });
  });
});

describe('notifications: serverSentEvents() and notificationEvents()', () => {
  const text =
    '\uFEFFretry: 3000\r\n\r\n: heartbeat\n\nid: 7\ndata: {"a":1}\n\nevent: ping\ndata: one\rdata:two\r\n\r\nid\ndata: {"b":2}\n\nid: 9\n\ndata: unfinished';
  const expected: ServerSentEvent[] = [
    { id: '7', event: 'message', data: '{"a":1}' },
    { id: '7', event: 'ping', data: 'one\ntwo' },
    { id: '', event: 'message', data: '{"b":2}' },
    // The last block, cut off before its blank line, is no event (as for EventSource).
  ];

  /** `text` as a stream of the given byte chunks. */
  function streamOf(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
    let at = 0;
    return new ReadableStream({
      pull(controller) {
        if (at >= bytes.length) return controller.close();
        controller.enqueue(bytes.slice(at, at + size));
        at += size;
      },
    });
  }

  async function collect<T>(events: AsyncIterable<T>): Promise<T[]> {
    const all: T[] = [];
    for await (const event of events) all.push(event);
    return all;
  }

  it('parses a stream as EventSource does: comments and retry skipped, data lines joined, the last id kept', async () => {
    expect(await collect(serverSentEvents(text))).toEqual(expected);
    expect(await collect(serverSentEvents(''))).toEqual([]);
    expect(await collect(serverSentEvents(null))).toEqual([]);
  });

  it('gives the same events whatever the chunks the stream arrives in (a CRLF, a UTF-8 character split)', async () => {
    const bytes = new TextEncoder().encode(`${text}\n\ndata: é✓\n\n`);
    for (const size of [1, 2, 3, 7, bytes.length]) {
      const events = await collect(serverSentEvents(streamOf(bytes, size)));
      expect(events).toEqual([...expected, { id: '9', event: 'message', data: 'unfinished' }, { id: '9', event: 'message', data: 'é✓' }]);
    }
  });

  it("reads GET /api/notifications/stream (timeout=1) as the notifications GET /api/notifications lists; after Last-Event-ID, none", async () => {
    const [susan, david] = await Promise.all([createUser(server), createUser(server)]);
    const sent = await server.api.POST('/api/users/{id}/messages', {
      params: { path: { id: susan.id } },
      body: { body: 'Lunch?' },
      headers: david.auth,
    });
    expect(sent.response.status).toBe(201);
    const api = client({ token: susan.token });

    const listed = unwrap(await api.GET('/api/notifications'));
    expect(listed.data).toEqual([
      { id: expect.any(Number), name: 'unread_message_count', data: 1, timestamp: expect.stringMatching(/\.\d{6}Z$/) },
    ]);
    const [unread] = listed.data as [UserNotification];
    const since = unwrap(await api.GET('/api/notifications', { params: { query: { since: unread.timestamp } } }));
    expect(since.data).toEqual([]);

    const stream = await api.GET('/api/notifications/stream', { params: { query: { timeout: 1 } }, parseAs: 'stream' });
    expect(stream.response.headers.get('Content-Type')).toMatch(/^text\/event-stream/);
    expect(await collect(notificationEvents(unwrap(stream)))).toEqual([unread]);
    const resumed = await api.GET('/api/notifications/stream', {
      params: { query: { timeout: 1 }, header: { 'Last-Event-ID': String(unread.id) } },
      parseAs: 'text',
    });
    expect(unwrap(resumed)).toMatch(/^retry: \d+\n\n/);
    expect(await collect(serverSentEvents(unwrap(resumed)))).toEqual([]);
  });
});

describe('MicroblogApiError and unwrap()', () => {
  it('unwrap() gives the data of a 2xx, and undefined for a 204', async () => {
    const [susan, david] = await Promise.all([createUser(server), createUser(server)]);
    const api = client({ token: susan.token });

    const seen = unwrap(await api.GET('/api/users/{id}', { params: { path: { id: david.id } } }));
    expect(seen).toMatchObject({
      id: david.id,
      username: david.username,
      _links: david.user._links,
    });
    expect(seen).not.toHaveProperty('email');
    expect(
      unwrap(
        await api.PUT('/api/users/{id}/followed/{target_id}', {
          params: { path: { id: susan.id, target_id: david.id } },
        }),
      ),
    ).toBeUndefined();
  });

  it('carries status, reason, message and the request id of a 404', async () => {
    const susan = await createUser(server);
    const requestId = `sdk-${uniqueName()}`;

    const { error, response } = await unwrapError(
      client({ token: susan.token }).GET('/api/users/{id}', {
        params: { path: { id: 2_000_000_001 } },
        headers: { 'X-Request-Id': requestId },
      }),
    );

    expect(response.status).toBe(404);
    expect(error).toMatchObject({
      status: 404,
      error: 'Not Found',
      message: 'user 2000000001 does not exist',
      errors: [],
      requestId,
    });
  });

  it('carries each validation failure of a 400', async () => {
    const { error } = await unwrapError(
      client().POST('/api/users', {
        body: { username: 'has spaces', email: 'not-an-email', password: 'correct horse' },
      }),
    );

    expect(error).toMatchObject({ status: 400, error: 'Bad Request' });
    expect(error.message).toEqual(expect.any(String));
    expect(error.errors.map((failure) => failure.path).sort()).toEqual([
      '/body/email',
      '/body/username',
    ]);
    for (const failure of error.errors) expect(failure.message).toEqual(expect.any(String));
  });

  it('carries the 401 of a call without a token', async () => {
    const { error } = await unwrapError(client().GET('/api/users'));

    expect(error).toMatchObject({
      status: 401,
      error: 'Unauthorized',
      message: 'credentials are required',
      errors: [],
      requestId: expect.any(String),
    });
  });

  it('makes sense of an answer that is not the API error object (an HTML page)', async () => {
    const res = await server.fetch('/nowhere', { headers: { Accept: 'text/html' } });

    const error = MicroblogApiError.from(res, await res.text());

    expect(error).toMatchObject({
      status: 404,
      error: 'Not Found',
      message: 'Not Found',
      errors: [],
      requestId: res.headers.get('X-Request-Id'),
    });
  });

  it('falls back to the status when a response has no reason phrase', () => {
    const error = MicroblogApiError.from(
      new Response('upstream down', { status: 502 }),
      'upstream down',
    );

    expect(error).toMatchObject({
      status: 502,
      error: 'HTTP 502',
      message: 'HTTP 502',
      requestId: undefined,
    });
  });
});
