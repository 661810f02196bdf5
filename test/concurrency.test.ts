import { describe, expect, it } from 'vitest';
import type { components } from '../generated/openapi.js';
import { createUser, uniqueName, type TestUser } from './support/factories.js';
import { readAnswer, type Answer } from './support/http.js';
import { useServer } from './support/server.js';

/**
 * Races through real HTTP against the real database: many requests at once on the same
 * rows must end in the state the database holds, with no 5xx and no deadlock (PostgreSQL
 * would abort one side of a deadlock with 40P01, which the API answers with 503).
 */

type User = components['schemas']['User'];
type Post = components['schemas']['Post'];
type Collection = { items: User[]; _meta: { total_items: number } };

const server = useServer();

const PASSWORD = 'correct horse battery staple';

async function send<T = unknown>(method: string, path: string, as?: TestUser, init: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { Accept: 'application/json', ...(as ? as.auth : {}), ...init.headers };
  if (init.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await server.fetch(path, { method, headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  return readAnswer<T>(res);
}

/** Statuses by how often they came back, e.g. { 200: 1, 412: 49 }. */
function tally(answers: Answer[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const a of answers) counts[a.status] = (counts[a.status] ?? 0) + 1;
  return counts;
}

/** Deterministic pseudo-random numbers (mulberry32), so a failing mix can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('100 concurrent follows and unfollows over a few pairs', () => {
  it.each([1, 2, 3])('leave every count equal to the follows table and to what the API lists (mix %i)', async (seed) => {
    const users = await Promise.all(Array.from({ length: 4 }, () => createUser(server)));
    const next = random(seed);
    const pick = () => users[Math.floor(next() * users.length)] as TestUser;
    const calls = Array.from({ length: 100 }, () => {
      const follower = pick();
      let followed = pick();
      while (followed === follower) followed = pick();
      return { method: next() < 0.6 ? 'PUT' : 'DELETE', follower, followed };
    });

    const answers = await Promise.all(calls.map((c) => send(c.method, `/api/users/${c.follower.id}/followed/${c.followed.id}`, c.follower)));
    expect(answers.filter((a) => a.status !== 204).map((a) => `${a.status} ${a.text}`)).toEqual([]);

    const ids = users.map((u) => u.id);
    const rows: { follower_id: number; followed_id: number }[] = await server
      .db('follows')
      .whereIn('follower_id', ids)
      .select('follower_id', 'followed_id');
    const viewer = users[0] as TestUser;
    for (const u of users) {
      const followers = rows.filter((r) => r.followed_id === u.id).map((r) => r.follower_id).sort();
      const followed = rows.filter((r) => r.follower_id === u.id).map((r) => r.followed_id).sort();
      const stored = await server.db('users').where({ id: u.id }).first('follower_count', 'followed_count');
      expect({ follower_count: Number(stored.follower_count), followed_count: Number(stored.followed_count) }).toEqual({
        follower_count: followers.length,
        followed_count: followed.length,
      });

      const shown = await send<User>('GET', `/api/users/${u.id}`, viewer);
      expect({ follower_count: shown.body.follower_count, followed_count: shown.body.followed_count }).toEqual({
        follower_count: followers.length,
        followed_count: followed.length,
      });
      for (const [direction, expected] of [['followers', followers], ['followed', followed]] as const) {
        const list = await send<Collection>('GET', `/api/users/${u.id}/${direction}?per_page=100`, viewer);
        expect(list.body._meta.total_items).toBe(expected.length);
        expect(list.body.items.map((i) => i.id).sort()).toEqual(expected);
      }
    }
  });
});

describe('50 concurrent conditional PUTs with one If-Match', () => {
  it('let exactly one change a user: one 200, 49 412, and the user is the winner’s', async () => {
    const u = await createUser(server);
    const read = await send<User>('GET', `/api/users/${u.id}`, u);
    const etag = read.headers.get('etag') ?? '';
    expect(etag).not.toBe('');

    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => send<User>('PUT', `/api/users/${u.id}`, u, { body: { about_me: `version ${i}` }, headers: { 'If-Match': etag } })),
    );
    expect(tally(answers)).toEqual({ 200: 1, 412: 49 });
    const winner = answers.find((a) => a.status === 200) as Answer<User>;
    for (const lost of answers.filter((a) => a.status === 412)) {
      expect(lost.body).toEqual({ error: 'Precondition Failed', message: expect.any(String) });
    }
    const after = await send<User>('GET', `/api/users/${u.id}`, u);
    expect(after.body.about_me).toBe(winner.body.about_me);
    expect(after.headers.get('etag')).toBe(winner.headers.get('etag'));
  });

  it('let exactly one change a post: one 200, 49 412, and the post is the winner’s', async () => {
    const author = await createUser(server);
    const created = await send<Post>('POST', '/api/posts', author, { body: { body: 'first version' } });
    expect(created.status).toBe(201);
    const etag = created.headers.get('etag') ?? (await send<Post>('GET', `/api/posts/${created.body.id}`, author)).headers.get('etag') ?? '';
    expect(etag).not.toBe('');

    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        send<Post>('PUT', `/api/posts/${created.body.id}`, author, { body: { body: `version ${i}` }, headers: { 'If-Match': etag } }),
      ),
    );
    expect(tally(answers)).toEqual({ 200: 1, 412: 49 });
    const winner = answers.find((a) => a.status === 200) as Answer<Post>;
    const after = await send<Post>('GET', `/api/posts/${created.body.id}`, author);
    expect(after.body.body).toBe(winner.body.body);
  });
});

describe('concurrent registrations of one username', () => {
  it('let exactly one of 30 win, whatever the case each is written in; the rest get 400', async () => {
    const name = uniqueName('Race');
    const variants = [name, name.toLowerCase(), name.toUpperCase(), name.replace(/^r/i, (c) => (c === 'r' ? 'R' : 'r'))];
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        send<User>('POST', '/api/users', undefined, {
          body: { username: variants[i % variants.length], email: `${name}_${i}@example.com`, password: PASSWORD },
        }),
      ),
    );
    expect(tally(answers)).toEqual({ 201: 1, 400: 29 });
    for (const lost of answers.filter((a) => a.status === 400)) {
      expect(lost.body).toStrictEqual({ error: 'Bad Request', message: 'please use a different username' });
    }
    const rows = await server.db('users').whereRaw('lower(username) = lower(?)', [name]).select('id');
    expect(rows.map((r: { id: number }) => r.id)).toEqual([(answers.find((a) => a.status === 201) as Answer<User>).body.id]);
  });
});
