import { describe, expect, inject, it } from 'vitest';
import { closeDb, migrateLatest, openDb } from '../src/db/database.js';
import { seed } from '../src/db/seed.js';
import { createScratchDatabase } from './support/databases.js';

describe('seed', () => {
  it('adds one fan per number of a fanFollows list, in its order, each following that many seeded users', async () => {
    const scratch = await createScratchDatabase(inject('databaseUrl'), 'seed_fans');
    const db = openDb({ url: scratch.url, poolMax: 2 });
    try {
      await migrateLatest(db);
      const result = await seed(db, { users: 30, follows: 50, posts: 40, seed: 3, passwordHash: 'x', reset: true, fanFollows: [5, 0, 30] });
      expect(result.fanIds).toHaveLength(2);
      expect(result.fanId).toBe(result.fanIds?.[1]);
      expect(result).toMatchObject({ users: 32, follows: 50 + 5 + 30 });
      const fans = await db('users').whereIn('id', result.fanIds as number[]).orderBy('id').select('id', 'username', 'followed_count');
      expect(fans).toEqual([
        { id: result.fanIds?.[0], username: `fan_${result.fanIds?.[0]}`, followed_count: 5 },
        { id: result.fanIds?.[1], username: `fan_${result.fanIds?.[1]}`, followed_count: 30 },
      ]);
    } finally {
      await closeDb(db);
      await scratch.drop();
    }
  });
});
