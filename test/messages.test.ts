import { beforeAll, describe, expect, it } from 'vitest';
import { createUser, type TestUser } from './support/factories.js';
import { useServer } from './support/server.js';
import { expectError, expectPlainError } from './support/assertions.js';
import { ISO_UTC_MILLIS, MISSING_ID } from './support/constants.js';
import { sender } from './support/http.js';

const server = useServer();
const send = sender(server);

interface Message {
  id: number;
  body: string;
  timestamp: string;
  sender: number;
  recipient: number;
  _links: { self: string; sender: string; recipient: string };
}
interface Collection {
  items: Message[];
  _meta: { page: number; per_page: number; total_pages: number; total_items: number };
  _links: { self: string; next: string | null; prev: string | null; newer: string };
}

const message = (from: TestUser, to: number, body: string, headers: Record<string, string> = {}) =>
  send<Message>('POST', `/api/users/${to}/messages`, { as: from, json: { body }, headers });
const received = (user: TestUser, query = '') => send<Collection>('GET', `/api/messages${query}`, { as: user });
const sent = (user: TestUser, query = '') => send<Collection>('GET', `/api/messages/sent${query}`, { as: user });
const unreadOf = async (user: TestUser) => {
  const res = await send<{ unread_message_count?: number }>('GET', `/api/users/${user.id}`, { as: user });
  expect(res.status, res.text).toBe(200);
  return res.body.unread_message_count;
};

async function sendAll(from: TestUser, to: TestUser, n: number, prefix = 'm'): Promise<Message[]> {
  const out: Message[] = [];
  for (let i = 0; i < n; i++) {
    const res = await message(from, to.id, `${prefix} ${i}`);
    expect(res.status, res.text).toBe(201);
    out.push(res.body);
  }
  return out;
}

/** Every item of a list, following `next` links. */
async function walk(user: TestUser, first: string): Promise<Message[]> {
  const items: Message[] = [];
  let link: string | null = first;
  while (link) {
    const res: Awaited<ReturnType<typeof received>> = await send<Collection>('GET', link, { as: user });
    expect(res.status, res.text).toBe(200);
    items.push(...res.body.items);
    link = res.body._links.next;
  }
  return items;
}

describe('POST /api/users/{id}/messages', () => {
  let alice: TestUser;
  let bob: TestUser;
  beforeAll(async () => {
    [alice, bob] = await Promise.all([createUser(server), createUser(server)]);
  });

  it('answers 201 with the message, its Location and links, the body trimmed', async () => {
    const res = await message(alice, bob.id, '  See you at noon?  ');
    expect(res.status, res.text).toBe(201);
    const m = res.body;
    expect(m).toEqual({
      id: expect.any(Number),
      body: 'See you at noon?',
      timestamp: expect.stringMatching(ISO_UTC_MILLIS),
      sender: alice.id,
      recipient: bob.id,
      _links: { self: `/api/messages/${m.id}`, sender: `/api/users/${alice.id}`, recipient: `/api/users/${bob.id}` },
    });
    expect(res.headers.get('location')).toBe(`/api/messages/${m.id}`);
    const got = await send<Message>('GET', `/api/messages/${m.id}`, { as: bob });
    expect(got.status).toBe(200);
    expect(got.body).toEqual(m);
  });

  it('answers 400 for a missing, blank, too long or NUL-holding body, and sends nothing', async () => {
    const [a, b] = await Promise.all([createUser(server), createUser(server)]);
    for (const json of [{}, { body: '   ' }, { body: 'x'.repeat(141) }, { body: 'a\u0000b' }, { body: 42 }, { body: 'hi', extra: 1 }]) {
      const res = await send('POST', `/api/users/${b.id}/messages`, { as: a, json });
      expectError(res, 400);
    }
    expect((await sent(a)).body._meta.total_items).toBe(0);
  });

  it('takes 140 characters once trimmed', async () => {
    const res = await message(alice, bob.id, ` ${'é'.repeat(140)} `);
    expect(res.status, res.text).toBe(201);
    expect(res.body.body).toBe('é'.repeat(140));
  });

  it('answers 400 to a message to oneself', async () => {
    expectPlainError(await message(alice, alice.id, 'note to self'), 400, 'you cannot message yourself');
  });

  it('answers 404 naming the recipient when it does not exist', async () => {
    expectPlainError(await message(alice, MISSING_ID, 'hello?'), 404, `user ${MISSING_ID} does not exist`);
  });

  it('answers 401 without a token', async () => {
    const res = await send('POST', `/api/users/${bob.id}/messages`, { json: { body: 'hi' } });
    expectPlainError(res, 401);
  });

  it('sends once per Idempotency-Key: a retry gets the first answer, another body a 422', async () => {
    const [a, b] = await Promise.all([createUser(server), createUser(server)]);
    const key = `key-${a.id}`;
    const first = await message(a, b.id, 'once', { 'Idempotency-Key': key });
    const again = await message(a, b.id, 'once', { 'Idempotency-Key': key });
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect((await sent(a)).body._meta.total_items).toBe(1);
    expectPlainError(await message(a, b.id, 'another', { 'Idempotency-Key': key }), 422);
  });
});

