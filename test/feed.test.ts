/**
 * The feed as read from home timelines, the reader's own posts and the users followed
 * without fan-out, against the definition of a feed, on one scratch database: for users
 * following none, a few, many, quiet authors, and a user followed by more than fan out to,
 * every way of reaching a page (by number, down through `next` cursors, up through `newer`
 * cursors) gives exactly the posts a plain query says, in order, with ties on created_at
 * broken by id. HTTP behaviour is in posts.test.ts; the design and its costs in
 * docs/performance.md ("The feed").
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { closeDb, migrateLatest, openDb, type Db } from '../src/db/database.js';
import { postsRepository } from '../src/db/posts.js';
import type { PostRow } from '../src/db/tables.js';
import { createScratchDatabase } from './support/databases.js';

let db: Db;
let drop: () => Promise<void>;
const readers: Record<string, number> = {};

beforeAll(async () => {
  const scratch = await createScratchDatabase(inject('databaseUrl'), 'feed');
  drop = scratch.drop;
  db = openDb({ url: scratch.url, poolMax: 4 });
  await migrateLatest(db);
  const names = Array.from({ length: 70 }, (_, i) => `u${i}`);
  const ids: number[] = (await db('users').insert(names.map((n) => ({ username: n, email: `${n}@example.com`, password_hash: 'x' }))).returning('id')).map((r: { id: number }) => r.id);
  // 600 posts over a day; one in three shares its created_at with another (ties broken by id).
  // Authors 30–39 posted only in the first hour: "quiet" authors, whose posts lie deep.
  let state = 7;
  const rand = (n: number) => ((state = (state * 1103515245 + 12345) % 2147483648), state % n);
  const start = Date.parse('2026-11-01T00:00:00Z');
  const posts = Array.from({ length: 600 }, (_, i) => {
    const author = ids[i < 60 ? 30 + (i % 10) : rand(30)] as number;
    const at = i < 60 ? start + i * 1000 : start + 3_600_000 + Math.floor(i / 3) * 60_000 + (i % 3 === 0 ? 0 : rand(50_000));
    return { user_id: author, body: `post ${i}`, created_at: new Date(at), updated_at: new Date(at) };
  });
  for (let i = 0; i < posts.length; i += 100) await db('posts').insert(posts.slice(i, i + 100));
  const follow = async (reader: number, followed: number[]) => {
    for (const f of followed) await db('follows').insert({ follower_id: reader, followed_id: f });
  };
  readers.none = ids[0] as number;
  readers.few = ids[1] as number;
  await follow(readers.few, [ids[2] as number, ids[3] as number]);
  readers.many = ids[4] as number;
  await follow(readers.many, ids.filter((id, i) => i !== 4 && i < 30));
  readers.quiet = ids[5] as number;
  await follow(readers.quiet, ids.slice(30));
  readers.everyone = ids[6] as number;
  await follow(readers.everyone, ids.filter((id) => id !== readers.everyone));
  // u7 is followed by every other user, more than posts fan out to: the last to follow it
  // read its posts in when they read their feeds.
  const star = ids[7] as number;
  await follow(ids[8] as number, [star]);
  for (const id of ids.slice(9)) await follow(id, [star]);
  readers.lateFan = ids[69] as number;
  await follow(readers.lateFan, [ids[2] as number]);
  const fanOut = await db('follows').where({ follower_id: readers.lateFan, followed_id: star }).first('fans_out');
  expect(fanOut).toEqual({ fans_out: false });
});

afterAll(async () => {
  await closeDb(db);
  await drop();
});

/** The feed as defined: the reader's posts and those of everyone it follows, newest first. */
async function truth(reader: number): Promise<PostRow[]> {
  return db<PostRow>('posts')
    .where('user_id', reader)
    .orWhereIn('user_id', db('follows').select('followed_id').where({ follower_id: reader }))
    .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]);
}

const idsOf = (rows: PostRow[]) => rows.map((r) => Number(r.id));
const point = (row: PostRow) => ({ createdAt: row.created_at, id: Number(row.id) });

describe('the feed', () => {
  it('has the size its counts say, for every reader', async () => {
    for (const [name, reader] of Object.entries(readers)) {
      expect((await postsRepository.feedSize(db, reader)).size, name).toBe((await truth(reader)).length);
    }
  });

  it('gives every page by number exactly', async () => {
    for (const [name, reader] of Object.entries(readers)) {
      const all = idsOf(await truth(reader));
      for (const perPage of [1, 7, 50]) {
        for (let offset = 0; offset <= all.length; offset += perPage * 3) {
          const rows = await postsRepository.feed(db, reader, { offset, limit: perPage });
          expect(idsOf(rows), `${name}, offset ${offset}, per_page ${perPage}`).toEqual(all.slice(offset, offset + perPage));
        }
      }
    }
  });

  it('walks down through cursors and up through newer cursors without skipping or repeating a post', async () => {
    for (const [name, reader] of Object.entries(readers)) {
      const all = await truth(reader);
      for (const perPage of [1, 9]) {
        const down: PostRow[] = [];
        let page = await postsRepository.feed(db, reader, { offset: 0, limit: perPage });
        while (page.length) {
          down.push(...page);
          const last = page[page.length - 1] as PostRow;
          page = await postsRepository.feed(db, reader, { position: { older: point(last) }, offset: 0, limit: perPage });
        }
        expect(idsOf(down), `${name}, down, per_page ${perPage}`).toEqual(idsOf(all));

        // Up from the bottom: each page is the per_page posts just above the last one's first.
        const up: PostRow[] = [];
        let above = { createdAt: new Date(0), id: 0 };
        for (;;) {
          const rows = await postsRepository.feed(db, reader, { position: { newer: above }, offset: 0, limit: perPage });
          if (!rows.length) break;
          up.unshift(...rows);
          above = point(rows[0] as PostRow);
        }
        expect(idsOf(up), `${name}, up, per_page ${perPage}`).toEqual(idsOf(all));
      }
    }
  });

});
