import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { components } from '../../generated/openapi.js';
import { registerAndLogIn } from '../support/factories.js';
import { send, type Target } from '../support/http.js';
import { nginxConfig, operatorDirectives, startNginx, type Nginx } from '../support/nginx.js';
import { startServerProcess, type ServerProcess } from '../support/process.js';
import { openStream, type SseEvent, type SseStream } from '../support/event-stream.js';
import { until, within } from '../support/wait.js';

/**
 * The notification stream (GET /api/notifications/stream, Server-Sent Events) across two
 * instances on one PostgreSQL behind a real nginx configured as docs/operations.md says:
 * a change made on one instance reaches a stream held by the other (PostgreSQL
 * LISTEN/NOTIFY), a client that drops its connection resumes from `Last-Event-ID` on
 * another instance and misses nothing, a quiet stream lives through nginx on heartbeats,
 * and a stopping instance ends its streams at once.
 */

type Notification = components['schemas']['UserNotification'];
type Account = Awaited<ReturnType<typeof registerAndLogIn>>;

/** NOTIFICATIONS_HEARTBEAT_SECONDS of the instances. */
const HEARTBEAT_SECONDS = 1;
/** nginx's proxy_read_timeout on the stream: above the heartbeat, as operators set it (60 s against 15 s). */
const READ_TIMEOUT_SECONDS = 3;
/** NOTIFICATIONS_STREAM_MAX_SECONDS of the instances behind nginx. */
const STREAM_MAX_SECONDS = 8;
/** How long a change may take to reach a stream on another instance ("within a few seconds"). */
const DELIVERY_MS = 5_000;

const ENV = {
  NODE_ENV: 'production',
  LOG_LEVEL: 'info',
  TRUST_PROXY: 'loopback',
  RATE_LIMIT_REQUESTS: '0',
  RATE_LIMIT_MESSAGES: '0',
  NOTIFICATIONS_HEARTBEAT_SECONDS: String(HEARTBEAT_SECONDS),
  NOTIFICATIONS_STREAM_MAX_SECONDS: String(STREAM_MAX_SECONDS),
};

const notification = (event: SseEvent): Notification => JSON.parse(event.data) as Notification;
const is = (name: Notification['name'], data: number) => (event: SseEvent) => {
  const n = notification(event);
  return n.name === name && n.data === data;
};

async function message(on: Target, from: Account, to: Account, body: string): Promise<void> {
  const res = await send(on, 'POST', `/api/users/${to.id}/messages`, { as: from, json: { body } });
  expect(res.status, res.text).toBe(201);
}

async function follow(on: Target, follower: Account, followed: Account): Promise<void> {
  const res = await send(on, 'PUT', `/api/users/${follower.id}/followed/${followed.id}`, { as: follower });
  expect(res.status, res.text).toBe(204);
}

