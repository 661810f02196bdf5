import type { Knex } from 'knex';

/**
 * Private messages and blocks.
 *
 * `messages`: one row per message; a user's received messages and its sent ones are each
 * one index range, newest first (messages_recipient_created_idx, messages_sender_created_idx),
 * which the pages, their totals and the unread count read. `users.last_message_read_time`
 * is when the user last read its received messages (null: never); the unread count is the
 * range of its received messages above it.
 *
 * `blocks`: who blocks whom. The primary key answers "does A block B" and A's list of
 * blocked users by id; blocks_blocked_idx answers "who blocks B" (to hide blockers from B).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE users ADD COLUMN last_message_read_time timestamp(3) with time zone;

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
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE blocks;
    DROP TABLE messages;
    ALTER TABLE users DROP COLUMN last_message_read_time;
  `);
}
