import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { resolveDatabase } from '../db/connect.js';
import { migrateLatest, openDb } from '../db/database.js';
import { seed } from '../db/seed.js';
import { createLogger } from '../logger.js';
import { hashPassword } from '../security/passwords.js';

const usage = `usage: npm run db:seed -- [--users N] [--follows N] [--posts N] [--seed N] [--reset]
Every seeded user's password is "password".`;

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '100' },
    follows: { type: 'string', default: '1000' },
    posts: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    reset: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const count = (name: 'users' | 'follows' | 'posts' | 'seed') => {
  const n = Number(values[name]);
  if (!Number.isSafeInteger(n) || n < 0) {
    process.stderr.write(`db:seed: --${name} must be a whole number, not ${values[name]}\n${usage}\n`);
    process.exit(2);
  }
  return n;
};
const options = { users: count('users'), follows: count('follows'), posts: count('posts'), seed: count('seed') };

const config = loadConfig();
const logger = createLogger(config.logLevel);
const { url, embedded } = await resolveDatabase(config, logger);
const db = openDb({ url, poolMax: 2 });
try {
  await migrateLatest(db);
  const started = performance.now();
  const result = await seed(db, { ...options, reset: values.reset, passwordHash: await hashPassword('password') });
  await db.raw('ANALYZE users, follows, posts');
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  logger.info({ ...result, seed: options.seed, seconds: Number(seconds) }, `seeded ${result.users} users, ${result.follows} follows, ${result.posts} posts in ${seconds} s`);
} finally {
  await db.destroy();
  await embedded?.stop();
}
