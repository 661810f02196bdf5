import type { Knex } from 'knex';

/**
 * Private messages and blocks.
 *
 * `messages`: one row per message; a user's received messages and its sent ones are each
 * one index range, newest first (messages_recipient_created_idx, messages_sender_created_idx),
 * which the pages and their totals read. `users.last_message_read_time` is when the user
 * last read its received messages (null: never), and `users.unread_message_count` how many
 * have arrived since: a trigger adds each message to its recipient's count, in the
 * message's transaction, and reading the list sets it to 0. So one's own user record,
 * read with the token on every request, carries it without a statement of its own. Both
 * lock the recipient's users row, so the count is the messages committed after the read.
 *
 * `blocks`: who blocks whom. The primary key answers "does A block B" and A's list of
 * blocked users by id; blocks_blocked_idx answers "who blocks B" (to hide blockers from B).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE users ADD COLUMN last_message_read_time timestamp(3) with time zone;
    ALTER TABLE users ADD COLUMN unread_message_count integer NOT NULL DEFAULT 0 CHECK (unread_message_count >= 0);

    CREATE TABLE messages (
      id bigserial PRIMARY KEY,
      sender_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      recipient_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      body text NOT NULL,
      -- Millisecond precision: what JSON timestamps and keyset cursors carry, exactly.
      created_at timestamp(3) with time zone NOT NULL DEFAULT now(),
      CONSTRAINT messages_body_length CHECK (char_length(body) BETWEEN 1 AND 140),
      CONSTRAINT messages_no_self_message CHECK (sender_id <> recipient_id)
    );
    CREATE INDEX messages_recipient_created_idx ON messages (recipient_id, created_at DESC, id DESC);
    CREATE INDEX messages_sender_created_idx ON messages (sender_id, created_at DESC, id DESC);

    CREATE TABLE blocks (
      blocker_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      blocked_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      created_at timestamp with time zone NOT NULL DEFAULT now(),
      PRIMARY KEY (blocker_id, blocked_id),
      CONSTRAINT blocks_no_self_block CHECK (blocker_id <> blocked_id)
    );
    CREATE INDEX blocks_blocked_idx ON blocks (blocked_id, blocker_id);

    CREATE FUNCTION messages_unread() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        UPDATE users SET unread_message_count = unread_message_count + 1 WHERE id = NEW.recipient_id;
      ELSE
        -- Messages go only with their sender or recipient (cascades): one not yet read leaves the count.
        UPDATE users SET unread_message_count = greatest(0, unread_message_count - 1)
        WHERE id = OLD.recipient_id AND OLD.created_at > coalesce(last_message_read_time, '-infinity');
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER messages_unread AFTER INSERT OR DELETE ON messages
      FOR EACH ROW EXECUTE FUNCTION messages_unread();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE blocks;
    DROP TABLE messages;
    DROP FUNCTION messages_unread();
    ALTER TABLE users DROP COLUMN unread_message_count;
    ALTER TABLE users DROP COLUMN last_message_read_time;
  `);
}
