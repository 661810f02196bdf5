import type { Knex } from 'knex';

/**
 * The global timeline index, and the record of requests made with an Idempotency-Key.
 * (A user's timeline and feeds use posts_user_created_idx from the first migration.)
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX posts_created_idx ON posts (created_at DESC, id DESC)');
  await knex.schema.createTable('idempotency_keys', (t) => {
    // The user who sent the key, or 0 for requests made without authentication.
    t.bigInteger('principal').notNullable();
    t.text('key').notNullable();
    // SHA-256 of the method, path and body: the same key with another request is refused.
    t.binary('fingerprint').notNullable();
    t.integer('status').notNullable();
    t.jsonb('headers').notNullable();
    t.jsonb('body');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['principal', 'key']);
    t.index(['created_at'], 'idempotency_keys_created_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('idempotency_keys');
  await knex.raw('DROP INDEX posts_created_idx');
}
