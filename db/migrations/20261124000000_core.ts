import type { Knex } from 'knex';

/**
 * Users, follows, posts and tokens. The schema carries every rule it can: case-insensitive
 * uniqueness, foreign keys, no self-follow, lengths. Counts live on the user row and are
 * kept exact by triggers, so reading a user never counts rows.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.bigIncrements('id', { primaryKey: true });
    t.text('username').notNullable();
    t.text('email').notNullable();
    t.text('password_hash').notNullable();
    t.text('about_me');
    t.timestamp('last_seen', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.bigInteger('post_count').notNullable().defaultTo(0);
    t.bigInteger('follower_count').notNullable().defaultTo(0);
    t.bigInteger('followed_count').notNullable().defaultTo(0);
  });
  await knex.raw(`
    ALTER TABLE users
      ADD CONSTRAINT users_username_format CHECK (username ~ '^[A-Za-z0-9_.-]{1,64}$'),
      ADD CONSTRAINT users_email_length CHECK (char_length(email) BETWEEN 3 AND 120),
      ADD CONSTRAINT users_about_me_length CHECK (char_length(about_me) <= 140),
      ADD CONSTRAINT users_counts_nonnegative
        CHECK (post_count >= 0 AND follower_count >= 0 AND followed_count >= 0);
    CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
    CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
  `);

  await knex.schema.createTable('follows', (t) => {
    t.bigInteger('follower_id').notNullable().references('users.id').onDelete('CASCADE');
    t.bigInteger('followed_id').notNullable().references('users.id').onDelete('CASCADE');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['follower_id', 'followed_id']);
    t.index(['followed_id', 'follower_id'], 'follows_followed_follower_idx');
  });
  await knex.raw(
    'ALTER TABLE follows ADD CONSTRAINT follows_no_self_follow CHECK (follower_id <> followed_id)',
  );

  await knex.schema.createTable('posts', (t) => {
    t.bigIncrements('id', { primaryKey: true });
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('body').notNullable();
    // Millisecond precision: what JSON timestamps and keyset cursors carry, exactly.
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`
    ALTER TABLE posts ADD CONSTRAINT posts_body_length CHECK (char_length(body) BETWEEN 1 AND 140);
    CREATE INDEX posts_user_created_idx ON posts (user_id, created_at DESC, id DESC);
  `);

  await knex.schema.createTable('tokens', (t) => {
    t.bigIncrements('id', { primaryKey: true });
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.binary('token_hash').notNullable().unique({ indexName: 'tokens_token_hash_key' });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.index(['user_id'], 'tokens_user_id_idx');
  });

  // Counters: one row update per change, locked in id order so that two users following
  // each other at the same moment cannot deadlock.
  await knex.raw(`
    CREATE FUNCTION follows_count() RETURNS trigger LANGUAGE plpgsql AS $$
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
    CREATE TRIGGER follows_count AFTER INSERT OR DELETE ON follows
      FOR EACH ROW EXECUTE FUNCTION follows_count();

    CREATE FUNCTION posts_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        UPDATE users SET post_count = post_count + 1 WHERE id = NEW.user_id;
      ELSE
        UPDATE users SET post_count = post_count - 1 WHERE id = OLD.user_id;
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER posts_count AFTER INSERT OR DELETE ON posts
      FOR EACH ROW EXECUTE FUNCTION posts_count();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('tokens');
  await knex.schema.dropTable('posts');
  await knex.schema.dropTable('follows');
  await knex.schema.dropTable('users');
  await knex.raw('DROP FUNCTION IF EXISTS follows_count(); DROP FUNCTION IF EXISTS posts_count();');
}
