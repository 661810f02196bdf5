import type { Knex } from 'knex';

/**
 * One-time password reset tokens, stored only as SHA-256 hashes (as access tokens are): a
 * copy of the table lets no one reset a password. A user has at most one live token (a new
 * request replaces the earlier ones, enforced by the unique user_id), and its rows go with it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('password_resets', (t) => {
    t.bigIncrements('id', { primaryKey: true });
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.binary('token_hash').notNullable().unique({ indexName: 'password_resets_token_hash_key' });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.unique(['user_id'], { indexName: 'password_resets_user_id_key' });
  });
  // For the sweep of expired tokens.
  await knex.raw('CREATE INDEX password_resets_expires_at_idx ON password_resets (expires_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('password_resets');
}
