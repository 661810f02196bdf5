import { describe, expect, inject, it } from 'vitest';
import { migrationSource } from '../db/migrations/index.js';
import { closeDb, migrateLatest, openDb, type Db } from '../src/db/database.js';
import { rowCount } from '../src/db/counts.js';
import { seed } from '../src/db/seed.js';
import { createScratchDatabase } from './support/databases.js';

/** Whether each table's counter equals its rows, read in one statement (one snapshot). */
async function countersHold(db: Db): Promise<Record<string, boolean>> {
  const { rows } = await db.raw<{ rows: { users: boolean; posts: boolean }[] }>(`
    SELECT
      (SELECT coalesce(sum(n), 0) FROM row_counts WHERE table_name = 'users') = (SELECT count(*) FROM users) AS users,
      (SELECT coalesce(sum(n), 0) FROM row_counts WHERE table_name = 'posts') = (SELECT count(*) FROM posts) AS posts`);
  return rows[0] as Record<string, boolean>;
}

const user = (name: string) => ({ username: name, email: `${name}@example.com`, password_hash: 'x' });

/**
 * The users whose feed size, as the feed reads it (its posts, its feed count, the post
 * counts of the users it follows through uncounted follows), is not the number of posts in
 * its feed; and those whose feed count is not the sum over its counted follows. One snapshot.
 */
async function feedCountsWrong(db: Db): Promise<{ size: number[]; counted: number[]; timelines: number[] }> {
  const { rows } = await db.raw<{ rows: { size: number[] | null; counted: number[] | null; timelines: number[] | null }[] }>(`
    SELECT
      (SELECT array_agg(u.id::int) FROM users u
       WHERE u.post_count + coalesce((SELECT posts FROM feed_counts WHERE user_id = u.id), 0)
         + coalesce((SELECT sum(a.post_count) FROM follows f JOIN users a ON a.id = f.followed_id
                     WHERE f.follower_id = u.id AND NOT f.fans_out), 0)
         <> (SELECT count(*) FROM posts p
             WHERE p.user_id = u.id OR p.user_id IN (SELECT followed_id FROM follows WHERE follower_id = u.id))) AS size,
      (SELECT array_agg(u.id::int) FROM users u
       WHERE coalesce((SELECT posts FROM feed_counts WHERE user_id = u.id), 0)
         <> coalesce((SELECT sum(a.post_count) FROM follows f JOIN users a ON a.id = f.followed_id
                      WHERE f.follower_id = u.id AND f.fans_out), 0)) AS counted,
      (SELECT array_agg(DISTINCT x.user_id::int) FROM (
         (SELECT user_id, created_at, post_id FROM timeline_entries
          EXCEPT ALL
          SELECT f.follower_id, p.created_at, p.id FROM follows f JOIN posts p ON p.user_id = f.followed_id WHERE f.fans_out)
         UNION ALL
         (SELECT f.follower_id, p.created_at, p.id FROM follows f JOIN posts p ON p.user_id = f.followed_id WHERE f.fans_out
          EXCEPT ALL
          SELECT user_id, created_at, post_id FROM timeline_entries)
       ) AS x) AS timelines`);
  return { size: rows[0]?.size ?? [], counted: rows[0]?.counted ?? [], timelines: rows[0]?.timelines ?? [] };
}

