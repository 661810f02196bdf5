import type { Knex } from 'knex';

/** The first key of the advisory locks taken on users' notifications ('noti' in ASCII). */
const LOCK_CLASS = 0x6e6f7469;

/**
 * Notifications: for each user, the latest state of each kind, as in the tutorial (one row
 * per user and name, replaced on every change with a new id and time):
 * `unread_message_count` (its unread messages), `new_follower` (followers gained since it
 * last read its own followers) and `new_post_in_feed` (posts in its home timeline above the
 * newest it was shown at the top of its feed). Triggers keep them in the transaction of the
 * write that changes them, and `pg_notify('notifications', <user id>)` tells every
 * instance's listener (src/services/notifications.ts) at commit, which pushes them to that
 * user's streams.
 *
 * Order: a reader asks for what changed after an id or a time it saw. That is only safe if a
 * user's notifications commit in the order of their ids and times, so every change to a
 * user's notifications first takes a transaction-level advisory lock on that user (two
 * changes for one user wait for each other: the second gets a later id and time, after the
 * first committed); a change to several users (a post's followers) takes them in id order.
 * The lock is the last a transaction takes in each trigger below, so it never waits for a
 * lock while holding one of these.
 *
 * Times carry microseconds (clock_timestamp()), so `since` set to the time of the last one
 * seen skips none and repeats none.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE SEQUENCE notifications_id_seq;
    CREATE TABLE notifications (
      user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      name text NOT NULL CHECK (name IN ('unread_message_count', 'new_follower', 'new_post_in_feed')),
      id bigint NOT NULL,
      data bigint NOT NULL CHECK (data >= 0),
      created_at timestamp with time zone NOT NULL,
      PRIMARY KEY (user_id, name)
    );
    ALTER SEQUENCE notifications_id_seq OWNED BY notifications.id;

    -- Sets (or, with add, adds to) the count of one kind for each of users.
    CREATE FUNCTION notifications_change(kind text, users bigint[], amount bigint, add boolean)
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
      u bigint;
    BEGIN
      FOR u IN SELECT DISTINCT x FROM unnest(users) x ORDER BY x LOOP
        PERFORM pg_advisory_xact_lock(${LOCK_CLASS}, (u % 2147483647)::integer);
      END LOOP;
      INSERT INTO notifications AS n (user_id, name, id, data, created_at)
      SELECT x, kind, nextval('notifications_id_seq'), amount, clock_timestamp() FROM (SELECT DISTINCT x FROM unnest(users) x) s
      ON CONFLICT (user_id, name) DO UPDATE
        SET id = EXCLUDED.id, created_at = EXCLUDED.created_at,
            data = CASE WHEN add THEN n.data + EXCLUDED.data ELSE EXCLUDED.data END;
      PERFORM pg_notify('notifications', x::text) FROM (SELECT DISTINCT x FROM unnest(users) x) s;
    END $$;

    -- What reading the list a kind counts does: back to 0 (and a new notification saying so),
    -- unless it is 0 already, when it writes nothing.
    CREATE FUNCTION notifications_seen(reader bigint, kind text) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM notifications WHERE user_id = reader AND name = kind AND data <> 0) THEN
        PERFORM notifications_change(kind, ARRAY[reader], 0, false);
      END IF;
    END $$;

    -- The reader was shown its feed up to (top_at, top_id): new_post_in_feed becomes the number
    -- of posts in its home timeline above that, counted under the reader's lock, so a post
    -- written meanwhile is either counted here or adds itself after (never lost, never twice).
    CREATE FUNCTION notifications_feed_seen(reader bigint, top_at timestamptz, top_id bigint)
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
      above bigint;
    BEGIN
      PERFORM pg_advisory_xact_lock(${LOCK_CLASS}, (reader % 2147483647)::integer);
      SELECT count(*) INTO above FROM timeline_entries
      WHERE user_id = reader AND (created_at, post_id) > (top_at, top_id);
      IF EXISTS (SELECT 1 FROM notifications WHERE user_id = reader AND name = 'new_post_in_feed' AND data <> above) THEN
        PERFORM notifications_change('new_post_in_feed', ARRAY[reader], above, false);
      END IF;
    END $$;

    CREATE FUNCTION users_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM notifications_change('unread_message_count', ARRAY[NEW.id], NEW.unread_message_count, false);
      RETURN NULL;
    END $$;
    CREATE TRIGGER users_notify AFTER UPDATE OF unread_message_count ON users
      FOR EACH ROW WHEN (OLD.unread_message_count IS DISTINCT FROM NEW.unread_message_count)
      EXECUTE FUNCTION users_notify();

    -- After follows_count (triggers fire in name order), which locks both users rows first.
    CREATE FUNCTION follows_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM notifications_change('new_follower', ARRAY[NEW.followed_id], 1, true);
      RETURN NULL;
    END $$;
    CREATE TRIGGER follows_notify AFTER INSERT ON follows
      FOR EACH ROW EXECUTE FUNCTION follows_notify();

    -- After posts_count, which wrote the post to these followers' timelines: the same
    -- followers (the follows that fan out), so at most feed_fan_out_followers() of them.
    CREATE FUNCTION posts_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      followers bigint[];
    BEGIN
      followers := ARRAY(SELECT follower_id FROM follows WHERE followed_id = NEW.user_id AND fans_out);
      IF cardinality(followers) > 0 THEN
        PERFORM notifications_change('new_post_in_feed', followers, 1, true);
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER posts_notify AFTER INSERT ON posts
      FOR EACH ROW EXECUTE FUNCTION posts_notify();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER posts_notify ON posts;
    DROP FUNCTION posts_notify();
    DROP TRIGGER follows_notify ON follows;
    DROP FUNCTION follows_notify();
    DROP TRIGGER users_notify ON users;
    DROP FUNCTION users_notify();
    DROP FUNCTION notifications_feed_seen(bigint, timestamptz, bigint);
    DROP FUNCTION notifications_seen(bigint, text);
    DROP FUNCTION notifications_change(text, bigint[], bigint, boolean);
    DROP TABLE notifications;
  `);
}
