import type { Knex } from 'knex';
import { rowCount } from './counts.js';
import type { PostRow } from './tables.js';

/** A point in a newest-first timeline: a post's (created_at, id), or a point between two. */
export interface TimelineCursor {
  createdAt: Date;
  id: number;
}

/** Where a timeline page is: strictly below a point (older), or strictly above it (newer). */
export type TimelinePosition = { older: TimelineCursor } | { newer: TimelineCursor };

/**
 * Where a timeline page starts: at a position (constant cost), or at an offset from the top.
 * Going up (`newer`), the page is the `limit` posts just above the point.
 */
export interface TimelinePage {
  position?: TimelinePosition;
  offset: number;
  limit: number;
}

/** `(created_at, id)` against a position, and the order that walks away from it. */
function direction(position: TimelinePosition | undefined, alias = ''): { where?: [string, Knex.RawBinding[]]; order: 'asc' | 'desc' } {
  if (!position) return { order: 'desc' };
  const [op, at, order] = 'newer' in position ? (['>', position.newer, 'asc'] as const) : (['<', position.older, 'desc'] as const);
  return { where: [`(${alias}created_at, ${alias}id) ${op} (?, ?)`, [at.createdAt, at.id]], order };
}

/** Newest first, whichever way the rows were read. */
const newestFirst = <R>(rows: R[], order: 'asc' | 'desc'): R[] => (order === 'asc' ? rows.reverse() : rows);

async function page(query: Knex.QueryBuilder, { position, offset, limit }: TimelinePage): Promise<PostRow[]> {
  const { where, order } = direction(position);
  if (where) query.whereRaw(...where);
  const rows: PostRow[] = await query
    .orderBy([
      { column: 'created_at', order },
      { column: 'id', order },
    ])
    .offset(position ? 0 : offset)
    .limit(limit);
  return newestFirst(rows, order);
}

/**
 * The columns a post is read with: every one but `search` (the body's tsvector, for
 * search only), which would be most of each row's bytes on every timeline read.
 */
export const POST_COLUMNS: (keyof PostRow)[] = ['id', 'user_id', 'body', 'created_at', 'updated_at'];
const P_COLUMNS = POST_COLUMNS.map((c) => `p.${c}`).join(', ');

/** SQL for posts. Timelines are newest first, ties broken by id, so pages are stable. */
export const postsRepository = {
  findById(db: Knex, id: number): Promise<PostRow | undefined> {
    return db<PostRow>('posts').where({ id }).first(POST_COLUMNS);
  },

  findByIdForUpdate(trx: Knex.Transaction, id: number): Promise<PostRow | undefined> {
    return trx<PostRow>('posts').where({ id }).forUpdate().first(POST_COLUMNS);
  },

  async create(db: Knex, userId: number, body: string): Promise<PostRow> {
    const [row] = await db<PostRow>('posts').insert({ user_id: userId, body }).returning(POST_COLUMNS);
    return row as PostRow;
  },

  async update(db: Knex, id: number, body: string): Promise<PostRow> {
    const [row] = await db<PostRow>('posts')
      .where({ id })
      .update({ body, updated_at: db.fn.now() as unknown as Date })
      .returning(POST_COLUMNS);
    return row as PostRow;
  },

  async delete(db: Knex, id: number): Promise<void> {
    await db<PostRow>('posts').where({ id }).delete();
  },

  /** Every post (posts_created_idx). */
  all(db: Knex, at: TimelinePage): Promise<PostRow[]> {
    return page(db<PostRow>('posts').select(POST_COLUMNS), at);
  },

  /** How many posts there are (kept by a trigger: nothing is counted). */
  countAll(db: Knex): Promise<number> {
    return rowCount(db, 'posts');
  },

  /** One user's posts (posts_user_created_idx); the total is the user's post_count. */
  byUser(db: Knex, userId: number, at: TimelinePage): Promise<PostRow[]> {
    return page(db<PostRow>('posts').select(POST_COLUMNS).where({ user_id: userId }), at);
  },

  /**
   * How many posts a feed holds, in one statement whatever the number followed: the
   * owner's posts, the fanned-out follows' sum kept in feed_counts, and the post counts of
   * the few users followed through the other follows (see the home_timelines migration);
   * and, beside it, the owner's new_post_in_feed count (`unseen`), for the feed's read to
   * know whether showing its top changes it.
   */
  async feedSize(db: Knex, userId: number): Promise<{ size: number; unseen: number }> {
    const { rows } = await db.raw<{ rows: { size: string; unseen: string }[] }>(
      `SELECT u.post_count + coalesce(c.posts, 0) + coalesce((
           SELECT sum(a.post_count) FROM follows f JOIN users a ON a.id = f.followed_id
           WHERE f.follower_id = u.id AND NOT f.fans_out), 0) AS size,
         coalesce((SELECT n.data FROM notifications n WHERE n.user_id = u.id AND n.name = 'new_post_in_feed'), 0) AS unseen
       FROM users u LEFT JOIN feed_counts c ON c.user_id = u.id
       WHERE u.id = ?`,
      [userId],
    );
    return { size: Number(rows[0]?.size ?? 0), unseen: Number(rows[0]?.unseen ?? 0) };
  },

  /**
   * A page of the posts of the users `userId` follows and its own: the page's stretch of
   * its home timeline (timeline_entries, written when each post was made), of its own posts
   * and of the posts of each user it follows without fan-out (the users followed by very
   * many), each one index range of at most the page's reach, merged. The cost grows with
   * the page and those few users, never with the number followed or the posts in the table.
   */
  async feed(db: Knex, userId: number, { position, offset, limit }: TimelinePage): Promise<PostRow[]> {
    const { where, order } = direction(position, 'x.');
    const reach = (position ? 0 : offset) + limit;
    // The position, on each source's own (time, id) columns.
    const after = (time: string, id: string) => (where ? `AND ${where[0].replace('x.created_at', time).replace('x.id', id)}` : '');
    const at = where?.[1] ?? [];
    // The sources give keys only (time and id, from their indexes); the page's rows are
    // fetched once the page is known, not a reach's worth from each source.
    const { rows } = await db.raw<{ rows: PostRow[] }>(
      `SELECT ${P_COLUMNS} FROM (
         SELECT created_at, id FROM (
           (SELECT t.created_at, t.post_id AS id FROM timeline_entries t
            WHERE t.user_id = ? ${after('t.created_at', 't.post_id')}
            ORDER BY t.created_at ${order}, t.post_id ${order} LIMIT ?)
           UNION ALL
           (SELECT p.created_at, p.id FROM posts p WHERE p.user_id = ? ${after('p.created_at', 'p.id')}
            ORDER BY p.created_at ${order}, p.id ${order} LIMIT ?)
           UNION ALL
           (SELECT r.* FROM follows f CROSS JOIN LATERAL (
              SELECT p.created_at, p.id FROM posts p WHERE p.user_id = f.followed_id ${after('p.created_at', 'p.id')}
              ORDER BY p.created_at ${order}, p.id ${order} LIMIT ?) AS r
            WHERE f.follower_id = ? AND NOT f.fans_out)
         ) AS keys
         ORDER BY created_at ${order}, id ${order}
         OFFSET ? LIMIT ?
       ) AS page JOIN posts p ON p.id = page.id
       ORDER BY page.created_at ${order}, page.id ${order}`,
      [userId, ...at, reach, userId, ...at, reach, ...at, reach, userId, position ? 0 : offset, limit],
    );
    return newestFirst(rows, order);
  },
};
