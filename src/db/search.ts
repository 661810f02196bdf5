import { queryRows, type Db } from './database.js';
import { PUBLIC_USER_COLUMNS, type PostRow, type PublicUserRow } from './tables.js';

/**
 * A point in a ranking: a result's relevance, its time (microseconds since 1970) and id,
 * the order results are given in (each descending), so a page after it neither skips nor
 * repeats one.
 */
export interface SearchPosition {
  rank: number;
  atUs: number;
  id: number;
}

/** Where a page of search results starts: after a point in the ranking, or at an offset. */
export interface SearchPage {
  /** What was asked for, trimmed. */
  q: string;
  /** Who asks: users who block them, and their posts, are not found. */
  viewerId: number;
  position?: SearchPosition;
  offset: number;
  limit: number;
}

/** A result: its row, and where it stands in the ranking. */
export type Ranked<R> = R & { rank: number; at_us: number };

export interface SearchResults<R> {
  rows: Ranked<R>[];
  /** How many results there are in all. */
  total: number;
}

/** At most this many distinct words of a query are searched for (100 characters hold 50). */
const MAX_WORDS = 50;

/**
 * The tsquery that matches any of the words of `q`, as SQL over bound parameters: each word
 * (split at white space) goes through plainto_tsquery, which reads it as text and never as
 * tsquery syntax (`&`, `|`, `!`, quotes and backslashes are punctuation to it; a stop word
 * gives an empty query), and the words are joined with `||` (or). Nothing the user sends
 * reaches to_tsquery's parser, so no input is an error.
 */
function anyWord(q: string, values: unknown[]): string {
  const words = [...new Set(q.split(/\s+/u).filter((word) => word !== ''))].slice(0, MAX_WORDS);
  return `(${words
    .map((word) => {
      values.push(word);
      return `plainto_tsquery('english'::regconfig, $${values.length})`;
    })
    .join(' || ')})`;
}

/** Where the ranking resumes, as SQL over bound parameters. */
function after(position: SearchPosition | undefined, values: unknown[]): string {
  if (!position) return '';
  values.push(position.rank, position.atUs, position.id);
  const n = values.length;
  return `WHERE (m.rank, m.at_us, m.id) < ($${n - 2}::float8, $${n - 1}::bigint, $${n}::bigint)`;
}

/**
 * The page of `matches` (a statement giving id, at_us and rank) joined to `table`, and the
 * number of matches, in one statement: the matches are found once, the page is sorted out
 * of them (a top-N sort, whatever the depth a cursor reaches), and only its rows are read.
 */
async function rankedPage<R extends { id: number }>(db: Db, matches: string, table: string, columns: string, values: unknown[], at: SearchPage): Promise<SearchResults<R>> {
  const where = after(at.position, values);
  values.push(at.position ? 0 : at.offset, at.limit);
  const n = values.length;
  const rows = await queryRows<Ranked<R> & { total: number }>(
    db,
    `WITH matches AS MATERIALIZED (${matches}),
     page AS (
       SELECT m.rank, m.at_us, ${columns} FROM (
         SELECT * FROM matches m ${where}
         ORDER BY m.rank DESC, m.at_us DESC, m.id DESC OFFSET $${n - 1} LIMIT $${n}
       ) AS m JOIN ${table} AS t ON t.id = m.id
     )
     SELECT (SELECT count(*) FROM matches) AS total, page.*
     FROM (VALUES (1)) AS one LEFT JOIN page ON true
     ORDER BY page.rank DESC, page.at_us DESC, page.id DESC`,
    values,
  );
  const total = Number(rows[0]?.total ?? 0);
  // The LEFT JOIN gives one row of nulls when the page is empty.
  return { rows: rows.filter((row) => (row.id as number | null) !== null), total };
}

/** Not by a user who blocks the viewer, as SQL over bound parameters (blocks_blocked_idx). */
function notBlocking(column: string, viewerId: number, values: unknown[]): string {
  values.push(viewerId);
  return `NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocked_id = $${values.length} AND b.blocker_id = ${column})`;
}

/** Usernames hold these characters only: anything else cannot start one. */
const USERNAME_PREFIX = /^[A-Za-z0-9_.-]{1,64}$/;

/** SQL for search: full-text search of posts and about_me, prefix search of usernames. */
export const searchRepository = {
  /**
   * Posts holding any word of `q` (posts_search_idx on the generated posts.search), by
   * ts_rank (normalized to rank / (rank + 1)), then newest first, then id.
   */
  posts(db: Db, at: SearchPage): Promise<SearchResults<PostRow>> {
    const values: unknown[] = [];
    const query = anyWord(at.q, values);
    const matches = `
      SELECT p.id, (extract(epoch FROM p.created_at) * 1000000)::bigint AS at_us,
             ts_rank(p.search, ${query}, 32)::float8 AS rank
      FROM posts p WHERE p.search @@ ${query} AND ${notBlocking('p.user_id', at.viewerId, values)}`;
    return rankedPage<PostRow>(db, matches, 'posts', 't.id, t.user_id, t.body, t.created_at, t.updated_at', values, at);
  },

  /**
   * Users whose username starts with `q` (users_username_prefix_idx) or whose about_me
   * holds any of its words (users_about_search_idx). A username equal to `q` ranks 2 above
   * its about_me's rank, one starting with it 1 above (a normalized rank is below 1), so
   * both rank above any match in about_me alone; then the newest account, then id.
   */
  users(db: Db, at: SearchPage): Promise<SearchResults<PublicUserRow>> {
    const values: unknown[] = [];
    const query = anyWord(at.q, values);
    const document = `to_tsvector('english'::regconfig, coalesce(u.about_me, ''))`;
    let name = '0';
    let byName = '';
    if (USERNAME_PREFIX.test(at.q)) {
      // Usernames are ASCII, so lower() here and in the database agree. `_` is LIKE's own.
      const lower = at.q.toLowerCase();
      values.push(lower, `${lower.replace(/[\\%_]/g, '\\$&')}%`);
      const n = values.length;
      name = `CASE WHEN lower(u.username) = $${n - 1} THEN 2 WHEN lower(u.username) LIKE $${n} THEN 1 ELSE 0 END`;
      byName = `lower(u.username) LIKE $${n} OR`;
    }
    const matches = `
      SELECT u.id, (extract(epoch FROM u.created_at) * 1000000)::bigint AS at_us,
             (${name} + ts_rank(${document}, ${query}, 32))::float8 AS rank
      FROM users u WHERE (${byName} ${document} @@ ${query}) AND ${notBlocking('u.id', at.viewerId, values)}`;
    const columns = PUBLIC_USER_COLUMNS.map((c) => `t.${c}`).join(', ');
    return rankedPage<PublicUserRow>(db, matches, 'users', columns, values, at);
  },
};
