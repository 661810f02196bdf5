import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { createNotificationHub } from '../src/services/notifications.js';
import { createUser, type TestUser } from './support/factories.js';
import { useServer } from './support/server.js';
import { expectError } from './support/assertions.js';
import { sender } from './support/http.js';
import { openStream, type SseEvent } from './support/event-stream.js';
import { until } from './support/wait.js';

// Streams outlive the HTTP request timeout, which bounds receiving a request, not answering it.
const server = useServer({ NOTIFICATIONS_HEARTBEAT_SECONDS: '1', HTTP_REQUEST_TIMEOUT_MS: '2000', HTTP_HEADERS_TIMEOUT_MS: '1000' });
const send = sender(server);

interface Notification {
  id: number;
  name: 'unread_message_count' | 'new_follower' | 'new_post_in_feed';
  data: number;
  timestamp: string;
}
interface NotificationList {
  data: Notification[];
  _links: { self: string; stream: string };
}

/** `value`, which the test has just seen to be there. */
function defined<T>(value: T | undefined | null): T {
  if (value === undefined || value === null) throw new Error('expected a value');
  return value;
}

const MICROS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

const notifications = async (user: TestUser, since?: string) => {
  const res = await send<NotificationList>('GET', `/api/notifications${since ? `?since=${encodeURIComponent(since)}` : ''}`, { as: user });
  expect(res.status, res.text).toBe(200);
  return res.body.data;
};
const byName = (list: Notification[]) => Object.fromEntries(list.map((n) => [n.name, n.data]));
const message = async (from: TestUser, to: TestUser, body = 'hi') => {
  const res = await send('POST', `/api/users/${to.id}/messages`, { as: from, json: { body } });
  expect(res.status, res.text).toBe(201);
};
const follow = async (who: TestUser, whom: TestUser) => {
  const res = await send('PUT', `/api/users/${who.id}/followed/${whom.id}`, { as: who });
  expect(res.status, res.text).toBe(204);
};
const post = async (author: TestUser, body = 'a post') => {
  const res = await send('POST', '/api/posts', { as: author, json: { body } });
  expect(res.status, res.text).toBe(201);
};
const stream = (user: TestUser, query = '', headers: Record<string, string> = {}) =>
  openStream(`${server.baseUrl}/api/notifications/stream${query}`, { Authorization: `Bearer ${user.token}`, ...headers });
const notificationsIn = (events: SseEvent[]) => events.map((e) => JSON.parse(e.data) as Notification);
const isNotification = (name: string, data: number) => (e: SseEvent) => JSON.parse(e.data).name === name && JSON.parse(e.data).data === data;
const next = (events: Awaited<ReturnType<typeof stream>>, name: string, data: number) => events.event(`${name} ${data}`, isNotification(name, data));

