import { parseArgs } from 'node:util';
import { seed } from '../db/seed.js';
import { hashPassword } from '../security/passwords.js';
import { withDatabase } from './command.js';

const usage = `usage: npm run db:seed -- [--users N] [--follows N] [--posts N] [--seed N] [--reset]
                        [--celebrity-followers N] [--fan-follows N[,N...]]
Every seeded user's password is "password". --celebrity-followers adds a user celebrity_<id>
followed by N others (new users follower_<id> make up any shortfall); --fan-follows adds a
user fan_<id> who follows N of the seeded users, one such user per number of a comma list
(--fan-follows 5,100,1000: three of them); N cannot exceed --users.`;

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '100' },
    follows: { type: 'string', default: '1000' },
    posts: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    'celebrity-followers': { type: 'string', default: '0' },
    'fan-follows': { type: 'string', default: '0' },
    reset: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const count = (name: 'users' | 'follows' | 'posts' | 'seed' | 'celebrity-followers' | 'fan-follows', text = values[name]) => {
  const n = Number(text);
  if (text === '' || !Number.isSafeInteger(n) || n < 0) {
    process.stderr.write(`db:seed: --${name} must be a whole number${name === 'fan-follows' ? ' or a comma list of them' : ''}, not ${values[name]}\n${usage}\n`);
    process.exit(2);
  }
  return n;
};
const options = {
  users: count('users'),
  follows: count('follows'),
  posts: count('posts'),
  seed: count('seed'),
  celebrityFollowers: count('celebrity-followers'),
  fanFollows: values['fan-follows'].split(',').map((n) => count('fan-follows', n.trim())),
};
const tooMany = options.fanFollows.find((n) => n > options.users);
if (tooMany !== undefined) {
  process.stderr.write(`db:seed: --fan-follows ${tooMany} cannot exceed --users (${options.users}): a fan follows seeded users only\n`);
  process.exit(2);
}

await withDatabase('db:seed', async (db, { logger }) => {
  const started = performance.now();
  const result = await seed(db, { ...options, reset: values.reset, passwordHash: await hashPassword('password') });
  // A bulk load leaves dead row versions (the counters' updates) and unset visibility hints:
  // vacuum now, so that autovacuum does not do it later, under whatever load comes next.
  await db.raw('VACUUM (ANALYZE) users, follows, posts, feed_counts, timeline_entries');
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  logger.info({ ...result, seed: options.seed, seconds: Number(seconds) }, `seeded ${result.users} users, ${result.follows} follows, ${result.posts} posts in ${seconds} s`);
});
