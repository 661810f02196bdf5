import { describe, expect, inject, it } from 'vitest';
import { closeDb, migrateLatest, openDb, pendingMigrations, type Db } from '../src/db/database.js';
import { migrationSource } from '../db/migrations/index.js';
import { createScratchDatabase } from './support/databases.js';

const scratchDatabase = () => createScratchDatabase(inject('databaseUrl'), 'scratch');

describe('migrations', () => {
  it('apply once when several instances start at the same moment', async () => {
    const scratch = await scratchDatabase();
    const instances = Array.from({ length: 4 }, () => openDb({ url: scratch.url, poolMax: 2 }));
    try {
      const applied = await Promise.all(instances.map((db) => migrateLatest(db)));
      expect(applied.flat()).toEqual(await migrationSource.getMigrations([]));
      for (const db of instances) expect(await pendingMigrations(db)).toEqual([]);
      // The lock went with each run's transaction: nothing is left for the next start to wait on.
      const [db] = instances as [Db];
      const locks = await db.raw(
        "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
      );
      expect(locks.rows).toEqual([{ n: 0 }]);
    } finally {
      await Promise.all(instances.map((db) => closeDb(db)));
      await scratch.drop();
    }
  });

  it('roll back to an empty schema and apply again', async () => {
    const scratch = await scratchDatabase();
    const db = openDb({ url: scratch.url, poolMax: 2 });
    try {
      await migrateLatest(db);
      await db.migrate.rollback({ migrationSource }, true);
      const tables = await db.raw("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'knex%'");
      expect(tables.rows).toEqual([]);
      expect(await migrateLatest(db)).toEqual(await migrationSource.getMigrations([]));
    } finally {
      await closeDb(db);
      await scratch.drop();
    }
  });

  it('enforce the rules in the schema itself', async () => {
    const scratch = await scratchDatabase();
    const db = openDb({ url: scratch.url, poolMax: 2 });
    try {
      await migrateLatest(db);
      const user = (name: string) => ({ username: name, email: `${name}@example.com`, password_hash: 'x' });
      const [a] = await db('users').insert(user('Ann')).returning('id');
      await expect(db('users').insert(user('ann'))).rejects.toMatchObject({ code: '23505', constraint: 'users_username_lower_key' });
      await expect(db('users').insert({ ...user('bob'), email: 'ANN@example.com' })).rejects.toMatchObject({
        code: '23505',
        constraint: 'users_email_lower_key',
      });
      await expect(db('users').insert(user('has space'))).rejects.toMatchObject({ code: '23514' });
      await expect(db('follows').insert({ follower_id: a.id, followed_id: a.id })).rejects.toMatchObject({
        constraint: 'follows_no_self_follow',
      });
      await expect(db('follows').insert({ follower_id: a.id, followed_id: 999_999 })).rejects.toMatchObject({ code: '23503' });
      await expect(db('posts').insert({ user_id: a.id, body: '' })).rejects.toMatchObject({ constraint: 'posts_body_length' });
      await db('posts').insert({ user_id: a.id, body: 'hello' });
      expect(await db('users').where({ id: a.id }).first('post_count')).toEqual({ post_count: 1 });
    } finally {
      await closeDb(db);
      await scratch.drop();
    }
  });
});
