import type { Knex } from 'knex';
import type { FollowRow } from './tables.js';

/** SQL for the follows relation; the user counters follow from triggers. */
export const followsRepository = {
  async exists(db: Knex, followerId: number, followedId: number): Promise<boolean> {
    const row = await db<FollowRow>('follows')
      .where({ follower_id: followerId, followed_id: followedId })
      .first('follower_id');
    return row !== undefined;
  },

  /** Idempotent: following twice is following. */
  async add(db: Knex, followerId: number, followedId: number): Promise<void> {
    await db<FollowRow>('follows')
      .insert({ follower_id: followerId, followed_id: followedId })
      .onConflict(['follower_id', 'followed_id'])
      .ignore();
  },

  /** Idempotent: unfollowing someone not followed changes nothing. */
  async remove(db: Knex, followerId: number, followedId: number): Promise<void> {
    await db<FollowRow>('follows').where({ follower_id: followerId, followed_id: followedId }).delete();
  },
};
