import type { Knex } from 'knex';
import * as core from './20261124000000_core.js';
import * as postsAndIdempotency from './20261124010000_posts_and_idempotency.js';
import * as rowCounts from './20261125000000_row_counts.js';
import * as sessions from './20261202000000_sessions.js';
import * as passwordResets from './20261202010000_password_resets.js';
import * as postExports from './20261202020000_exports.js';
import * as homeTimelines from './20261202030000_home_timelines.js';
import * as search from './20261202040000_search.js';
import * as messagesAndBlocks from './20261202050000_messages_and_blocks.js';
import * as notifications from './20261202060000_notifications.js';

/**
 * Every migration, oldest first. Listed here rather than read from the folder so the same
 * code runs from TypeScript sources (tests) and compiled JavaScript (production).
 */
const migrations: Record<string, Knex.Migration> = {
  '20261124000000_core': core,
  '20261124010000_posts_and_idempotency': postsAndIdempotency,
  '20261125000000_row_counts': rowCounts,
  '20261202000000_sessions': sessions,
  '20261202010000_password_resets': passwordResets,
  '20261202020000_exports': postExports,
  '20261202030000_home_timelines': homeTimelines,
  '20261202040000_search': search,
  '20261202050000_messages_and_blocks': messagesAndBlocks,
  '20261202060000_notifications': notifications,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const migration = migrations[name];
    if (!migration) throw new Error(`unknown migration ${name}`);
    return migration;
  },
};
