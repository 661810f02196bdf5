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

  it('hold after db:seed, with the user followed by many and the user following many', async () => {
    const scratch = await createScratchDatabase(inject('databaseUrl'), 'seed');
    const db = openDb({ url: scratch.url, poolMax: 2 });
    try {
      await migrateLatest(db);
      const options = { users: 50, follows: 200, posts: 300, seed: 7, passwordHash: 'x', reset: true, celebrityFollowers: 80, fanFollows: 20 };
      const result = await seed(db, options);
      expect(result).toMatchObject({ users: 50 + 1 + 30 + 1, follows: 200 + 80 + 20, posts: 300 });
      const celebrity = await db('users').where({ id: result.celebrityId }).first();
      const fan = await db('users').where({ id: result.fanId }).first();
      expect(celebrity).toMatchObject({ username: `celebrity_${result.celebrityId}`, follower_count: 80, followed_count: 0 });
      expect(fan).toMatchObject({ username: `fan_${result.fanId}`, followed_count: 20, follower_count: 0 });
      expect(await countersHold(db)).toEqual({ users: true, posts: true });
      expect(await rowCount(db, 'users')).toBe(82);

      // The same seed makes the same data.
      const again = await seed(db, options);
      expect(again).toEqual(result);
      expect(await db('users').where({ id: result.fanId }).first('username')).toEqual({ username: fan.username });
      expect(await rowCount(db, 'users')).toBe(82);
    } finally {
      await closeDb(db);
      await scratch.drop();
    }
  });
});
