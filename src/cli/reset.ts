import { parseArgs } from 'node:util';
import { emptyAllTables } from '../db/seed.js';
import { fail, withDatabase } from './command.js';

/** npm run db:reset -- --yes: deletes all data, keeping the schema; ids start again at 1. */
const usage = `usage: npm run db:reset -- --yes
Deletes every user, follow, post and token from the database the server uses (the embedded
one, or DATABASE_URL's), keeping the schema. A running server goes on serving the empty database.`;

let yes: boolean | undefined;
try {
  ({ yes } = parseArgs({ options: { yes: { type: 'boolean', default: false } } }).values);
} catch (err) {
  fail('db:reset', `${(err as Error).message}\n${usage}`);
}
if (!yes) {
  process.stderr.write(`db:reset: this deletes all data; run it again with --yes to go on\n${usage}\n`);
  process.exit(2);
}
await withDatabase('db:reset', async (db, { logger }) => {
  await emptyAllTables(db);
  logger.info('every user, follow, post and token deleted');
});
