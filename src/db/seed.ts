import type { Knex } from 'knex';

export interface SeedOptions {
  users: number;
  follows: number;
  posts: number;
  /** Makes the data reproducible: the same number, the same data. */
  seed: number;
  /** Stored for every seeded user, so any of them can log in. */
  passwordHash: string;
  /** Empty the tables first. */
  reset: boolean;
  /**
   * Adds a user `celebrity_<id>` followed by this many others: the seeded users first,
   * then as many new users as it takes. 0: none.
   */
  celebrityFollowers?: number;
  /**
   * Adds a user `fan_<id>` who follows this many of the seeded users (the first ones), or
   * one such user per number of a list, in its order. 0: none.
   */
  fanFollows?: number | number[];
}

export interface SeedResult {
  users: number;
  follows: number;
  posts: number;
  /** The id of the user `celebrityFollowers` follow, when asked for. */
  celebrityId?: number;
  /** The id of the (last) user `fanFollows` adds, when asked for. */
  fanId?: number;
  /** The ids of the users `fanFollows` adds, in its order. */
  fanIds?: number[];
}

/** mulberry32: a small, fast PRNG that repeats exactly for a given seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ADJECTIVES = ['quiet', 'brave', 'sunny', 'lucky', 'swift', 'gentle', 'clever', 'curious', 'bold', 'calm', 'eager', 'jolly', 'keen', 'merry', 'proud', 'witty'];
const NOUNS = ['otter', 'falcon', 'maple', 'river', 'comet', 'willow', 'harbor', 'meadow', 'cedar', 'pixel', 'robin', 'sparrow', 'summit', 'tiger', 'valley', 'zephyr'];
const WORDS = [
  'today', 'coffee', 'shipped', 'a', 'new', 'feature', 'the', 'weather', 'is', 'great', 'reading', 'about', 'databases',
  'and', 'APIs', 'walked', 'my', 'dog', 'in', 'park', 'lunch', 'with', 'friends', 'just', 'finished', 'book', 'learning',
  'TypeScript', 'PostgreSQL', 'is', 'fast', 'tomorrow', 'will', 'be', 'busy', 'weekend', 'hiking', 'trip', 'photos', 'soon',
];

const BATCH = 20_000;

/** Deletes every user, follow, post, token and remembered answer; ids start again at 1. */
export async function emptyAllTables(db: Knex): Promise<void> {
  await db.raw('TRUNCATE users, follows, posts, tokens, idempotency_keys RESTART IDENTITY CASCADE');
}

/**
 * Fills the database with users, follows and posts in a few large statements (arrays
 * unnested server-side), with the counter triggers off and the counts computed once at
 * the end, all in one transaction.
 */