describe('users and posts counters', () => {
  it('start from the rows already there, and follow inserts, deletes, cascades and TRUNCATE exactly', async () => {
    const scratch = await createScratchDatabase(inject('databaseUrl'), 'counts');
    const db = openDb({ url: scratch.url, poolMax: 12 });
    try {
      // Up to the migration before the counters, with rows in place.
      const all = await migrationSource.getMigrations([]);
      const before = all.indexOf('20261125000000_row_counts');
      for (let i = 0; i < before; i++) await db.migrate.up({ migrationSource });
      const ids = (await db('users').insert([user('a'), user('b'), user('c')]).returning('id')).map((r: { id: number }) => r.id);
      await db('posts').insert(ids.map((id) => ({ user_id: id, body: 'before the counters' })));
      await migrateLatest(db);
      expect(await rowCount(db, 'users')).toBe(3);
      expect(await rowCount(db, 'posts')).toBe(3);

      // Many writers at once, on many connections, so on many slots.
      await Promise.all(Array.from({ length: 40 }, (_, i) => db('posts').insert({ user_id: ids[i % 3], body: `post ${i}` })));
      await db('posts').insert(Array.from({ length: 500 }, () => ({ user_id: ids[0], body: 'bulk' })));
      const bulk = (n: number) => db('posts').select('id').where({ body: 'bulk' }).limit(n);
      await db('posts').whereIn('id', bulk(1)).delete();
      await db('posts').whereIn('id', bulk(99)).delete();
      expect(await rowCount(db, 'posts')).toBe(3 + 40 + 400);
      expect(await countersHold(db)).toEqual({ users: true, posts: true });

      // Deleting a user deletes its posts through the foreign key: both counts follow.
      await db('users').where({ id: ids[1] }).delete();
      expect(await countersHold(db)).toEqual({ users: true, posts: true });
      expect(await rowCount(db, 'users')).toBe(2);

      // A transaction that rolls back leaves the counts as they were.
      await db.transaction(async (trx) => {
        await trx('users').insert(user('d'));
        throw new Error('roll back');
      }).catch(() => undefined);
      expect(await rowCount(db, 'users')).toBe(2);

      await db.raw('TRUNCATE users, posts, follows, tokens CASCADE');
      expect(await rowCount(db, 'users')).toBe(0);
      expect(await rowCount(db, 'posts')).toBe(0);
      await db('users').insert(user('e'));
      expect(await rowCount(db, 'users')).toBe(1);
    } finally {
      await closeDb(db);
      await scratch.drop();
    }
  });

  it('keep every feed size exact through concurrent posts, follows, unfollows and deletes, past the counted-followers bound', async () => {
    const scratch = await createScratchDatabase(inject('databaseUrl'), 'feeds');
    const db = openDb({ url: scratch.url, poolMax: 12 });
    try {
      await migrateLatest(db);
      const [bound] = (await db.raw<{ rows: { n: number }[] }>('SELECT feed_fan_out_followers() AS n')).rows.map((r) => r.n);
      // A star followed by more than the bound, through the follows' triggers.
      const ids: number[] = (await db('users').insert(Array.from({ length: (bound as number) + 40 }, (_, i) => user(`u${i}`))).returning('id')).map((r: { id: number }) => r.id);
      const [star, ...fans] = ids as [number, ...number[]];
      await db('posts').insert(Array.from({ length: 5 }, () => ({ user_id: star, body: 'before the fans' })));
      // One at a time, as PUT /api/users/{id}/followed/{target_id} makes them: a follow is
      // counted by the follower count before it, which one statement's rows do not move.
      for (const fan of fans) await db('follows').insert({ follower_id: fan, followed_id: star });
      const counted = await db('follows').where({ followed_id: star, fans_out: true }).count<{ count: string }[]>({ count: '*' });
      expect(Number(counted[0]?.count)).toBe(bound);
      expect(await feedCountsWrong(db)).toEqual({ size: [], counted: [], timelines: [] });

      // Many writers at once: posts (the star's among them), follows, unfollows, deletes.
      let seedValue = 11;
      const rand = (n: number) => {
        seedValue = (seedValue * 1103515245 + 12345) % 2147483648;
        return seedValue % n;
      };
      const few = ids.slice(0, 30);
      const ops = Array.from({ length: 400 }, (_, i) => {
        const a = few[rand(few.length)] as number;
        const b = few[rand(few.length)] as number;
        switch (i % 4) {
          case 0:
            return () => db('posts').insert({ user_id: i % 8 === 0 ? star : a, body: `post ${i}` });
          case 1:
            return () => (a === b ? Promise.resolve() : db('follows').insert({ follower_id: a, followed_id: b }).onConflict().ignore());
          case 2:
            return () => db('follows').where({ follower_id: a, followed_id: b }).delete();
          default:
            return () => db('posts').whereIn('id', db('posts').select('id').where({ user_id: i % 8 === 3 ? star : a }).limit(1)).delete();
        }
      });
      await Promise.all(Array.from({ length: 12 }, async (_, worker) => {
        for (let i = worker; i < ops.length; i += 12) await (ops[i] as () => Promise<unknown>)();
      }));
      expect(await feedCountsWrong(db)).toEqual({ size: [], counted: [], timelines: [] });

      // Deleting users (the star, and one of its fans) through the foreign keys' cascades.
      await db('users').whereIn('id', [star, fans[0] as number]).delete();
      await db('users').where({ id: few[5] }).delete();
      expect(await feedCountsWrong(db)).toEqual({ size: [], counted: [], timelines: [] });
    } finally {
      await closeDb(db);
      await scratch.drop();
    }
  });

  it('hold after db:seed, with the user followed by many and the user following many', async () => {
    const scratch = await createScratchDatabase(inject('databaseUrl'), 'seed');
    const db = openDb({ url: scratch.url, poolMax: 2 });
    try {
      await migrateLatest(db);
      const options = { users: 50, follows: 200, posts: 300, seed: 7, passwordHash: 'x', reset: true, celebrityFollowers: 280, fanFollows: 20 };
      const result = await seed(db, options);
      expect(result).toMatchObject({ users: 50 + 1 + 230 + 1, follows: 200 + 280 + 20, posts: 300 });
      // Feed sizes as the follows' triggers would have kept them, past the counted-followers bound.
      expect(await feedCountsWrong(db)).toEqual({ size: [], counted: [], timelines: [] });
      const [bound] = (await db.raw<{ rows: { n: number }[] }>('SELECT feed_fan_out_followers() AS n')).rows.map((r) => r.n);
      expect(await db('follows').where({ followed_id: result.celebrityId, fans_out: false }).count<{ n: string }[]>({ n: '*' })).toEqual([{ n: 280 - (bound as number) }]);
      const celebrity = await db('users').where({ id: result.celebrityId }).first();
      const fan = await db('users').where({ id: result.fanId }).first();
      expect(celebrity).toMatchObject({ username: `celebrity_${result.celebrityId}`, follower_count: 280, followed_count: 0 });
      expect(fan).toMatchObject({ username: `fan_${result.fanId}`, followed_count: 20, follower_count: 0 });
      expect(await countersHold(db)).toEqual({ users: true, posts: true });
      expect(await rowCount(db, 'users')).toBe(282);

      // The same seed makes the same data.
      const again = await seed(db, options);
      expect(again).toEqual(result);
      expect(await db('users').where({ id: result.fanId }).first('username')).toEqual({ username: fan.username });
      expect(await rowCount(db, 'users')).toBe(282);
    } finally {
      await closeDb(db);
      await scratch.drop();
    }
  });
});
