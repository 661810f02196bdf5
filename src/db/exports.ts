import type { Knex } from 'knex';
import { POST_COLUMNS } from './posts.js';
import type { ExportRow, PostRow } from './tables.js';

/** Where the next batch of an export starts: after this post (newest first), or at the top. */
export interface ExportPosition {
  createdAt: Date;
  id: number;
}

/** What one batch adds to an export. */
export interface ExportBatch {
  /** The chunk's number, which must be the export's chunk_count (else another worker wrote it). */
  seq: number;
  /** The batch's posts as JSON objects separated by commas. */
  content: string;
  posts: number;
  /** The last post of the batch: where the next one starts. */
  last: ExportPosition;
}

const UNFINISHED = ['queued', 'running'];

/** SQL for exports of a user's posts and the chunks of their files. */
export const exportsRepository = {
  /**
   * A new export queued for `userId`, or the one already queued or running (a user has at
   * most one: exports_one_unfinished_per_user decides between racing requests).
   */
  async createOrFindUnfinished(db: Knex, userId: number): Promise<{ row: ExportRow; created: boolean }> {
    for (;;) {
      const { rows } = await db.raw<{ rows: ExportRow[] }>(
        `INSERT INTO exports (user_id) VALUES (?)
         ON CONFLICT (user_id) WHERE status IN ('queued', 'running') DO NOTHING
         RETURNING *`,
        [userId],
      );
      if (rows[0]) return { row: rows[0], created: true };
      const existing = await db<ExportRow>('exports').where({ user_id: userId }).whereIn('status', UNFINISHED).first();
      // Else it finished between the two statements: try again.
      if (existing) return { row: existing, created: false };
    }
  },

  /** An export, only when `userId` asked for it. */
  findOfUser(db: Knex, id: number, userId: number): Promise<ExportRow | undefined> {
    return db<ExportRow>('exports').where({ id, user_id: userId }).first();
  },

  findById(db: Knex, id: number): Promise<ExportRow | undefined> {
    return db<ExportRow>('exports').where({ id }).first();
  },

  /** Exports still to finish, oldest first. */
  async unfinishedIds(db: Knex): Promise<number[]> {
    const rows = await db<ExportRow>('exports').select('id').whereIn('status', UNFINISHED).orderBy('id');
    return rows.map((row) => row.id);
  },

  /**
   * Marks an unfinished export running, counting on the first run the posts it will hold
   * (posts_user_created_idx); undefined when it is done, failed or gone.
   */
  async start(db: Knex, id: number): Promise<ExportRow | undefined> {
    const { rows } = await db.raw<{ rows: ExportRow[] }>(
      `UPDATE exports e SET status = 'running', started_at = coalesce(e.started_at, now()),
         total = coalesce(e.total, (SELECT count(*) FROM posts p WHERE p.user_id = e.user_id AND p.created_at <= e.created_at))
       WHERE e.id = ? AND e.status IN ('queued', 'running')
       RETURNING e.*`,
      [id],
    );
    return rows[0];
  },

  /**
   * The next `limit` posts of an export, newest first: posts written up to the export's
   * request, after `after` (keyset on posts_user_created_idx, constant cost per batch).
   */
  nextPosts(db: Knex, row: Pick<ExportRow, 'user_id' | 'created_at'>, after: ExportPosition | undefined, limit: number): Promise<PostRow[]> {
    const query = db<PostRow>('posts').select(POST_COLUMNS).where({ user_id: row.user_id }).where('created_at', '<=', row.created_at);
    if (after) query.whereRaw('(created_at, id) < (?, ?)', [after.createdAt, after.id]);
    return query
      .orderBy([
        { column: 'created_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .limit(limit);
  },

  /**
   * Adds a batch's chunk and moves the export's position, in one transaction; false when
   * the export is no longer this worker's to write (another wrote chunk `seq` first, or it
   * finished). The row lock makes a second writer of the same chunk wait, then find
   * chunk_count moved on.
   */
  appendBatch(db: Knex, id: number, batch: ExportBatch, progress: number): Promise<boolean> {
    return db.transaction(async (trx) => {
      const moved = await trx('exports')
        .where({ id, chunk_count: batch.seq, status: 'running' })
        .update({
          chunk_count: batch.seq + 1,
          post_count: trx.raw('post_count + ?', [batch.posts]),
          cursor_created_at: batch.last.createdAt,
          cursor_id: batch.last.id,
          progress,
        });
      if (moved === 0) return false;
      await trx('export_chunks').insert({ export_id: id, seq: batch.seq, content: batch.content });
      return true;
    });
  },

  /** Marks a running export done once it holds `chunkCount` chunks; false when it had moved on. */
  async finish(db: Knex, id: number, chunkCount: number): Promise<boolean> {
    const moved = await db('exports')
      .where({ id, chunk_count: chunkCount, status: 'running' })
      .update({ status: 'done', progress: 100, finished_at: db.fn.now() });
    return moved > 0;
  },

  /** Marks an unfinished export failed, its chunks dropped (no file will be served from them). */
  fail(db: Knex, id: number): Promise<void> {
    return db.transaction(async (trx) => {
      const moved = await trx('exports').where({ id }).whereIn('status', UNFINISHED).update({ status: 'failed', finished_at: trx.fn.now() });
      if (moved > 0) await trx('export_chunks').where({ export_id: id }).delete();
    });
  },

  /** One chunk of a done export's file. */
  async chunk(db: Knex, id: number, seq: number): Promise<string | undefined> {
    const row = await db<{ export_id: number; seq: number; content: string }>('export_chunks').select('content').where({ export_id: id, seq }).first();
    return row?.content;
  },
};
