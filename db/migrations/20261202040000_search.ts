import type { Knex } from 'knex';

/**
 * Search (docs/performance.md, "Search"): `GET /api/posts?q=` and `GET /api/users?q=`.
 *
 * Posts: words are found through a `tsvector` of each body, kept by PostgreSQL itself as a
 * generated column (written by the statement, hence in the transaction, that writes the
 * body), under a GIN index. The document is stored rather than only indexed (an expression
 * index on to_tsvector(body)) because ranking reads it for every match, and a common word
 * matches many posts: "coffee" is in about 22,000 of the bench's 100,000, and recomputing
 * to_tsvector for each costs several times reading the stored one. The 'english'
 * configuration stems ("coffees" finds "coffee") and leaves out stop words ("the").
 * Adding a stored generated column rewrites the table under an ACCESS EXCLUSIVE lock: on
 * the bench's 100,000 posts this migration takes about a second (docs/performance.md); a
 * table of many millions would rather get a plain column filled in batches by a trigger.
 *
 * Users: about_me is searched through an expression index instead. Every authenticated
 * request reads its user's whole row (`u.*`), which a stored document would lengthen, and a
 * word matches few users (an about_me holds a sentence), so recomputing their documents to
 * rank them is cheap. Usernames are found by prefix: a btree on lower(username) with
 * text_pattern_ops serves `lower(username) LIKE 'abc%'` under any collation (the unique
 * index on lower(username) does only under "C").
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE posts ADD COLUMN search tsvector
      GENERATED ALWAYS AS (to_tsvector('english'::regconfig, body)) STORED;
    CREATE INDEX posts_search_idx ON posts USING gin (search);

    CREATE INDEX users_about_search_idx ON users USING gin (to_tsvector('english'::regconfig, coalesce(about_me, '')));
    CREATE INDEX users_username_prefix_idx ON users (lower(username) text_pattern_ops);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX users_username_prefix_idx;
    DROP INDEX users_about_search_idx;
    ALTER TABLE posts DROP COLUMN search;
  `);
}