export async function seed(db: Knex, options: SeedOptions): Promise<SeedResult> {
  const rand = random(options.seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
  const now = Date.now();
  const year = 365 * 24 * 3600 * 1000;

  return db.transaction(async (trx) => {
    if (options.reset) await emptyAllTables(trx);
    await trx.raw('ALTER TABLE posts DISABLE TRIGGER posts_count, DISABLE TRIGGER posts_notify');
    await trx.raw('ALTER TABLE follows DISABLE TRIGGER follows_count, DISABLE TRIGGER follows_fans_out, DISABLE TRIGGER follows_notify');

    /**
     * Inserts `count` users named `<prefix>_<id>`, or adjective_noun_<id> without a prefix.
     * `followedCount` is what their count will be, so the final count update can skip them.
     */
    const addUsers = async (count: number, prefix?: string, followedCount = 0): Promise<number[]> => {
      const [{ next }] = (await trx.raw('SELECT coalesce(max(id), 0) + 1 AS next FROM users')).rows as [{ next: number }];
      const added: number[] = [];
      for (let start = 0; start < count; start += BATCH) {
        const size = Math.min(BATCH, count - start);
        const names: string[] = [];
        const about: (string | null)[] = [];
        const seen: Date[] = [];
        for (let i = 0; i < size; i++) {
          names.push(`${prefix ?? `${pick(ADJECTIVES)}_${pick(NOUNS)}`}_${next + start + i}`);
          about.push(rand() < 0.7 ? `Hello, I like ${pick(WORDS)} and ${pick(WORDS)}.` : null);
          seen.push(new Date(now - Math.floor(rand() * year)));
        }
        // Ids come from a sequence, so the names above match them only while nothing else inserts.
        const { rows } = await trx.raw<{ rows: { id: number }[] }>(
          `INSERT INTO users (username, email, password_hash, about_me, last_seen, created_at, followed_count)
           SELECT u, u || '@example.com', ?, a, s, s, ? FROM unnest(?::text[], ?::text[], ?::timestamptz[]) AS t(u, a, s)
           RETURNING id`,
          [options.passwordHash, followedCount, names, about, seen] as unknown as Knex.RawBinding[],
        );
        added.push(...rows.map((r) => r.id));
      }
      return added;
    };
    const addFollows = async (followers: number[], followed: number[]): Promise<number> => {
      let added = 0;
      for (let start = 0; start < followers.length; start += BATCH) {
        const result = await trx.raw(
          `INSERT INTO follows (follower_id, followed_id)
           SELECT * FROM unnest(?::bigint[], ?::bigint[]) ON CONFLICT DO NOTHING`,
          [followers.slice(start, start + BATCH), followed.slice(start, start + BATCH)] as unknown as Knex.RawBinding[],
        );
        added += result.rowCount ?? 0;
      }
      return added;
    };

    const ids = await addUsers(options.users);

    let follows = 0;
    if (ids.length > 1) {
      const wanted = Math.min(options.follows, ids.length * (ids.length - 1));
      const pairs = new Set<number>();
      const n = ids.length;
      while (pairs.size < wanted) {
        const a = Math.floor(rand() * n);
        const b = Math.floor(rand() * n);
        if (a !== b) pairs.add(a * n + b);
      }
      const all = [...pairs];
      follows += await addFollows(
        all.map((p) => ids[Math.floor(p / n)] as number),
        all.map((p) => ids[p % n] as number),
      );
    }

    let posts = 0;
    if (ids.length > 0) {
      for (let start = 0; start < options.posts; start += BATCH) {
        const size = Math.min(BATCH, options.posts - start);
        const authors: number[] = [];
        const bodies: string[] = [];
        const times: Date[] = [];
        for (let i = 0; i < size; i++) {
          authors.push(ids[Math.floor(rand() * ids.length)] as number);
          const words: string[] = [];
          const length = 3 + Math.floor(rand() * 15);
          for (let w = 0; w < length; w++) words.push(pick(WORDS));
          bodies.push(words.join(' ').slice(0, 140));
          times.push(new Date(now - Math.floor(rand() * year)));
        }
        await trx.raw(
          `INSERT INTO posts (user_id, body, created_at, updated_at)
           SELECT a, b, t, t FROM unnest(?::bigint[], ?::text[], ?::timestamptz[]) AS x(a, b, t)`,
          [authors, bodies, times] as unknown as Knex.RawBinding[],
        );
        posts += size;
      }
    }

    const extra: Pick<SeedResult, 'celebrityId' | 'fanId' | 'fanIds'> = {};
    let users = ids.length;
    if (options.celebrityFollowers) {
      const [celebrity] = (await addUsers(1, 'celebrity')) as [number];
      const more = await addUsers(Math.max(0, options.celebrityFollowers - ids.length), 'follower', 1);
      const fans = [...ids.slice(0, options.celebrityFollowers), ...more];
      follows += await addFollows(fans, fans.map(() => celebrity));
      users += 1 + more.length;
      extra.celebrityId = celebrity;
    }
    for (const fanFollows of [options.fanFollows ?? []].flat().filter((n) => n > 0)) {
      const [fan] = (await addUsers(1, 'fan')) as [number];
      const followed = ids.slice(0, fanFollows);
      follows += await addFollows(followed.map(() => fan), followed);
      users += 1;
      extra.fanId = fan;
      extra.fanIds = [...(extra.fanIds ?? []), fan];
    }

    // Only the rows whose counts change: rewriting every row would update all its indexes too.
    await trx.raw(`
      UPDATE users u SET post_count = c.posts, follower_count = c.followers, followed_count = c.followed
      FROM (
        SELECT x.id, coalesce(p.n, 0) AS posts, coalesce(fr.n, 0) AS followers, coalesce(fd.n, 0) AS followed
        FROM users x
          LEFT JOIN (SELECT user_id AS id, count(*) AS n FROM posts GROUP BY 1) p ON p.id = x.id
          LEFT JOIN (SELECT followed_id AS id, count(*) AS n FROM follows GROUP BY 1) fr ON fr.id = x.id
          LEFT JOIN (SELECT follower_id AS id, count(*) AS n FROM follows GROUP BY 1) fd ON fd.id = x.id
      ) c
      WHERE u.id = c.id AND (u.post_count, u.follower_count, u.followed_count) IS DISTINCT FROM (c.posts, c.followers, c.followed)`);
    // What the follows' and posts' triggers would have made of them, in order: the first
    // feed_fan_out_followers() follows of each user fan out, into timelines and feed counts.
    await trx.raw(`
      UPDATE follows f SET fans_out = r.fans_out
      FROM (
        SELECT follower_id, followed_id,
          row_number() OVER (PARTITION BY followed_id ORDER BY created_at, follower_id) <= feed_fan_out_followers() AS fans_out
        FROM follows
      ) r
      WHERE r.follower_id = f.follower_id AND r.followed_id = f.followed_id AND r.fans_out IS DISTINCT FROM f.fans_out`);
    await trx.raw('DELETE FROM feed_counts');
    await trx.raw(`
      INSERT INTO feed_counts (user_id, posts)
      SELECT f.follower_id, sum(u.post_count) FROM follows f JOIN users u ON u.id = f.followed_id
      WHERE f.fans_out GROUP BY f.follower_id`);
    await trx.raw(`
      INSERT INTO timeline_entries (user_id, created_at, post_id)
      SELECT f.follower_id, p.created_at, p.id FROM follows f JOIN posts p ON p.user_id = f.followed_id
      WHERE f.fans_out
      ON CONFLICT DO NOTHING`);
    await trx.raw('ALTER TABLE posts ENABLE TRIGGER posts_count, ENABLE TRIGGER posts_notify');
    await trx.raw('ALTER TABLE follows ENABLE TRIGGER follows_count, ENABLE TRIGGER follows_fans_out, ENABLE TRIGGER follows_notify');
    return { users, follows, posts, ...extra };
  });
}