describe('GET /api/messages and /api/messages/sent', () => {
  it('list the received and the sent messages, newest first, paged by cursor', async () => {
    const [a, b, c] = await Promise.all([createUser(server), createUser(server), createUser(server)]);
    const fromA = await sendAll(a, b, 7, 'a');
    const fromC = await sendAll(c, b, 2, 'c');
    const toB = [...fromA, ...fromC].sort((x, y) => (x.timestamp === y.timestamp ? y.id - x.id : y.timestamp < x.timestamp ? -1 : 1));

    const page1 = await received(b, '?per_page=4');
    expect(page1.status, page1.text).toBe(200);
    expect(page1.body._meta).toEqual({ page: 1, per_page: 4, total_pages: 3, total_items: 9 });
    expect(page1.body.items).toEqual(toB.slice(0, 4));
    expect(page1.body._links.self).toBe('/api/messages?page=1&per_page=4');
    expect(page1.body._links.next).toMatch(/^\/api\/messages\?page=2&per_page=4&cursor=[\w-]+$/);
    expect(page1.body._links.newer).toMatch(/^\/api\/messages\?page=1&per_page=4&cursor=[\w-]+$/);
    expect(await walk(b, '/api/messages?per_page=4')).toEqual(toB);

    const mine = await sent(a, '?per_page=3');
    expect(mine.body._meta.total_items).toBe(7);
    expect(await walk(a, '/api/messages/sent?per_page=3')).toEqual([...fromA].reverse());
    // Sent messages are not received ones, and the other way round.
    expect((await received(a)).body._meta.total_items).toBe(0);
    expect((await sent(b)).body._meta.total_items).toBe(0);

    // A message that arrives above the first page is found through `newer`.
    const [later] = await sendAll(c, b, 1, 'later');
    const newer = await send<Collection>('GET', page1.body._links.newer, { as: b });
    expect(newer.status, newer.text).toBe(200);
    expect(newer.body.items).toEqual([later]);
  });

  it('answers 400 to a cursor this server did not make', async () => {
    const a = await createUser(server);
    expectPlainError(await received(a, '?cursor=made-up'), 400);
    expectPlainError(await sent(a, '?cursor=made-up'), 400);
  });
});

