import type { Knex } from 'knex';
import type { Page } from './users.js';
import { PUBLIC_USER_COLUMNS, type BlockRow, type PublicUserRow, type UserRow } from './tables.js';

/**
 * SQL text for "the user in `column` blocks the viewer", whose one binding is the viewer's
 * id: for raw SQL that hides blockers from the users they block, as in
 * `WHERE NOT ${blocksViewerSql('u.id')}` with the viewer's id bound.
 */
export const blocksViewerSql = (column: string): string =>
  `EXISTS (SELECT 1 FROM blocks WHERE blocks.blocker_id = ${column} AND blocks.blocked_id = ?)`;

/**
 * SQL for blocks: who blocks whom. A blocked user can neither message nor follow its
 * blocker; the checks run in the transaction of the write they guard, after the locks below.
 */
export const blocksRepository = {
  /** Whether `blockerId` blocks `blockedId` (the primary key). */
  async isBlocked(db: Knex, blockerId: number, blockedId: number): Promise<boolean> {
    const row = await db<BlockRow>('blocks').where({ blocker_id: blockerId, blocked_id: blockedId }).first('blocker_id');
    return row !== undefined;
  },

  /**
   * The ids of the users who block `viewerId`, as a subquery (blocks_blocked_idx): for
   * queries that hide blockers, as in `.whereNotIn('users.id', blocksRepository.blockersOf(db, viewer))`.
   */
  blockersOf(db: Knex, viewerId: number): Knex.QueryBuilder {
    return db<BlockRow>('blocks').select('blocker_id').where({ blocked_id: viewerId });
  },

  /**
   * Locks the users rows of `a` and `b` (FOR NO KEY UPDATE) in id order, and returns the ids
   * that exist: what a block does first. A new follow's counters lock the same two rows, in
   * the same order, until the follow commits (core migration), and the follow then checks
   * for a block in its transaction (resources/follows.ts). So a block and a follow between
   * the same two users meet on these rows: a follow made while a block holds them waits,
   * and its check sees the block; a block made while a follow holds them waits, and then
   * ends the committed follow (endFollow). They never both win, and neither deadlocks with
   * a follow or an unfollow (see endFollow). NO KEY UPDATE lets foreign-key checks (KEY
   * SHARE) through: a post or a message that refers to either user does not wait.
   */
  async lockUsers(trx: Knex.Transaction, a: number, b: number): Promise<number[]> {
    const { rows } = await trx.raw<{ rows: { id: number }[] }>('SELECT id FROM users WHERE id IN (?, ?) ORDER BY id FOR NO KEY UPDATE', [a, b]);
    return rows.map((r) => Number(r.id));
  },

  /**
   * Locks a message's recipient's row FOR NO KEY UPDATE, which waits for a block by the
   * recipient under way (its lock above) and makes a block wait for the message; the
   * message's trigger then moves the recipient's unread count on the row already held
   * (taking FOR SHARE first and that lock after would deadlock two messages to one user).
   * False when the user does not exist.
   */
  async lockRecipient(trx: Knex.Transaction, id: number): Promise<boolean> {
    const { rows } = await trx.raw<{ rows: unknown[] }>('SELECT 1 FROM users WHERE id = ? FOR NO KEY UPDATE', [id]);
    return rows.length > 0;
  },

  /** Idempotent: blocking twice is blocking. */
  async add(trx: Knex.Transaction, blockerId: number, blockedId: number): Promise<void> {
    await trx<BlockRow>('blocks').insert({ blocker_id: blockerId, blocked_id: blockedId }).onConflict(['blocker_id', 'blocked_id']).ignore();
  },

  /**
   * Ends `followerId`'s follow of `followedId`, as a block does after lockUsers. A follow
   * row locked now is being deleted by an unfollow, which waits for the users rows this
   * transaction holds: it is skipped (SKIP LOCKED), as the unfollow ends it, where waiting
   * for it would deadlock. (A follow being made is not seen here: it is not committed, and
   * its transaction checks for the block once it has the users rows.)
   */
  async endFollow(trx: Knex.Transaction, followerId: number, followedId: number): Promise<void> {
    await trx.raw(
      `DELETE FROM follows WHERE (follower_id, followed_id) IN (
         SELECT follower_id, followed_id FROM follows WHERE follower_id = ? AND followed_id = ? FOR UPDATE SKIP LOCKED)`,
      [followerId, followedId],
    );
  },

  /** Idempotent: unblocking someone not blocked changes nothing. */
  async remove(db: Knex, blockerId: number, blockedId: number): Promise<void> {
    await db<BlockRow>('blocks').where({ blocker_id: blockerId, blocked_id: blockedId }).delete();
  },

  /** The users `blockerId` blocks, by id. */
  list(db: Knex, blockerId: number, page: Page): Promise<PublicUserRow[]> {
    const query = db<UserRow>('blocks as b')
      .join('users as u', 'u.id', 'b.blocked_id')
      .where('b.blocker_id', blockerId)
      .orderBy('b.blocked_id')
      .limit(page.limit)
      .select(PUBLIC_USER_COLUMNS.map((c) => `u.${c}`));
    if (page.afterId === undefined) query.offset(page.offset);
    else query.andWhere('b.blocked_id', '>', page.afterId);
    return query;
  },

  async count(db: Knex, blockerId: number): Promise<number> {
    const [row] = await db<BlockRow>('blocks').where({ blocker_id: blockerId }).count<{ n: string }[]>({ n: '*' });
    return Number(row?.n ?? 0);
  },
};
