import type { Knex } from 'knex';

/**
 * Feed sizes that cost the same whoever one follows (docs/performance.md, "The feed").
 *
 * A feed's size is its owner's posts plus the posts of everyone it follows. Summing the
 * followed users' post counts costs one probe per followed user; instead `feed_counts` keeps
 * the sum, moved by triggers in the transaction that changes it: a follow or unfollow adds or
 * takes away the followed user's post count, a post or a deleted post moves the count of each
 * follower by one.
 *
 * That last step is a write per follower, so it is bounded: a follow is `counted` when it is
 * made while the followed user has fewer than feed_counted_followers() followers. A post
 * moves at most that many counts; the posts of a user followed through an uncounted follow
 * are summed when the feed is read (an index holds just those follows, few per reader). A
 * follow keeps its kind for good, so a count is always right whatever the followed user's
 * follower count does later.
 *
 * Locks: a post updates its author's users row (post_count) before the counts of its
 * followers, and a follow updates both users rows before its follower's count, so a follow
 * and a post by the followed user meet on the author's row and one waits for the other; each
 * then reads the other's committed rows in its next statement (READ COMMITTED), so the post
 * is counted exactly once. Counts are locked in user id order, so two posts never deadlock.
 */
const FEED_COUNTED_FOLLOWERS = 50;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION feed_counted_followers() RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
      AS 'SELECT ${FEED_COUNTED_FOLLOWERS}';

    ALTER TABLE follows ADD COLUMN counted boolean NOT NULL DEFAULT true;
    UPDATE follows f SET counted = false
    FROM (
      SELECT follower_id, followed_id,
        row_number() OVER (PARTITION BY followed_id ORDER BY created_at, follower_id) AS rank
      FROM follows
    ) r
    WHERE r.follower_id = f.follower_id AND r.followed_id = f.followed_id AND r.rank > feed_counted_followers();
    -- Whose counts a post moves (a user followed by 100,000 has at most 50 such rows).
    CREATE INDEX follows_counted_idx ON follows (followed_id, follower_id) WHERE counted;
    -- The follows whose posts a feed sums when read.
    CREATE INDEX follows_uncounted_idx ON follows (follower_id, followed_id) WHERE NOT counted;

    CREATE TABLE feed_counts (
      user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
      posts bigint NOT NULL CHECK (posts >= 0)
    );
    INSERT INTO feed_counts (user_id, posts)
    SELECT f.follower_id, sum(u.post_count) FROM follows f JOIN users u ON u.id = f.followed_id
    WHERE f.counted GROUP BY f.follower_id;

    CREATE FUNCTION follows_counted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.counted := coalesce((SELECT follower_count FROM users WHERE id = NEW.followed_id), 0) < feed_counted_followers();
      RETURN NEW;
    END $$;
    CREATE TRIGGER follows_counted BEFORE INSERT ON follows
      FOR EACH ROW EXECUTE FUNCTION follows_counted();

    -- As before (both users rows, in id order), then the follower's feed count.
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
      IF r.counted AND delta > 0 THEN
        INSERT INTO feed_counts AS c (user_id, posts)
        SELECT r.follower_id, u.post_count FROM users u WHERE u.id = r.followed_id
        ON CONFLICT (user_id) DO UPDATE SET posts = c.posts + EXCLUDED.posts;
      ELSIF r.counted THEN
        -- Not found when the followed user is being deleted: users_delete took its posts off.
        UPDATE feed_counts c SET posts = c.posts - u.post_count
        FROM users u WHERE u.id = r.followed_id AND c.user_id = r.follower_id;
      END IF;
      RETURN NULL;
    END $$;

    -- As before (the author's post_count), then the feed count of each counted follower.
    CREATE OR REPLACE FUNCTION posts_count() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      author bigint;
      delta bigint;
    BEGIN
      IF TG_OP = 'INSERT' THEN author := NEW.user_id; delta := 1; ELSE author := OLD.user_id; delta := -1; END IF;
      UPDATE users SET post_count = post_count + delta WHERE id = author;
      -- Not found when the author is being deleted: users_delete took its posts off.
      IF NOT FOUND THEN RETURN NULL; END IF;
      PERFORM 1 FROM feed_counts
      WHERE user_id IN (SELECT follower_id FROM follows WHERE followed_id = author AND counted)
      ORDER BY user_id FOR NO KEY UPDATE;
      UPDATE feed_counts SET posts = posts + delta
      WHERE user_id IN (SELECT follower_id FROM follows WHERE followed_id = author AND counted);
      RETURN NULL;
    END $$;


    -- A deleted user's follows and posts go through the foreign keys' cascades, whose
    -- triggers run after both cascades, when neither the user's row nor its follows are left
    -- to say whose counts its posts are in: its followers' counts lose its posts here, first.
    CREATE FUNCTION users_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM 1 FROM feed_counts
      WHERE user_id IN (SELECT follower_id FROM follows WHERE followed_id = OLD.id AND counted)
      ORDER BY user_id FOR NO KEY UPDATE;
      UPDATE feed_counts SET posts = posts - OLD.post_count
      WHERE user_id IN (SELECT follower_id FROM follows WHERE followed_id = OLD.id AND counted);
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
    DROP TRIGGER follows_counted ON follows;
    DROP FUNCTION follows_counted();
    DROP TABLE feed_counts;
    ALTER TABLE follows DROP COLUMN counted;
    DROP FUNCTION feed_counted_followers();
  `);
}