describe('GET /api/notifications', () => {
  it('counts unread messages, and reading them sets the count back to 0 in a later notification', async () => {
    const [alice, bob] = await Promise.all([createUser(server), createUser(server)]);
    expect(await notifications(bob)).toEqual([]);
    await message(alice, bob);
    await message(alice, bob);
    const first = await notifications(bob);
    expect(first).toEqual([{ id: expect.any(Number), name: 'unread_message_count', data: 2, timestamp: expect.stringMatching(MICROS) }]);
    // The timestamp of the last one seen as `since`: nothing new.
    expect(await notifications(bob, defined(first[0]).timestamp)).toEqual([]);
    expect(await notifications(alice)).toEqual([]);

    expect((await send('GET', '/api/messages', { as: bob })).status).toBe(200);
    const after = await notifications(bob, defined(first[0]).timestamp);
    expect(after).toEqual([{ id: expect.any(Number), name: 'unread_message_count', data: 0, timestamp: expect.stringMatching(MICROS) }]);
    expect(defined(after[0]).id).toBeGreaterThan(defined(first[0]).id);
    expect(defined(after[0]).timestamp > defined(first[0]).timestamp).toBe(true);
    // Reading an empty inbox again changes nothing.
    expect((await send('GET', '/api/messages', { as: bob })).status).toBe(200);
    expect(await notifications(bob, defined(after[0]).timestamp)).toEqual([]);
  });

  it('counts new followers until the user reads its own followers; others reading them change nothing', async () => {
    const [bob, carol, dave, eve] = await Promise.all([createUser(server), createUser(server), createUser(server), createUser(server)]);
    await follow(carol, bob);
    await follow(dave, bob);
    expect(byName(await notifications(bob))).toEqual({ new_follower: 2 });
    expect((await send('GET', `/api/users/${bob.id}/followers`, { as: eve })).status).toBe(200);
    expect(byName(await notifications(bob))).toEqual({ new_follower: 2 });
    expect((await send('GET', `/api/users/${bob.id}/followers`, { as: bob })).status).toBe(200);
    expect(byName(await notifications(bob))).toEqual({ new_follower: 0 });
    await follow(eve, bob);
    expect(byName(await notifications(bob))).toEqual({ new_follower: 1 });
  });

  it("counts posts that reach the user's feed until it reads the top of its feed", async () => {
    const [alice, bob] = await Promise.all([createUser(server), createUser(server)]);
    await follow(bob, alice);
    for (let i = 0; i < 3; i++) await post(alice, `post ${i}`);
    expect(byName(await notifications(bob))).toMatchObject({ new_post_in_feed: 3 });
    // Alice's own posts are in her feed but are not news to her.
    expect(byName(await notifications(alice))).toEqual({ new_follower: 1 });
    // A page further down is not the top.
    expect((await send('GET', `/api/users/${bob.id}/feed?page=2&per_page=1`, { as: bob })).status).toBe(200);
    expect(byName(await notifications(bob))).toMatchObject({ new_post_in_feed: 3 });
    const top = await send<{ _links: { newer: string } }>('GET', `/api/users/${bob.id}/feed?per_page=2`, { as: bob });
    expect(top.status).toBe(200);
    expect(byName(await notifications(bob))).toMatchObject({ new_post_in_feed: 0 });
    await post(alice, 'one more');
    expect(byName(await notifications(bob))).toMatchObject({ new_post_in_feed: 1 });
    // Pull-to-refresh is reading the top too.
    const refreshed = await send<{ _links: { newer: string } }>('GET', top.body._links.newer, { as: bob });
    expect(refreshed.status).toBe(200);
    expect(byName(await notifications(bob))).toMatchObject({ new_post_in_feed: 0 });
    // Three more, and a refresh of one page of 2: the newest is still above what was shown.
    for (let i = 0; i < 3; i++) await post(alice, `later ${i}`);
    expect(byName(await notifications(bob))).toMatchObject({ new_post_in_feed: 3 });
    const partial = await send<{ items: { body: string }[] }>('GET', refreshed.body._links.newer.replace(/per_page=\d+/, 'per_page=2'), { as: bob });
    expect(partial.body.items.map((p) => p.body)).toEqual(['later 1', 'later 0']);
    expect(byName(await notifications(bob))).toMatchObject({ new_post_in_feed: 1 });
  });

  it('misses and repeats nothing when each poll passes the last timestamp it got, while changes race in', async () => {
    const bob = await createUser(server);
    const others = await Promise.all(Array.from({ length: 6 }, () => createUser(server)));
    const seen: Notification[] = [];
    let since: string | undefined;
    let writing = true;
    const writes = (async () => {
      await Promise.all(others.map(async (other, i) => {
        await message(other, bob, `m${i}`);
        await follow(other, bob);
        await message(other, bob, `n${i}`);
      }));
      writing = false;
    })();
    while (writing) {
      const got = await notifications(bob, since);
      seen.push(...got);
      if (got.length) since = defined(got[got.length - 1]).timestamp;
    }
    await writes;
    seen.push(...(await notifications(bob, since)));
    // Ids and times only grow, and the last of each kind is the final count.
    for (let i = 1; i < seen.length; i++) {
      expect(defined(seen[i]).id).toBeGreaterThan(defined(seen[i - 1]).id);
      expect(defined(seen[i]).timestamp > defined(seen[i - 1]).timestamp).toBe(true);
    }
    const last = Object.fromEntries(seen.map((n) => [n.name, n.data]));
    expect(last).toEqual({ unread_message_count: 12, new_follower: 6 });
    expect(byName(await notifications(bob))).toEqual(last);
  });

  it('takes a `since` with an offset and any number of fractional digits, and refuses one that is no time', async () => {
    const [alice, bob] = await Promise.all([createUser(server), createUser(server)]);
    await message(alice, bob);
    const [n] = await notifications(bob);
    const at = defined(n).timestamp; // 2026-12-02T13:45:07.123456Z
    // One microsecond earlier: the notification is after it.
    const micros = Number(at.slice(20, 26));
    if (micros > 0) expect(await notifications(bob, `${at.slice(0, 20)}${String(micros - 1).padStart(6, '0')}Z`)).toEqual([n]);
    expect(await notifications(bob, at.replace('Z', '+00:00'))).toEqual([]);
    expect(await notifications(bob, at.slice(0, 19) + 'Z')).toEqual([n]);
    expect(await notifications(bob, '1970-01-01T00:00:00Z')).toEqual([n]);
    expect(await notifications(bob, '0000-01-01T00:00:00Z')).toEqual([n]);
    expect(await notifications(bob, '9999-12-31T23:59:59.999999999Z')).toEqual([]);
    for (const bad of ['yesterday', '2026-13-01T00:00:00Z', '']) {
      const res = await send('GET', `/api/notifications?since=${encodeURIComponent(bad)}`, { as: bob });
      expectError(res, 400);
    }
  });

  it('answers 401 without a token, and 304 to a poll with the ETag of an unchanged list', async () => {
    expectError(await send('GET', '/api/notifications'), 401);
    const bob = await createUser(server);
    const first = await send('GET', '/api/notifications', { as: bob });
    const etag = first.headers.get('etag');
    expect(etag).toBeTruthy();
    const again = await send('GET', '/api/notifications', { as: bob, headers: { 'If-None-Match': defined(etag) } });
    expect(again.status).toBe(304);
  });
});