describe('notifications pushed across two instances behind nginx', () => {
  let a: ServerProcess;
  let b: ServerProcess;
  let nginx: Nginx;
  const servers: ServerProcess[] = [];
  const streams: SseStream[] = [];

  /** A stream for `who`, closed after the tests if still open. */
  async function stream(base: string, who: Account, { timeout, lastEventId }: { timeout?: number; lastEventId?: string } = {}) {
    const query = timeout === undefined ? '' : `?timeout=${timeout}`;
    const s = await openStream(`${base}/api/notifications/stream${query}`, {
      ...who.auth,
      ...(lastEventId === undefined ? {} : { 'Last-Event-ID': lastEventId }),
    });
    streams.push(s);
    expect(s.status, s.raw()).toBe(200);
    expect(s.headers['content-type']).toMatch(/^text\/event-stream\b/);
    expect(s.headers['cache-control']).toBe('no-store');
    // The body starts with the reconnection delay, sent at once (not held back by a buffer).
    await until(() => `retry line from ${base}; received: ${JSON.stringify(s.raw())}`, () => s.raw().length >= 'retry: 3000\n\n'.length, DELIVERY_MS);
    expect(s.raw().startsWith('retry: 3000\n\n'), JSON.stringify(s.raw())).toBe(true);
    expect(s.retry).toBe(3000);
    return s;
  }

  /** Which instance nginx gave a request to (its X-Upstream), and the other one. */
  function upstreamOf(s: SseStream): { chosen: ServerProcess; other: ServerProcess } {
    const chosen = String(s.headers['x-upstream']);
    expect([a, b].map((x) => `127.0.0.1:${x.port}`)).toContain(chosen);
    return chosen === `127.0.0.1:${a.port}` ? { chosen: a, other: b } : { chosen: b, other: a };
  }

  beforeAll(async () => {
    const databaseUrl = inject('databaseUrl');
    [a, b] = await Promise.all([startServerProcess({ ...ENV, DATABASE_URL: databaseUrl }), startServerProcess({ ...ENV, DATABASE_URL: databaseUrl })]);
    servers.push(a, b);
    nginx = await startNginx({ upstreams: [a.port, b.port], streamReadTimeoutSeconds: READ_TIMEOUT_SECONDS });
  });

  afterAll(async () => {
    await Promise.all(streams.map((s) => s.close()));
    await nginx?.stop();
    await Promise.all(servers.map((s) => s.kill()));
  });

  it('runs nginx as docs/operations.md configures it', async () => {
    const docs = await readFile(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    const block = /```nginx\n([\s\S]*?)```/.exec(docs)?.[1];
    expect(block, 'an nginx block in docs/operations.md').toBeDefined();
    // The same directives, the read timeout at the documented 60 s (the test's is scaled to its 1 s heartbeat).
    const tested = nginxConfig('/tmp/x', 8080, { upstreams: [1, 2], streamReadTimeoutSeconds: 60 });
    // The test's configuration closes its http block too.
    expect([...operatorDirectives(block ?? ''), '}']).toEqual(operatorDirectives(tested));
  });

  it('pushes a message sent on one instance to streams held on both, directly and through nginx, within seconds', async () => {
    const reader = await registerAndLogIn(a.baseUrl, 'sse');
    const writer = await registerAndLogIn(b.baseUrl, 'sse');
    const onA = await stream(a.baseUrl, reader, { timeout: 30 });
    const onB = await stream(b.baseUrl, reader, { timeout: 30 });
    const throughNginx = await stream(nginx.url, reader, { timeout: 30 });
    // The server tells nginx itself not to buffer the stream (nginx keeps X-Accel-* to itself).
    expect(onA.headers['x-accel-buffering']).toBe('no');
    expect(onB.headers['x-accel-buffering']).toBe('no');
    // A new user has nothing to catch up on.
    for (const s of [onA, onB, throughNginx]) expect(s.events).toEqual([]);

    // Sent on B: the stream on A learns it through PostgreSQL.
    await message(b.baseUrl, writer, reader, 'first');
    const first = await Promise.all([onA, onB, throughNginx].map((s) => s.event('unread_message_count 1', is('unread_message_count', 1), DELIVERY_MS)));
    // Sent on A: now the stream on B is the one across.
    await message(a.baseUrl, writer, reader, 'second');
    const second = await Promise.all([onA, onB, throughNginx].map((s) => s.event('unread_message_count 2', is('unread_message_count', 2), DELIVERY_MS)));

    // Whichever instance nginx chose, one of the two messages was sent on the other.
    upstreamOf(throughNginx);
    // Every instance sent the same events, in order, and nothing else.
    const shown = (s: SseStream) => s.events.map((e) => ({ id: e.id, data: notification(e) }));
    expect(shown(onB)).toEqual(shown(onA));
    expect(shown(throughNginx)).toEqual(shown(onA));
    expect(onA.events).toHaveLength(2);
    expect(new Set(first.map((e) => e.id)).size).toBe(1);
    expect(Number(second[0]?.id)).toBeGreaterThan(Number(first[0]?.id));
    const [one, two] = onA.events.map(notification);
    expect(one).toMatchObject({ id: Number(first[0]?.id), name: 'unread_message_count', data: 1 });
    expect(two).toMatchObject({ id: Number(second[0]?.id), name: 'unread_message_count', data: 2 });
    // The event's data is the notification GET /api/notifications lists.
    const listed = await send<components['schemas']['NotificationList']>(nginx.url, 'GET', '/api/notifications', { as: reader });
    expect(listed.status, listed.text).toBe(200);
    expect(listed.body.data).toEqual([two]);
  });

  it('resumes after a dropped connection from Last-Event-ID, on another instance, missing nothing and repeating nothing', async () => {
    const reader = await registerAndLogIn(nginx.url, 'sse');
    const writer = await registerAndLogIn(nginx.url, 'sse');
    const follower = await registerAndLogIn(nginx.url, 'sse');

    const before = await stream(a.baseUrl, reader, { timeout: 30 });
    await message(b.baseUrl, writer, reader, 'one');
    await before.event('unread_message_count 1', is('unread_message_count', 1), DELIVERY_MS);
    await message(b.baseUrl, writer, reader, 'two');
    const seen = await before.event('unread_message_count 2', is('unread_message_count', 2), DELIVERY_MS);
    const lastId = String(before.events.at(-1)?.id);
    expect(lastId).toBe(seen.id);
    expect((await before.close()).clean).toBe(false);

    // While disconnected: three more messages, on both instances, and a follow.
    await message(a.baseUrl, writer, reader, 'three');
    await message(b.baseUrl, writer, reader, 'four');
    await message(a.baseUrl, writer, reader, 'five');
    await follow(b.baseUrl, follower, reader);

    // Back, on the other instance, with the last id received.
    const after = await stream(b.baseUrl, reader, { timeout: 30, lastEventId: lastId });
    await after.event('unread_message_count 5', is('unread_message_count', 5), DELIVERY_MS);
    await after.event('new_follower 1', is('new_follower', 1), DELIVERY_MS);
    // Heartbeats after the catch-up: nothing more is coming.
    const heartbeats = after.comments.length;
    await after.comment(heartbeats + 2, DELIVERY_MS);
    const caughtUp = after.events.map(notification);
    expect(caughtUp.map((n) => [n.name, n.data])).toEqual([
      ['unread_message_count', 5],
      ['new_follower', 1],
    ]);
    for (const n of caughtUp) expect(n.id).toBeGreaterThan(Number(lastId));
    expect(after.events.map((e) => e.id)).toEqual(caughtUp.map((n) => String(n.id)));
    // What a poller resuming from the last timestamp seen gets: the same two.
    const since = notification(seen).timestamp;
    const polled = await send<components['schemas']['NotificationList']>(a.baseUrl, 'GET', `/api/notifications?since=${encodeURIComponent(since)}`, { as: reader });
    expect(polled.status, polled.text).toBe(200);
    expect(polled.body.data).toEqual(caughtUp);
    await after.close();

    // Dropped again and back through nginx: nothing to catch up on, then live again from
    // the instance nginx did not choose.
    const resumed = String(after.events.at(-1)?.id);
    const throughNginx = await stream(nginx.url, reader, { timeout: 30, lastEventId: resumed });
    await throughNginx.comment(2, DELIVERY_MS);
    expect(throughNginx.events).toEqual([]);
    const { other } = upstreamOf(throughNginx);
    await message(other.baseUrl, writer, reader, 'six');
    const live = await throughNginx.event('unread_message_count 6', is('unread_message_count', 6), DELIVERY_MS);
    expect(Number(live.id)).toBeGreaterThan(Number(resumed));
    expect(throughNginx.events).toHaveLength(1);
  });

  it('reaches the final counts, ids only growing, when messages and follows race on both instances, a client reconnecting midway included', async () => {
    const SENDERS = 8;
    const MESSAGES_EACH = 3;
    const FOLLOWERS = 5;
    const reader = await registerAndLogIn(nginx.url, 'sse');
    const senders = await Promise.all(Array.from({ length: SENDERS }, (_, i) => registerAndLogIn(i % 2 ? a.baseUrl : b.baseUrl, 'sse')));
    const followers = await Promise.all(Array.from({ length: FOLLOWERS }, (_, i) => registerAndLogIn(i % 2 ? b.baseUrl : a.baseUrl, 'sse')));
    const onA = await stream(a.baseUrl, reader, { timeout: 30 });
    const throughNginx = await stream(nginx.url, reader, { timeout: 30 });
    const dropping = await stream(b.baseUrl, reader, { timeout: 30 });

    const messages = senders.flatMap((sender, i) => Array.from({ length: MESSAGES_EACH }, (_, j) => ({ sender, on: (i + j) % 2 ? a : b, body: `race ${i}.${j}` })));
    const follows = followers.map((follower, i) => ({ follower, on: i % 2 ? a : b }));
    const wave = (half: 0 | 1) =>
      Promise.all([
        ...messages.filter((_, i) => i % 2 === half).map((m) => message(m.on.baseUrl, m.sender, reader, m.body)),
        ...follows.filter((_, i) => i % 2 === half).map((f) => follow(f.on.baseUrl, f.follower, reader)),
      ]);
    const first = wave(0);
    // Midway, one client loses its connection, and comes back through nginx while the second
    // half of the writes races its catch-up.
    await dropping.event('a first change', () => true, DELIVERY_MS);
    const lastId = String(dropping.events.at(-1)?.id);
    await dropping.close();
    await first;
    const second = wave(1);
    const back = await stream(nginx.url, reader, { timeout: 30, lastEventId: lastId });
    await second;

    const total = SENDERS * MESSAGES_EACH;
    for (const s of [onA, throughNginx, back]) {
      await s.event(`unread_message_count ${total}`, is('unread_message_count', total), DELIVERY_MS);
      await s.event(`new_follower ${FOLLOWERS}`, is('new_follower', FOLLOWERS), DELIVERY_MS);
      const ids = s.events.map((e) => Number(e.id));
      expect(ids, 'ids only grow').toEqual([...ids].sort((x, y) => x - y));
      expect(new Set(ids).size, 'no event twice').toBe(ids.length);
      // Each kind's count only grows: nothing was read, so an older state never follows a newer one.
      for (const name of ['unread_message_count', 'new_follower'] as const) {
        const counts = s.events.map(notification).filter((n) => n.name === name).map((n) => n.data);
        expect(counts, name).toEqual([...counts].sort((x, y) => x - y));
      }
    }
    for (const n of back.events.map(notification)) expect(n.id).toBeGreaterThan(Number(lastId));
    const listed = await send<components['schemas']['NotificationList']>(b.baseUrl, 'GET', '/api/notifications', { as: reader });
    expect(listed.status, listed.text).toBe(200);
    expect(listed.body.data.map((n) => [n.name, n.data]).sort()).toEqual([
      ['new_follower', FOLLOWERS],
      ['unread_message_count', total],
    ]);
    // The last event each stream got of each kind is the notification as it now stands.
    for (const s of [onA, throughNginx, back]) {
      const latest = new Map(s.events.map(notification).map((n) => [n.name, n]));
      expect([...latest.values()].sort((x, y) => x.id - y.id)).toEqual(listed.body.data);
    }
  }, 60_000);

  it('keeps a quiet stream open through nginx on heartbeats until the server ends it, at `timeout` or NOTIFICATIONS_STREAM_MAX_SECONDS', async () => {
    const quiet = await registerAndLogIn(nginx.url, 'sse');
    // No timeout asked for: the server's maximum, longer than nginx's proxy_read_timeout.
    const long = await stream(nginx.url, quiet);
    const short = await stream(nginx.url, quiet, { timeout: 2 });

    const shortEnd = await within('the 2 s stream ending', 2_000 + DELIVERY_MS, short.ended);
    expect(shortEnd.clean, JSON.stringify(shortEnd)).toBe(true);
    expect(shortEnd.at - short.openedAt).toBeGreaterThanOrEqual(1_500);
    expect(shortEnd.at - short.openedAt).toBeLessThan(2_000 + DELIVERY_MS);

    const longEnd = await within('the stream ending at the maximum', STREAM_MAX_SECONDS * 1000 + DELIVERY_MS, long.ended);
    expect(longEnd.clean, `${JSON.stringify(longEnd)}\n${await nginx.errorLog()}`).toBe(true);
    const lasted = longEnd.at - long.openedAt;
    expect(lasted).toBeGreaterThanOrEqual((STREAM_MAX_SECONDS - 1) * 1000);
    expect(lasted).toBeLessThan(STREAM_MAX_SECONDS * 1000 + DELIVERY_MS);
    expect(long.events).toEqual([]);
    // Heartbeats all along, each passed on as it came (not held back until the end).
    const beats = long.comments.filter((c) => c.text === 'heartbeat');
    expect(beats.length).toBe(long.comments.length);
    expect(beats.length).toBeGreaterThanOrEqual(STREAM_MAX_SECONDS / HEARTBEAT_SECONDS - 2);
    const arrivals = [long.openedAt, ...beats.map((c) => c.at), longEnd.at];
    const gaps = arrivals.slice(1).map((t, i) => t - (arrivals[i] ?? 0));
    expect(Math.max(...gaps), JSON.stringify(gaps)).toBeLessThan(READ_TIMEOUT_SECONDS * 1000);
    expect(long.raw()).toMatch(/^retry: 3000\n\n(: heartbeat\n\n)+$/);
    // nginx never gave up on the quiet upstream.
    expect(await nginx.errorLog()).not.toMatch(/timed out/);
  }, 30_000);

  it('ends its streams at once when the instance holding them is stopped (SIGTERM), not at the shutdown timeout', async () => {
    const SHUTDOWN_DELAY_MS = 300;
    const SHUTDOWN_TIMEOUT_MS = 30_000;
    const stopping = await startServerProcess({
      ...ENV,
      DATABASE_URL: inject('databaseUrl'),
      NOTIFICATIONS_STREAM_MAX_SECONDS: '120',
      SHUTDOWN_DELAY_MS: String(SHUTDOWN_DELAY_MS),
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    });
    servers.push(stopping);
    const reader = await registerAndLogIn(a.baseUrl, 'sse');
    const writer = await registerAndLogIn(a.baseUrl, 'sse');
    const held = [await stream(stopping.baseUrl, reader, { timeout: 120 }), await stream(stopping.baseUrl, reader)];
    await message(a.baseUrl, writer, reader, 'live');
    await Promise.all(held.map((s) => s.event('unread_message_count 1', is('unread_message_count', 1), DELIVERY_MS)));

    const signalled = Date.now();
    stopping.child.kill('SIGTERM');
    const ends = await within('the streams ending on SIGTERM', SHUTDOWN_DELAY_MS + DELIVERY_MS, Promise.all(held.map((s) => s.ended)));
    for (const end of ends) {
      expect(end.clean, JSON.stringify(end)).toBe(true);
      expect(end.at - signalled).toBeLessThan(SHUTDOWN_DELAY_MS + DELIVERY_MS);
    }
    // It exits 0: the streams were ended, not cut off at SHUTDOWN_TIMEOUT_MS.
    const exit = await within('the instance exiting', SHUTDOWN_TIMEOUT_MS / 2, stopping.exited);
    expect(exit, stopping.stderr()).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(SHUTDOWN_TIMEOUT_MS / 2);
  }, 60_000);
});
