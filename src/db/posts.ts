import type { Knex } from 'knex';
import { rowCount } from './counts.js';
import type { PostRow } from './tables.js';

/** A position in a newest-first timeline: strictly older than this post. */
export interface TimelineCursor {
  createdAt: Date;
  id: number;
}

/** Where a timeline page starts: after a cursor (constant cost), or at an offset. */
export interface TimelinePage {
  cursor?: TimelineCursor;
  offset: number;
  limit: number;
}

function page(query: Knex.QueryBuilder, { cursor, offset, limit }: TimelinePage): Knex.QueryBuilder {
  if (cursor) query.whereRaw('(created_at, id) < (?, ?)', [cursor.createdAt, cursor.id]);
  return query
    .orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .offset(cursor ? 0 : offset)
    .limit(limit);
}

/** SQL for posts. Timelines are newest first, ties broken by id, so pages are stable. */
export const postsRepository = {
  findById(db: Knex, id: number): Promise<PostRow | undefined> {
    return db<PostRow>('posts').where({ id }).first();
  },

  findByIdForUpdate(trx: Knex.Transaction, id: number): Promise<PostRow | undefined> {
    return trx<PostRow>('posts').where({ id }).forUpdate().first();
  },

  async create(db: Knex, userId: number, body: string): Promise<PostRow> {
    const [row] = await db<PostRow>('posts').insert({ user_id: userId, body }).returning('*');
    return row as PostRow;
  },

  async update(db: Knex, id: number, body: string): Promise<PostRow> {
    const [row] = await db<PostRow>('posts')
      .where({ id })
      .update({ body, updated_at: db.fn.now() as unknown as Date })
      .returning('*');
    return row as PostRow;
  },

  async delete(db: Knex, id: number): Promise<void> {
    await db<PostRow>('posts').where({ id }).delete();
  },

  /** Every post (posts_created_idx). */
  all(db: Knex, at: TimelinePage): Promise<PostRow[]> {
    return page(db<PostRow>('posts').select('*'), at);
  },

  /** How many posts there are (kept by a trigger: nothing is counted). */
  countAll(db: Knex): Promise<number> {
    return rowCount(db, 'posts');
  },

  /** One user's posts (posts_user_created_idx); the total is the user's post_count. */
  byUser(db: Knex, userId: number, at: TimelinePage): Promise<PostRow[]> {
    return page(db<PostRow>('posts').select('*').where({ user_id: userId }), at);
  },

  /**
   * The posts of the users `userId` follows and its own. Plan: for each author, a range
   * scan of posts_user_created_idx takes at most offset + limit of its newest posts past
   * the cursor, and only those are merged and sorted. The cost grows with the number of
   * authors followed and the page size, never with the number of posts in the table; a
   * scan of posts_created_idx filtered by author would instead read through every post
   * newer than the page for a user who follows quiet authors.
   */
  async feed(db: Knex, userId: number, { cursor, offset, limit }: TimelinePage): Promise<PostRow[]> {
    const skip = cursor ? 0 : offset;
    const after = cursor ? 'AND (p.created_at, p.id) < (:createdAt, :cursorId)' : '';
    const { rows } = await db.raw<{ rows: PostRow[] }>(
      `SELECT f.* FROM (
         SELECT followed_id AS id FROM follows WHERE follower_id = :userId
         UNION ALL SELECT :userId
       ) AS a
       CROSS JOIN LATERAL (
         SELECT p.* FROM posts p
         WHERE p.user_id = a.id ${after}
         ORDER BY p.created_at DESC, p.id DESC
         LIMIT :perAuthor
       ) AS f
       ORDER BY f.created_at DESC, f.id DESC
       OFFSET :skip LIMIT :limit`,
      {
        userId,
        perAuthor: skip + limit,
        skip,
        limit,
        ...(cursor ? { createdAt: cursor.createdAt, cursorId: cursor.id } : {}),
      },
    );
    return rows;
  },

  /**
   * How many posts a feed holds: the post counts of its authors, no rows counted. The
   * authors are one list probed by primary key: `id IN (…) OR id = …` made PostgreSQL
   * scan every user instead.
   */
  async feedSize(db: Knex, userId: number): Promise<number> {
    const [row] = await db('users')
      .sum<{ total: number | null }[]>({ total: 'post_count' })
      .whereIn('id', db('follows').select('followed_id').where({ follower_id: userId }).unionAll(db.select(db.raw('?::bigint', [userId]))));
    return Number(row?.total ?? 0);
  },
};