describe('GET /api/notifications/stream', () => {
  it("sends the user's notifications, then each change as it is made, with heartbeats, and ends at `timeout`", async () => {
    const [alice, bob] = await Promise.all([createUser(server), createUser(server)]);
    await message(alice, bob);
    const events = await stream(bob, '?timeout=4');
    expect(events.status).toBe(200);
    expect(events.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(events.headers['cache-control']).toBe('no-store');
    expect(events.headers['x-accel-buffering']).toBe('no');
    await next(events, 'unread_message_count', 1);
    expect(events.retry).toBe(3000);

    await message(alice, bob);
    await next(events, 'unread_message_count', 2);
    await follow(alice, bob);
    await next(events, 'new_follower', 1);
    await events.comment(1, 3000);
    expect(events.comments[0]?.text).toBe('heartbeat');
    expect(await events.ended).toMatchObject({ clean: true });
    // It lasted its 4 seconds, twice HTTP_REQUEST_TIMEOUT_MS.
    expect(Date.now() - events.openedAt).toBeGreaterThan(3500);
    const got = notificationsIn(events.events);
    expect(got.map((n) => [n.name, n.data])).toEqual([
      ['unread_message_count', 1],
      ['unread_message_count', 2],
      ['new_follower', 1],
    ]);
    // Each event's id is its notification's.
    expect(events.events.map((e) => Number(e.id))).toEqual(got.map((n) => n.id));
    expect(await notifications(bob)).toEqual([got[1], got[2]]);
  });

  it('resumes after a dropped connection from Last-Event-ID, missing nothing and repeating nothing', async () => {
    const [alice, bob, carol] = await Promise.all([createUser(server), createUser(server), createUser(server)]);
    await message(alice, bob);
    const first = await stream(bob);
    const seen = await next(first, 'unread_message_count', 1);
    await first.close();

    // While the phone is away.
    await message(alice, bob);
    await message(carol, bob);
    await follow(carol, bob);

    const second = await stream(bob, '', { 'Last-Event-ID': defined(seen.id) });
    await next(second, 'new_follower', 1);
    await second.close();
    const resent = notificationsIn(second.events);
    expect(resent.map((n) => [n.name, n.data])).toEqual([
      ['unread_message_count', 3],
      ['new_follower', 1],
    ]);
    expect(resent.every((n) => n.id > Number(seen.id))).toBe(true);

    // Resuming from the last id: nothing more until something changes.
    const third = await stream(bob, '?timeout=1', { 'Last-Event-ID': String(defined(resent[1]).id) });
    await third.ended;
    expect(notificationsIn(third.events)).toEqual([]);
  });

  it('sends a user only its own notifications', async () => {
    const [alice, bob, carol] = await Promise.all([createUser(server), createUser(server), createUser(server)]);
    const bobs = await stream(bob, '?timeout=2');
    await message(alice, carol);
    await message(alice, bob);
    await next(bobs, 'unread_message_count', 1);
    await bobs.ended;
    expect(notificationsIn(bobs.events)).toHaveLength(1);
  });

  it('refuses a client that accepts no event stream, a bad Last-Event-ID or timeout, and no token, with JSON errors', async () => {
    const bob = await createUser(server);
    const json = await send('GET', '/api/notifications/stream', { as: bob, headers: { Accept: 'application/json' } });
    expectError(json, 406);
    expect(json.body).toMatchObject({ message: 'this resource is only available as text/event-stream' });
    for (const [query, headers] of [
      ['', { 'Last-Event-ID': 'abc' }],
      ['?timeout=0', {}],
      ['?timeout=soon', {}],
    ] as const) {
      const res = await send('GET', `/api/notifications/stream${query}`, { as: bob, headers: { Accept: 'text/event-stream', ...headers } });
      expectError(res, 400);
    }
    expectError(await send('GET', '/api/notifications/stream', { headers: { Accept: 'text/event-stream' } }), 401);
  });
});

describe('the notification hub (src/services/notifications.ts)', () => {
  it('connects again when its LISTEN connection is cut, and has its streams read again, so nothing sent meanwhile is lost', async () => {
    const url = new URL(inject('databaseUrl'));
    const name = `hub_${randomBytes(4).toString('hex')}`;
    url.searchParams.set('application_name', name);
    const hub = createNotificationHub({ url: url.toString(), logger: createLogger('silent') });
    const [alice, bob] = await Promise.all([createUser(server), createUser(server)]);
    let calls = 0;
    const subscription = await hub.subscribe(bob.id, () => calls++);
    try {
      const before = calls;
      await message(alice, bob);
      await until('the change reported', () => calls > before, 5000);

      const admin = new pg.Client({ connectionString: inject('databaseUrl') });
      await admin.connect();
      try {
        const { rows } = await admin.query<{ ended: boolean }>('SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE application_name = $1', [name]);
        expect(rows).toEqual([{ ended: true }]);
        const cut = calls;
        // Sent while no one listens: only the read after reconnecting can find it.
        await message(alice, bob);
        await until('the streams told to read again after the reconnection', () => calls > cut, 10_000);
        await until('listening again', async () => {
          const { rows: again } = await admin.query('SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [name]);
          return again.length === 1;
        }, 10_000);
        const back = calls;
        await message(alice, bob);
        await until('changes reported again', () => calls > back, 5000);
      } finally {
        await admin.end();
      }
    } finally {
      subscription.close();
      await hub.close();
    }
  });
});
