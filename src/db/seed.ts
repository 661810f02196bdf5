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
}

export interface SeedResult {
  users: number;
  follows: number;
  posts: number;
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
    if (options.reset) {
      await trx.raw('TRUNCATE users, follows, posts, tokens, idempotency_keys RESTART IDENTITY CASCADE');
    }
    await trx.raw('ALTER TABLE posts DISABLE TRIGGER posts_count');
    await trx.raw('ALTER TABLE follows DISABLE TRIGGER follows_count');

    const [{ next }] = (await trx.raw('SELECT coalesce(max(id), 0) + 1 AS next FROM users')).rows as [{ next: number }];
    const ids: number[] = [];
    for (let start = 0; start < options.users; start += BATCH) {
      const size = Math.min(BATCH, options.users - start);
      const names: string[] = [];
      const about: (string | null)[] = [];
      const seen: Date[] = [];
      for (let i = 0; i < size; i++) {
        names.push(`${pick(ADJECTIVES)}_${pick(NOUNS)}_${next + start + i}`);
        about.push(rand() < 0.7 ? `Hello, I like ${pick(WORDS)} and ${pick(WORDS)}.` : null);
        seen.push(new Date(now - Math.floor(rand() * year)));
      }
      const { rows } = await trx.raw<{ rows: { id: number }[] }>(
        `INSERT INTO users (username, email, password_hash, about_me, last_seen, created_at)
         SELECT u, u || '@example.com', ?, a, s, s FROM unnest(?::text[], ?::text[], ?::timestamptz[]) AS t(u, a, s)
         RETURNING id`,
        [options.passwordHash, names, about, seen] as unknown as Knex.RawBinding[],
      );
      ids.push(...rows.map((r) => r.id));
    }

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
      for (let start = 0; start < all.length; start += BATCH) {
        const chunk = all.slice(start, start + BATCH);
        const result = await trx.raw(
          `INSERT INTO follows (follower_id, followed_id)
           SELECT * FROM unnest(?::bigint[], ?::bigint[]) ON CONFLICT DO NOTHING`,
          [chunk.map((p) => ids[Math.floor(p / n)]), chunk.map((p) => ids[p % n])] as unknown as Knex.RawBinding[],
        );
        follows += result.rowCount ?? 0;
      }
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

    await trx.raw(`
      UPDATE users u SET
        post_count = coalesce(p.n, 0), follower_count = coalesce(fr.n, 0), followed_count = coalesce(fd.n, 0)
      FROM users x
        LEFT JOIN (SELECT user_id AS id, count(*) AS n FROM posts GROUP BY 1) p ON p.id = x.id
        LEFT JOIN (SELECT followed_id AS id, count(*) AS n FROM follows GROUP BY 1) fr ON fr.id = x.id
        LEFT JOIN (SELECT follower_id AS id, count(*) AS n FROM follows GROUP BY 1) fd ON fd.id = x.id
      WHERE u.id = x.id`);
    await trx.raw('ALTER TABLE posts ENABLE TRIGGER posts_count');
    await trx.raw('ALTER TABLE follows ENABLE TRIGGER follows_count');
    return { users: ids.length, follows, posts };
  });
}
