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

/** What choosing how to read a feed takes: its size, how many it follows, how many posts there are. */
export interface FeedShape {
  /** The posts in the feed. */
  size: number;
  /** The users it follows. */
  followed: number;
  /** The posts of everyone. */
  everyone: number;
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
   * A feed's size and shape in one statement, whatever the number followed: the owner's
   * posts, the counted follows' sum kept in feed_counts, and the post counts of the few
   * users followed through uncounted follows (see the feed_counts migration).
   */
  async feedShape(db: Knex, userId: number): Promise<FeedShape> {
    const { rows } = await db.raw<{ rows: { size: string; followed: number; everyone: string }[] }>(
      `SELECT u.followed_count::int AS followed,
         u.post_count + coalesce(c.posts, 0) + coalesce((
           SELECT sum(a.post_count) FROM follows f JOIN users a ON a.id = f.followed_id
           WHERE f.follower_id = u.id AND NOT f.counted), 0) AS size,
         (SELECT coalesce(sum(n), 0) FROM row_counts WHERE table_name = 'posts') AS everyone
       FROM users u LEFT JOIN feed_counts c ON c.user_id = u.id
       WHERE u.id = ?`,
      [userId],
    );
    const [row] = rows;
    return { size: Number(row?.size ?? 0), followed: row?.followed ?? 0, everyone: Number(row?.everyone ?? 0) };
  },

  /**
   * A page of the posts of the users `userId` follows and its own. Two plans, chosen by the
   * feed's shape (docs/performance.md, "The feed"):
   * - by author: for each author, a range scan of posts_user_created_idx takes its posts
   *   next to the page, and only those are merged. Costs one probe per author: right for
   *   a user who follows few.
   * - by time: a scan of posts_created_idx from the page's position, keeping the posts of
   *   followed authors (one primary-key probe of follows per post read). Reads about
   *   everyone/size posts per post kept: right for a feed that holds a fair share of all
   *   posts. It stops after a bounded number of posts, and the page is read by author if
   *   that did not fill it (authors who posted less of late than on average).
   */
  async feed(db: Knex, userId: number, at: TimelinePage, shape: FeedShape, plan = feedPlan(at, shape)): Promise<PostRow[]> {
    if (shape.size === 0) return [];
    if (plan.by === 'time') {
      // Above a point (pull-to-refresh) lie the few posts that arrived since: read them all.
      const upward = at.position !== undefined && 'newer' in at.position;
      const rows = await feedByTime(db, userId, at, upward ? { ...plan, bound: shape.everyone } : plan);
      if (rows.length === at.limit || upward || plan.bound >= shape.everyone) return rows;
    }
    return feedByAuthor(db, userId, at);
  },
};

/**
 * How to read a feed's page: by author, or by time, reading at most `bound` posts and
 * checking each post's author against the follows one probe at a time (`probe`: fewer posts
 * to read than users followed) or in a hash of all of them, built once.
 */
export type FeedPlan = { by: 'time'; bound: number; probe: boolean } | { by: 'author' };

/** The cheaper plan for a page of a feed of this shape (see postsRepository.feed). */
export function feedPlan(at: TimelinePage, shape: FeedShape): FeedPlan {
  const wanted = (at.position ? 0 : at.offset) + at.limit;
  const byTime = Math.ceil((wanted * shape.everyone) / Math.max(1, shape.size));
  // Measured on the bench's data: an author costs about what 20 posts read by time do, plus its rows.
  const byAuthor = (shape.followed + 1) * (20 + wanted);
  return byTime < byAuthor ? { by: 'time', bound: 4 * byTime + 100, probe: shape.followed > byTime } : { by: 'author' };
}

async function feedByTime(db: Knex, userId: number, { position, offset, limit }: TimelinePage, { bound, probe }: { bound: number; probe: boolean }): Promise<PostRow[]> {
  const { where, order } = direction(position);
  // OFFSET 0 keeps PostgreSQL from turning the EXISTS into a hash of every follow.
  const oneAtATime = probe ? 'OFFSET 0' : '';
  const { rows } = await db.raw<{ rows: PostRow[] }>(
    `SELECT p.* FROM (
       SELECT * FROM posts ${where ? `WHERE ${where[0]}` : ''}
       ORDER BY created_at ${order}, id ${order} LIMIT ?
     ) AS p
     WHERE p.user_id = ? OR EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = ? AND f.followed_id = p.user_id ${oneAtATime})
     ORDER BY p.created_at ${order}, p.id ${order}
     OFFSET ? LIMIT ?`,
    [...(where?.[1] ?? []), bound, userId, userId, position ? 0 : offset, limit],
  );
  return newestFirst(rows, order);
}

async function feedByAuthor(db: Knex, userId: number, { position, offset, limit }: TimelinePage): Promise<PostRow[]> {
  const { where, order } = direction(position, 'p.');
  const skip = position ? 0 : offset;
  const { rows } = await db.raw<{ rows: PostRow[] }>(
    `SELECT f.* FROM (
       SELECT followed_id AS id FROM follows WHERE follower_id = ?
       UNION ALL SELECT ?
     ) AS a
     CROSS JOIN LATERAL (
       SELECT p.* FROM posts p
       WHERE p.user_id = a.id ${where ? `AND ${where[0]}` : ''}
       ORDER BY p.created_at ${order}, p.id ${order}
       LIMIT ?
     ) AS f
     ORDER BY f.created_at ${order}, f.id ${order}
     OFFSET ? LIMIT ?`,
    [userId, userId, ...(where?.[1] ?? []), skip + limit, skip, limit],
  );
  return newestFirst(rows, order);
}
