import type { Knex } from 'knex';

/**
 * Home timelines: a feed page and its size cost the same whoever one follows
 * (docs/performance.md, "The feed").
 *
 * A feed is its owner's posts and the posts of everyone it follows. Reading it from the
 * posts costs a probe per followed user (or a scan of everyone's posts, when the followed
 * are quiet); so is its size, a sum of their post counts. Instead, each post is written, in
 * the transaction that makes it, to the home timeline of each follower (`timeline_entries`:
 * the post's id and time, under the follower), and the size is kept (`feed_counts`); both
 * are moved by triggers: a follow copies the followed user's posts into the follower's
 * timeline and adds their count, an unfollow takes them away, a post adds one entry and one
 * to the count of each follower, a deleted post takes its entries with it and one from
 * each count.
 *
 * That is a write per follower per post, so it is bounded: a follow `fans out` when it is
 * made while the followed user has fewer than feed_fan_out_followers() followers. A post
 * writes to at most that many timelines; the posts of users followed through the other
 * follows, and the reader's own, are merged in when the feed is read, one index range each
 * (a partial index holds those follows: few per reader, they are the users followed by
 * very many). A follow keeps its kind for good, so timelines and counts stay exact whatever
 * the followed user's follower count does later.
 *
 * Locks: a post updates its author's users row (post_count) before it writes to timelines
 * and counts, and a follow updates both users rows before it copies and counts, so a follow
 * and a post by the followed user meet on the author's row and one waits for the other; each
 * then reads the other's committed rows in its next statement (READ COMMITTED), so the post
 * is written and counted exactly once. Counts are locked in user id order, so two posts
 * never deadlock on them; a post's entries are deleted after its author's row is locked,
 * as an unfollow deletes them.
 */