describe('read marks', () => {
  it("count the messages received since the received list was last read, in one's own record only", async () => {
    const [a, b] = await Promise.all([createUser(server), createUser(server)]);
    expect(await unreadOf(b)).toBe(0);
    await sendAll(a, b, 3);
    expect(await unreadOf(b)).toBe(3);
    // Sending and reading what one sent mark nothing.
    expect(await unreadOf(a)).toBe(0);
    await sent(b);
    expect(await unreadOf(b)).toBe(3);
    // Another user's record of b says nothing of b's messages.
    const seen = await send<Record<string, unknown>>('GET', `/api/users/${b.id}`, { as: a });
    expect(seen.body).not.toHaveProperty('unread_message_count');

    expect((await received(b, '?per_page=1')).status).toBe(200);
    expect(await unreadOf(b)).toBe(0);
    await sendAll(a, b, 2);
    expect(await unreadOf(b)).toBe(2);
  });

  it('count every one of many messages sent to one user at once, and all of them as read after a read', async () => {
    const recipient = await createUser(server);
    const senders = await Promise.all(Array.from({ length: 8 }, () => createUser(server)));
    const sends = await Promise.all(senders.flatMap((from) => [message(from, recipient.id, 'at once'), message(from, recipient.id, 'again')]));
    expect(sends.map((r) => r.status)).toEqual(sends.map(() => 201));
    expect(await unreadOf(recipient)).toBe(16);
    expect((await received(recipient)).status).toBe(200);
    expect(await unreadOf(recipient)).toBe(0);
  });

  it("keep one's own record's ETag good for If-Match on PUT /api/users/{id}", async () => {
    const [a, b] = await Promise.all([createUser(server), createUser(server)]);
    await sendAll(a, b, 1);
    const mine = await send('GET', `/api/users/${b.id}`, { as: b });
    const etag = mine.headers.get('etag') as string;
    const res = await send('PUT', `/api/users/${b.id}`, { as: b, json: { about_me: 'hi' }, headers: { 'If-Match': etag } });
    expect(res.status, res.text).toBe(200);
  });
});

describe('privacy', () => {
  it('a message is a 404 to anyone but its sender and recipient, and in no one else’s lists', async () => {
    const [a, b, eve] = await Promise.all([createUser(server), createUser(server), createUser(server)]);
    const [m] = await sendAll(a, b, 1);
    const id = (m as Message).id;
    expect((await send('GET', `/api/messages/${id}`, { as: a })).status).toBe(200);
    expect((await send('GET', `/api/messages/${id}`, { as: b })).status).toBe(200);
    const res = await send('GET', `/api/messages/${id}`, { as: eve });
    expectPlainError(res, 404, `message ${id} does not exist`);
    // The same answer as for a message that never was.
    expectPlainError(await send('GET', `/api/messages/${MISSING_ID}`, { as: eve }), 404, `message ${MISSING_ID} does not exist`);
    expect((await received(eve)).body.items).toEqual([]);
    expect((await sent(eve)).body.items).toEqual([]);
  });
});

describe('the per-sender message limit', () => {
  const limited = useServer({ RATE_LIMIT_MESSAGES: '2', RATE_LIMIT_MESSAGES_WINDOW_SECONDS: '60' });
  const sendLimited = sender(limited);

  it('answers 429 with Retry-After and the "messages" policy past the limit, per sender', async () => {
    const [a, b, c] = await Promise.all([createUser(limited), createUser(limited), createUser(limited)]);
    const to = (from: TestUser, id: number) => sendLimited('POST', `/api/users/${id}/messages`, { as: from, json: { body: 'hi' } });
    expect((await to(a, b.id)).status).toBe(201);
    expect((await to(a, c.id)).status).toBe(201);
    const refused = await to(a, b.id);
    expectPlainError(refused, 429, expect.stringMatching(/^too many messages sent; try again in \d+ seconds$/));
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.headers.get('ratelimit-policy')).toContain('"messages";q=2;w=60');
    expect(refused.headers.get('ratelimit')).toMatch(/"messages";r=0;t=\d+/);
    // Another sender has its own count; reading is not limited.
    expect((await to(b, a.id)).status).toBe(201);
    expect((await sendLimited('GET', '/api/messages/sent', { as: a })).status).toBe(200);
    expect((await sendLimited('GET', '/api/messages/sent', { as: a })).body).toMatchObject({ _meta: { total_items: 2 } });
  });
});
