import { describe, expect, it } from 'vitest';
import type { components } from '../generated/openapi.js';
import { createUser, uniqueName, type TestUser } from './support/factories.js';
import { PASSWORD } from './support/constants.js';
import { sender, type Answer } from './support/http.js';
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
const send = sender(server, { Accept: 'application/json' });

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
  // Half the calls concern one popular user, so that its counts see many writers at once.
  it.each([1, 2, 3, 4, 5])('leave every count equal to the follows table and to what the API lists (mix %i)', async (seed) => {
    const users = await Promise.all(Array.from({ length: 5 }, () => createUser(server)));
    const next = random(seed);
    const pick = () => users[Math.floor(next() * users.length)] as TestUser;
    const calls = Array.from({ length: 100 }, () => {
      const popular = users[0] as TestUser;
      let followed = next() < 0.5 ? popular : pick();
      let follower = pick();
      while (follower === followed) follower = pick();
      if (next() < 0.2) [follower, followed] = [followed, follower];
      return { method: next() < 0.6 ? 'PUT' : 'DELETE', follower, followed };
    });

    const answers = await Promise.all(calls.map((c) => send(c.method, `/api/users/${c.follower.id}/followed/${c.followed.id}`, { as: c.follower })));
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

      const shown = await send<User>('GET', `/api/users/${u.id}`, { as: viewer });
      expect({ follower_count: shown.body.follower_count, followed_count: shown.body.followed_count }).toEqual({
        follower_count: followers.length,
        followed_count: followed.length,
      });
      for (const [direction, expected] of [['followers', followers], ['followed', followed]] as const) {
        const list = await send<Collection>('GET', `/api/users/${u.id}/${direction}?per_page=100`, { as: viewer });
        expect(list.body._meta.total_items).toBe(expected.length);
        expect(list.body.items.map((i) => i.id).sort()).toEqual(expected);
      }
    }
  });
});

describe('50 concurrent conditional PUTs with one If-Match', () => {
  /** Rounds per race: the first can come out in order by chance (the event loop is shared); several hardly ever. */
  const ROUNDS = 3;

  /**
   * Races 50 PUTs, each with its own change and the same current ETag, ROUNDS times; each
   * round exactly one may win, and what stays is the winner's.
   */
  async function race(path: string, as: TestUser, change: (round: number, i: number) => Record<string, string>, field: string) {
    // One refused and one answered PUT first: the validator compiles an operation's schemas on first use.
    expect((await send('PUT', path, { as, json: change(-1, 0), headers: { 'If-Match': '"stale"' } })).status).toBe(412);
    expect((await send('PUT', path, { as, json: change(-1, 1) })).status).toBe(200);
    for (let round = 0; round < ROUNDS; round++) {
      const etag = (await send('GET', path, { as })).headers.get('etag') ?? '';
      expect(etag).not.toBe('');
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) => send<Record<string, unknown>>('PUT', path, { as, json: change(round, i), headers: { 'If-Match': etag } })),
      );
      expect(tally(answers), `round ${round}`).toEqual({ 200: 1, 412: 49 });
      for (const lost of answers.filter((a) => a.status === 412)) {
        expect(lost.body).toStrictEqual({ error: 'Precondition Failed', message: 'the resource has changed since you read it; get it again' });
      }
      const winner = answers.find((a) => a.status === 200) as Answer<Record<string, unknown>>;
      const after = await send<Record<string, unknown>>('GET', path, { as });
      expect(after.body[field]).toBe(winner.body[field]);
      expect(after.headers.get('etag')).toBe(winner.headers.get('etag'));
    }
  }

  it('let exactly one change a user: one 200, 49 412, and the user is the winner’s', async () => {
    const u = await createUser(server);
    await race(`/api/users/${u.id}`, u, (round, i) => ({ about_me: `round ${round}, version ${i}` }), 'about_me');
  });

  it('let exactly one change a post: one 200, 49 412, and the post is the winner’s', async () => {
    const author = await createUser(server);
    const created = await send<Post>('POST', '/api/posts', { as: author, json: { body: 'first version' } });
    expect(created.status).toBe(201);
    await race(`/api/posts/${created.body.id}`, author, (round, i) => ({ body: `round ${round}, version ${i}` }), 'body');
  });
});

describe('concurrent registrations of one username', () => {
  it('let exactly one of 30 win, whatever the case each is written in; the rest get 400', async () => {
    const name = uniqueName('Race');
    const variants = [name, name.toLowerCase(), name.toUpperCase(), name.replace(/^r/i, (c) => (c === 'r' ? 'R' : 'r'))];
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        send<User>('POST', '/api/users', { json: { username: variants[i % variants.length], email: `${name}_${i}@example.com`, password: PASSWORD } }),
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