const FAN_OUT_FOLLOWERS = 50;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION feed_fan_out_followers() RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
      AS 'SELECT ${FAN_OUT_FOLLOWERS}';

    ALTER TABLE follows ADD COLUMN fans_out boolean NOT NULL DEFAULT true;
    UPDATE follows f SET fans_out = false
    FROM (
      SELECT follower_id, followed_id,
        row_number() OVER (PARTITION BY followed_id ORDER BY created_at, follower_id) AS rank
      FROM follows
    ) r
    WHERE r.follower_id = f.follower_id AND r.followed_id = f.followed_id AND r.rank > feed_fan_out_followers();
    -- Whose timelines a post is written to (a user followed by 100,000 has at most 50 such rows).
    CREATE INDEX follows_fan_out_idx ON follows (followed_id, follower_id) WHERE fans_out;
    -- The follows whose posts a feed merges in when read.
    CREATE INDEX follows_read_in_idx ON follows (follower_id, followed_id) WHERE NOT fans_out;

    CREATE TABLE timeline_entries (
      user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      created_at timestamp(3) with time zone NOT NULL,
      -- No foreign key: a post's entries are deleted by posts_count, after its author's row
      -- is locked, as an unfollow deletes them; a key's checks would lock the posts a follow
      -- copies, and a post being deleted would wait on its author with the post locked.
      post_id bigint NOT NULL,
      PRIMARY KEY (user_id, created_at, post_id)
    );
    CREATE INDEX timeline_entries_post_idx ON timeline_entries (post_id);
    INSERT INTO timeline_entries (user_id, created_at, post_id)
    SELECT f.follower_id, p.created_at, p.id FROM follows f JOIN posts p ON p.user_id = f.followed_id
    WHERE f.fans_out;

    CREATE TABLE feed_counts (
      user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
      posts bigint NOT NULL CHECK (posts >= 0)
    );
    INSERT INTO feed_counts (user_id, posts)
    SELECT f.follower_id, sum(u.post_count) FROM follows f JOIN users u ON u.id = f.followed_id
    WHERE f.fans_out GROUP BY f.follower_id;

    CREATE FUNCTION follows_fans_out() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.fans_out := coalesce((SELECT follower_count FROM users WHERE id = NEW.followed_id), 0) < feed_fan_out_followers();
      RETURN NEW;
    END $$;
    CREATE TRIGGER follows_fans_out BEFORE INSERT ON follows
      FOR EACH ROW EXECUTE FUNCTION follows_fans_out();

    -- As before (both users rows, in id order), then the follower's timeline and count.
    CREATE OR REPLACE FUNCTION follows_count() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      r follows;
      delta bigint;
    BEGIN
      IF TG_OP = 'INSERT' THEN r := NEW; delta := 1; ELSE r := OLD; delta := -1; END IF;
      IF r.follower_id < r.followed_id THEN
        UPDATE users SET followed_count = followed_count + delta WHERE id = r.follower_id;
        UPDATE users SET follower_count = follower_count + delta WHERE id = r.followed_id;
      ELSE
        UPDATE users SET follower_count = follower_count + delta WHERE id = r.followed_id;
        UPDATE users SET followed_count = followed_count + delta WHERE id = r.follower_id;
      END IF;
      IF r.fans_out AND delta > 0 THEN
        INSERT INTO timeline_entries (user_id, created_at, post_id)
        SELECT r.follower_id, p.created_at, p.id FROM posts p WHERE p.user_id = r.followed_id
        ON CONFLICT DO NOTHING;
        INSERT INTO feed_counts AS c (user_id, posts)
        SELECT r.follower_id, u.post_count FROM users u WHERE u.id = r.followed_id
        ON CONFLICT (user_id) DO UPDATE SET posts = c.posts + EXCLUDED.posts;
      ELSIF r.fans_out THEN
        -- Not found when the followed user is being deleted: users_delete took its posts off,
        -- and its posts' entries go with them.
        DELETE FROM timeline_entries t USING posts p
        WHERE p.user_id = r.followed_id AND t.user_id = r.follower_id AND t.created_at = p.created_at AND t.post_id = p.id;
        UPDATE feed_counts c SET posts = c.posts - u.post_count
        FROM users u WHERE u.id = r.followed_id AND c.user_id = r.follower_id;
      END IF;
      RETURN NULL;
    END $$;

    -- As before (the author's post_count), then each fanned-out follower's timeline and count.
    CREATE OR REPLACE FUNCTION posts_count() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      author bigint;
      author_found boolean;
      delta bigint;
    BEGIN
      IF TG_OP = 'INSERT' THEN author := NEW.user_id; delta := 1; ELSE author := OLD.user_id; delta := -1; END IF;
      UPDATE users SET post_count = post_count + delta WHERE id = author;
      -- Not found when the author is being deleted: users_delete took its posts off.
      author_found := FOUND;
      IF TG_OP = 'DELETE' THEN
        DELETE FROM timeline_entries WHERE post_id = OLD.id;
      END IF;
      IF NOT author_found THEN RETURN NULL; END IF;
      IF TG_OP = 'INSERT' THEN
        INSERT INTO timeline_entries (user_id, created_at, post_id)
        SELECT follower_id, NEW.created_at, NEW.id FROM follows WHERE followed_id = author AND fans_out
        ON CONFLICT DO NOTHING;
      END IF;
      PERFORM 1 FROM feed_counts
      WHERE user_id IN (SELECT follower_id FROM follows WHERE followed_id = author AND fans_out)
      ORDER BY user_id FOR NO KEY UPDATE;
      UPDATE feed_counts SET posts = posts + delta
      WHERE user_id IN (SELECT follower_id FROM follows WHERE followed_id = author AND fans_out);
      RETURN NULL;
    END $$;

    -- A deleted user's follows and posts go through the foreign keys' cascades, whose
    -- triggers run after both cascades, when neither the user's row nor its follows are left
    -- to say whose counts its posts are in: its followers' counts lose its posts here, first.
    CREATE FUNCTION users_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM 1 FROM feed_counts
      WHERE user_id IN (SELECT follower_id FROM follows WHERE followed_id = OLD.id AND fans_out)
      ORDER BY user_id FOR NO KEY UPDATE;
      UPDATE feed_counts SET posts = posts - OLD.post_count
      WHERE user_id IN (SELECT follower_id FROM follows WHERE followed_id = OLD.id AND fans_out);
      RETURN OLD;
    END $$;
    CREATE TRIGGER users_delete BEFORE DELETE ON users
      FOR EACH ROW EXECUTE FUNCTION users_delete();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER users_delete ON users;
    DROP FUNCTION users_delete();
    CREATE OR REPLACE FUNCTION posts_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        UPDATE users SET post_count = post_count + 1 WHERE id = NEW.user_id;
      ELSE
        UPDATE users SET post_count = post_count - 1 WHERE id = OLD.user_id;
      END IF;
      RETURN NULL;
    END $$;
    CREATE OR REPLACE FUNCTION follows_count() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      r follows;
      delta bigint;
    BEGIN
      IF TG_OP = 'INSERT' THEN r := NEW; delta := 1; ELSE r := OLD; delta := -1; END IF;
      IF r.follower_id < r.followed_id THEN
        UPDATE users SET followed_count = followed_count + delta WHERE id = r.follower_id;
        UPDATE users SET follower_count = follower_count + delta WHERE id = r.followed_id;
      ELSE
        UPDATE users SET follower_count = follower_count + delta WHERE id = r.followed_id;
        UPDATE users SET followed_count = followed_count + delta WHERE id = r.follower_id;
      END IF;
      RETURN NULL;
    END $$;
    DROP TRIGGER follows_fans_out ON follows;
    DROP FUNCTION follows_fans_out();
    DROP TABLE feed_counts;
    DROP TABLE timeline_entries;
    ALTER TABLE follows DROP COLUMN fans_out;
    DROP FUNCTION feed_fan_out_followers();
  `);
}
