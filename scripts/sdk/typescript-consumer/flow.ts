// The flow a web app walks, written as a strict TypeScript consumer of the packed SDK
// (`npm run sdk:typescript` compiles it with tsc --strict, then runs it). flow.mjs walks
// the same steps from plain JavaScript.
import {
  createMicroblogClient,
  etagOf,
  ifMatch,
  ifNoneMatch,
  isMicroblogApiError,
  isNotModified,
  notificationEvents,
  unwrap,
  type Export,
  type ExportFile,
  type MicroblogApiError,
  type UserNotification,
  type Post,
  type User,
} from '@microblog/sdk';

const PASSWORD = 'correct horse battery staple';

function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`expected ${what}`);
}

/** What a promise rejects with, as a MicroblogApiError of the given status. */
async function apiError(promise: Promise<unknown>, status: number): Promise<MicroblogApiError> {
  try {
    await promise;
  } catch (error) {
    if (isMicroblogApiError(error, status)) return error;
    throw error;
  }
  throw new Error(`expected a MicroblogApiError ${status}, got a success`);
}

/** Where the flow reads the mails the server sent (run.mjs: the server's log, as no SMTP server is set). */
export interface Inbox {
  resetToken(email: string): Promise<string>;
}

export async function flow(
  baseUrl: string,
  step: (name: string) => void,
  inbox: Inbox,
): Promise<void> {
  const tag = Math.random().toString(36).slice(2, 10);
  const anonymous = createMicroblogClient({ baseUrl });
  const register = async (name: string): Promise<User> =>
    unwrap(
      await anonymous.POST('/api/users', {
        body: {
          username: `${name}_${tag}`,
          email: `${name}_${tag}@example.com`,
          password: PASSWORD,
        },
      }),
    );
  const ann = await register('ann');
  const bob = await register('bob');
  step('register: 201 twice, users typed');

  const api = createMicroblogClient({ baseUrl });
  const token = await api.login(ann.username, PASSWORD);
  check(api.token === token.token && token.user_id === ann.id, 'login to keep the token for ann');
  step('log in with Basic: the bearer token goes with every later call');

  // A second device: its own session, refreshed, listed beside this one, then ended from here.
  const phone = createMicroblogClient({ baseUrl });
  const first = await phone.login(ann.username, PASSWORD, { device: 'Flow phone' });
  const next = await phone.refresh();
  check(
    next.session_id === first.session_id &&
      next.token !== first.token &&
      phone.token === next.token &&
      phone.refreshToken === next.refresh_token,
    'refresh to give the session new tokens, kept by the client',
  );
  const sessions = unwrap(await api.GET('/api/tokens'));
  const listed = sessions.items.find((session) => session.id === first.session_id);
  check(
    listed !== undefined &&
      listed.device === 'Flow phone' &&
      !listed.current &&
      sessions.items.some((session) => session.id === token.session_id && session.current),
    'both sessions listed, this one current',
  );
  // A listed session's self link, followed: the same session, not the current one from here.
  const one = unwrap(
    await api.GET('/api/tokens/{session_id}', { params: { path: { session_id: first.session_id } } }),
  );
  check(
    one.id === first.session_id && one.device === 'Flow phone' && !one.current && one._links.self === listed?._links.self,
    'get the other session by id, as listed',
  );
  const ended = await api.DELETE('/api/tokens/{session_id}', {
    params: { path: { session_id: first.session_id } },
  });
  check(ended.response.status === 204, `end the other session: 204, got ${ended.response.status}`);
  const endedGet = await api.GET('/api/tokens/{session_id}', { params: { path: { session_id: first.session_id } } });
  check(endedGet.response.status === 404, `an ended session: 404, got ${endedGet.response.status}`);
  await apiError(phone.refresh(), 401);
  step(
    'sessions: a second device logs in, refreshes, is listed and read, and is logged out from here (its refresh: a typed 401, its GET a 404)',
  );

  let pages = 0;
  let total = 0;
  const ids: number[] = [];
  for await (const page of api.pages('/api/users', { params: { query: { per_page: 1 } } })) {
    pages += 1;
    total = page._meta.total_items;
    ids.push(...page.items.map((user) => user.id));
  }
  check(pages === total && ids.length === total, `${total} pages of 1 user, got ${pages}`);
  check(ids.includes(ann.id) && ids.includes(bob.id), 'both new users listed');
  let items = 0;
  for await (const user of api.paginate('/api/users', { params: { query: { per_page: 2 } } })) {
    check(typeof user.username === 'string', 'users');
    items += 1;
  }
  check(items === total, `paginate to yield ${total} users, got ${items}`);
  step(`page users to the end by _links.next: ${pages} pages`);

  const once = createMicroblogClient({ baseUrl, token: token.token, retry: false });
  const plain = await once.POST('/api/posts', { body: { body: 'without a key' } });
  check(
    plain.response.status === 201 && !plain.response.headers.has('Idempotent-Replayed'),
    'a 201',
  );
  const key = `flow-${tag}`;
  const keyed = unwrap(
    await api.POST('/api/posts', {
      body: { body: 'with a key' },
      headers: { 'Idempotency-Key': key },
    }),
  );
  const again = await api.POST('/api/posts', {
    body: { body: 'with a key' },
    headers: { 'Idempotency-Key': key },
  });
  check(unwrap(again).id === keyed.id, 'the retry to get the first post back');
  check(again.response.headers.get('Idempotent-Replayed') === 'true', 'Idempotent-Replayed: true');
  step('post without and with an Idempotency-Key; the retry with the key gets the same post');

  // The network drops the answer to the first try (the server did act), then a proxy answers 503.
  const keys: (string | null)[] = [];
  const flaky = createMicroblogClient({
    baseUrl,
    token: token.token,
    retry: { attempts: 3, baseDelayMs: 1 },
    fetch: async (request) => {
      keys.push(request.headers.get('Idempotency-Key'));
      if (keys.length === 1) {
        await fetch(request);
        throw new TypeError('fetch failed');
      }
      if (keys.length === 2) return new Response('busy', { status: 503 });
      return fetch(request);
    },
  });
  const retried = await flaky.POST('/api/posts', { body: { body: `retried ${tag}` } });
  check(retried.response.status === 201, `201 after retries, got ${retried.response.status}`);
  check(
    keys.length === 3 && keys[0] !== null && keys.every((k) => k === keys[0]),
    'one generated key on 3 tries',
  );
  check(
    retried.response.headers.get('Idempotent-Replayed') === 'true',
    "the first try's post answered",
  );
  let copies = 0;
  for await (const post of api.paginate('/api/users/{id}/posts', {
    params: { path: { id: ann.id } },
  }))
    if (post.body === `retried ${tag}`) copies += 1;
  check(copies === 1, `one post after a lost answer and a 503, got ${copies}`);
  step('the SDK retries a POST after a network error and a 503 under one generated key: 1 post');

  const follow = await api.PUT('/api/users/{id}/followed/{target_id}', {
    params: { path: { id: ann.id, target_id: bob.id } },
  });
  check(follow.response.status === 204, `follow: 204, got ${follow.response.status}`);
  step('follow: 204');
  const follows = await api.GET('/api/users/{id}/followed/{target_id}', {
    params: { path: { id: ann.id, target_id: bob.id } },
  });
  const followed = await api.GET('/api/users/{id}/followed/{target_id}', {
    params: { path: { id: bob.id, target_id: ann.id } },
  });
  check(
    follows.response.status === 204 && followed.response.status === 404,
    'follow checks: 204, 404',
  );
  step('check the follow: 204, and the other way 404');

  // Private messages: bob writes to ann; her unread count, her received messages (reading
  // them marks them read), bob's sent ones, and the message itself.
  const bobSends = createMicroblogClient({ baseUrl });
  await bobSends.login(bob.username, PASSWORD);
  const sentToAnn = await bobSends.POST('/api/users/{id}/messages', {
    params: { path: { id: ann.id } },
    body: { body: `hello ann ${tag}` },
  });
  const message = unwrap(sentToAnn);
  check(
    sentToAnn.response.status === 201 &&
      sentToAnn.response.headers.get('Location') === message._links.self,
    'a message sent: 201 and its Location',
  );
  const annBefore = unwrap(await api.GET('/api/users/{id}', { params: { path: { id: ann.id } } }));
  check(annBefore.unread_message_count === 1, `1 unread, got ${annBefore.unread_message_count}`);
  const received = unwrap(await api.GET('/api/messages', { params: { query: { per_page: 5 } } }));
  check(received.items[0]?.id === message.id, "the message first in ann's received messages");
  const annAfter = unwrap(await api.GET('/api/users/{id}', { params: { path: { id: ann.id } } }));
  check(annAfter.unread_message_count === 0, `0 unread once read, got ${annAfter.unread_message_count}`);
  const sentByBob = unwrap(await bobSends.GET('/api/messages/sent'));
  check(sentByBob.items[0]?.id === message.id, "the message first in bob's sent messages");
  const readBack = unwrap(
    await api.GET('/api/messages/{id}', { params: { path: { id: message.id } } }),
  );
  check(readBack.body === `hello ann ${tag}` && readBack.sender === bob.id, 'the message by id');
  step('private message: 201, 1 unread, read in the received list (then 0 unread), in the sent list, by id');

  // Notifications: bob writes again, so ann's unread_message_count is 1; bob has a
  // new_follower (ann follows him). Polled with `since` (the newest timestamp) nothing is
  // new; the stream (timeout=1, read until the server ends it) sends each as an event, and
  // resumed after the last id (Last-Event-ID) none; reading the messages is a new change.
  unwrap(
    await bobSends.POST('/api/users/{id}/messages', {
      params: { path: { id: ann.id } },
      body: { body: `again ${tag}` },
    }),
  );
  const listedNotes = await api.GET('/api/notifications');
  const notes = unwrap(listedNotes);
  const unread = notes.data.find((n: UserNotification) => n.name === 'unread_message_count');
  check(unread?.data === 1, `ann's unread_message_count notification: 1, got ${unread?.data}`);
  check(notes._links.stream === '/api/notifications/stream', 'a link to the stream');
  const bobsNotes = unwrap(await bobSends.GET('/api/notifications'));
  const follower = bobsNotes.data.find((n: UserNotification) => n.name === 'new_follower');
  check(follower !== undefined && follower.data >= 1, `bob's new_follower notification, got ${follower?.data}`);
  const newest = notes.data[notes.data.length - 1] as UserNotification; // oldest first
  const nothingNew = unwrap(
    await api.GET('/api/notifications', { params: { query: { since: newest.timestamp } } }),
  );
  check(nothingNew.data.length === 0, `nothing since the newest, got ${nothingNew.data.length}`);
  const unchangedNotes = await api.GET('/api/notifications', { headers: ifNoneMatch(etagOf(listedNotes) ?? '') });
  check(isNotModified(unchangedNotes), `the list unchanged: 304, got ${unchangedNotes.response.status}`);
  const stream = await api.GET('/api/notifications/stream', {
    params: { query: { timeout: 1 } },
    parseAs: 'stream',
  });
  check(
    stream.response.headers.get('Content-Type')?.startsWith('text/event-stream') === true,
    `a text/event-stream, got ${stream.response.headers.get('Content-Type')}`,
  );
  const pushed: UserNotification[] = [];
  for await (const n of notificationEvents(unwrap(stream))) pushed.push(n);
  check(
    pushed.map((n) => n.id).join() === notes.data.map((n: UserNotification) => n.id).join() &&
      pushed.some((n) => n.id === unread.id && n.data === 1),
    `the stream's events: the listed notifications, got ${JSON.stringify(pushed)}`,
  );
  const resumed = await api.GET('/api/notifications/stream', {
    params: { query: { timeout: 1 }, header: { 'Last-Event-ID': String(newest.id) } },
    parseAs: 'text',
  });
  const after: UserNotification[] = [];
  for await (const n of notificationEvents(unwrap(resumed))) after.push(n);
  check(
    after.length === 0 && unwrap(resumed).startsWith('retry: '),
    `resumed after the last id: a retry line and no event, got ${JSON.stringify(unwrap(resumed))}`,
  );
  unwrap(await api.GET('/api/messages'));
  const afterReading = unwrap(
    await api.GET('/api/notifications', { params: { query: { since: newest.timestamp } } }),
  );
  check(
    afterReading.data.length === 1 && afterReading.data[0]?.name === 'unread_message_count' && afterReading.data[0].data === 0,
    `once the messages are read, since the newest: unread_message_count 0, got ${JSON.stringify(afterReading.data)}`,
  );
  step(
    `notifications: listed (${notes.data.length}), nothing since the newest, 304; the stream sent them (${pushed.length} event(s)), none after Last-Event-ID; reading resets the count`,
  );

  // Blocking: ann blocks bob, who then cannot message her (a typed 403); her list of
  // blocked users; unblocking.
  const blockPath = { params: { path: { id: ann.id, target_id: bob.id } } };
  const blocking = await api.PUT('/api/users/{id}/blocked/{target_id}', blockPath);
  check(blocking.response.status === 204, `block: 204, got ${blocking.response.status}`);
  const blocks = await api.GET('/api/users/{id}/blocked/{target_id}', blockPath);
  check(blocks.response.status === 204, `ann blocks bob: 204, got ${blocks.response.status}`);
  const refusedMessage = await apiError(
    bobSends
      .POST('/api/users/{id}/messages', { params: { path: { id: ann.id } }, body: { body: 'hi?' } })
      .then(unwrap),
    403,
  );
  check(refusedMessage.status === 403, 'a blocked sender refused');
  const blockedUsers = unwrap(
    await api.GET('/api/users/{id}/blocked', { params: { path: { id: ann.id } } }),
  );
  check(
    blockedUsers.items.map((u) => u.id).join() === String(bob.id),
    "bob in ann's blocked users",
  );
  const unblocking = await api.DELETE('/api/users/{id}/blocked/{target_id}', blockPath);
  check(unblocking.response.status === 204, `unblock: 204, got ${unblocking.response.status}`);
  step('block: 204, checked (204), the blocked user cannot message (403), listed; unblock: 204');

  // Pull to refresh: ann's feed read, then bob (followed) and ann post; newer() follows
  // `_links.newer` until a page comes back empty: exactly those posts, newest first.
  const top = unwrap(
    await api.GET('/api/users/{id}/feed', {
      params: { path: { id: ann.id }, query: { page: 1, per_page: 2 } },
    }),
  );
  check(top.items.length === 2, `a first feed page of 2, got ${top.items.length}`);
  const bobPosts = createMicroblogClient({ baseUrl });
  await bobPosts.login(bob.username, PASSWORD);
  const arrived: number[] = []; // newest first
  for (const [author, body] of [
    [bobPosts, `newer 1 ${tag}`],
    [api, `newer 2 ${tag}`],
    [bobPosts, `newer 3 ${tag}`],
  ] as const)
    arrived.unshift(unwrap(await author.POST('/api/posts', { body: { body } })).id);
  const pulled: number[] = [];
  let pulls = 0;
  for await (const page of api.newer(top)) {
    pulls += 1;
    check(page.items.length <= 2, `at most per_page posts, got ${page.items.length}`);
    pulled.unshift(...page.items.map((item: Post) => item.id)); // each page lies above the last
  }
  check(pulls === 2, `2 pages of newer posts (2, then 1), got ${pulls}`);
  check(
    pulled.join() === arrived.join(),
    `the new posts, newest first: ${arrived.join()}, got ${pulled.join()}`,
  );
  step(
    `pull to refresh: newer() follows _links.newer until a page is empty: ${pulls} pages, the 3 new posts, newest first`,
  );

  // Search: posts by words (ranked by relevance, then newest first), users by username prefix.
  const found = unwrap(await api.GET('/api/posts', { params: { query: { q: `newer ${tag}`, per_page: 3 } } }));
  check(
    found.items.map((item: Post) => item.id).join() === arrived.join(),
    `search: the 3 posts with both words first, newest first: ${arrived.join()}, got ${found.items.map((item: Post) => item.id).join()}`,
  );
  check(found._links.newer === null, 'search results have no newer link');
  let fromSearch = 0;
  for await (const page of api.newer(found)) fromSearch += 1 + page.items.length;
  check(fromSearch === 0, `newer() of search results yields nothing, got ${fromSearch}`);
  const users = unwrap(await api.GET('/api/users', { params: { query: { q: `ANN_${tag}` } } }));
  check(users.items[0]?.id === ann.id, `user search: the username first, got ${users.items[0]?.id}`);
  step('search: posts by words, users by username; no newer link on a ranking');

  const read = await api.GET('/api/posts/{id}', { params: { path: { id: keyed.id } } });
  const etag = etagOf(read);
  check(etag !== undefined, 'an ETag');
  const unchanged = await api.GET('/api/posts/{id}', {
    params: { path: { id: keyed.id } },
    headers: ifNoneMatch(etag),
  });
  check(isNotModified(unchanged) && unchanged.data === undefined, 'a 304 with no data');
  step('conditional GET: 304');

  const edited = await api.PUT('/api/posts/{id}', {
    params: { path: { id: keyed.id } },
    body: { body: 'edited' },
    headers: ifMatch(etag),
  });
  const post: Post = unwrap(edited);
  check(post.body === 'edited', 'the edit');
  const stale = await apiError(
    api
      .PUT('/api/posts/{id}', {
        params: { path: { id: keyed.id } },
        body: { body: 'lost update' },
        headers: ifMatch(etag),
      })
      .then(unwrap),
    412,
  );
  check(stale.error === 'Precondition Failed', `412's reason, got ${stale.error}`);
  step('update with If-Match: 200; with the stale ETag a typed 412');

  const removed = await api.DELETE('/api/posts/{id}', {
    params: { path: { id: keyed.id } },
    headers: ifMatch(etagOf(edited) ?? '*'),
  });
  check(removed.response.status === 204, `delete: 204, got ${removed.response.status}`);
  const gone = await apiError(
    api.GET('/api/posts/{id}', { params: { path: { id: keyed.id } } }).then(unwrap),
    404,
  );
  check(gone.status === 404, 'gone');
  step('delete: 204, then 404');

  const asked = await api.POST('/api/users/{id}/exports', { params: { path: { id: ann.id } } });
  const requested: Export = unwrap(asked);
  check(
    asked.response.status === 202 &&
      asked.response.headers.get('Location') === requested._links.self,
    'an export queued: 202 and its Location',
  );
  let progress: Export = requested;
  // Polled as a client would, a moment apart, for at most 10 seconds.
  for (let tries = 0; progress.status !== 'done' && tries < 200; tries++) {
    if (progress.status === 'failed') throw new Error('the export failed');
    await new Promise((resolve) => setTimeout(resolve, 50));
    progress = unwrap(
      await api.GET('/api/exports/{id}', { params: { path: { id: requested.id } } }),
    );
  }
  check(progress.status === 'done' && progress._links.file !== undefined, 'the export done');
  const file: ExportFile = unwrap(
    await api.GET('/api/exports/{id}/file', { params: { path: { id: requested.id } } }),
  );
  check(
    file.length === progress.post_count &&
      file.every((p) => p.author === ann.id) &&
      file.some((p) => p.body === `retried ${tag}`),
    `the file to hold ann's ${progress.post_count} posts`,
  );
  step(`export ann's posts: 202, polled to done, the file holds ${file.length} posts`);

  await api.logout();
  check(api.token === undefined, 'no token after logout');
  // `once` still holds the revoked token.
  const revoked = await apiError(
    once.GET('/api/users/{id}/feed', { params: { path: { id: ann.id } } }).then(unwrap),
    401,
  );
  check(revoked.status === 401 && typeof revoked.message === 'string', 'a 401 with a message');
  check(
    typeof revoked.body === 'object' && revoked.body !== null && 'error' in revoked.body,
    'the error body',
  );
  step(
    `log out; the next call is a typed 401: ${revoked.status} ${revoked.error}: ${revoked.message}`,
  );

  // A forgotten password: a reset token by mail, then a new password with it, which logs
  // bob out everywhere.
  const bobs = createMicroblogClient({ baseUrl });
  await bobs.login(bob.username, PASSWORD);
  const resetAsked = await anonymous.POST('/api/tokens/reset', { body: { email: bob.email ?? '' } });
  check(resetAsked.response.status === 202, `reset mail asked: 202, got ${resetAsked.response.status}`);
  const resetToken = await inbox.resetToken(bob.email ?? '');
  const newPassword = `a new password ${tag}`;
  const resetDone = await anonymous.PUT('/api/tokens/reset', {
    body: { token: resetToken, password: newPassword },
  });
  check(resetDone.response.status === 204, `reset: 204, got ${resetDone.response.status}`);
  const reused = await anonymous.PUT('/api/tokens/reset', {
    body: { token: resetToken, password: newPassword },
  });
  check(reused.response.status === 400, `the used token: 400, got ${reused.response.status}`);
  const loggedOut = await apiError(
    bobs.GET('/api/users/{id}', { params: { path: { id: bob.id } } }).then(unwrap),
    401,
  );
  check(loggedOut.status === 401, "bob's old token refused");
  await apiError(bobs.login(bob.username, PASSWORD), 401);
  await bobs.login(bob.username, newPassword);
  step('password reset: 202, the token from the mail sets a new password (204), old sessions end');
}
