import type { Knex } from 'knex';
import { exportsRepository } from '../db/exports.js';
import type { ExportRow, PostRow } from '../db/tables.js';

/** Where exports asked for go to be run: a queue on Redis, or this process. */
export interface ExportQueue {
  enqueue(exportId: number): Promise<void>;
}

/** Asks for an export of the user's posts: a new one, queued, or the one already under way. */
export async function requestExport(db: Knex, queue: ExportQueue | undefined, userId: number): Promise<{ row: ExportRow; created: boolean }> {
  const result = await exportsRepository.createOrFindUnfinished(db, userId);
  // Queued in PostgreSQL whatever happens here: the runners pick unfinished exports up again at start.
  if (queue) await queue.enqueue(result.row.id);
  return result;
}

export interface ExportJobOptions {
  /** Posts per batch: one SELECT and one chunk written per batch. */
  batchSize: number;
  /** A post as the file holds it (the contract's Post representation). */
  render: (row: PostRow) => unknown;
  /** Checked between batches: true stops the job with its position kept, to be taken up again. */
  shouldStop?: () => boolean;
  /** Called once the export is running, before its first batch. */
  onStart?: (row: ExportRow) => void;
  /** Called after each batch with the progress written. */
  onProgress?: (progress: number, row: ExportRow) => void | Promise<void>;
}

/**
 * How a run ended: `done`; `stopped` when asked to, to be taken up again; `gone` when the
 * export is done, failed or deleted already; `lost` when another worker is writing it.
 */
export type ExportOutcome = 'done' | 'stopped' | 'gone' | 'lost';

/** Progress while running: the share of the posts written, never 100 before the end. */
export function progressOf(postCount: number, total: number | null): number {
  if (!total) return 0;
  return Math.min(99, Math.floor((postCount * 100) / total));
}

/**
 * Runs an export from where it stands: batch after batch of the user's posts, newest first,
 * each written with the position it reached in one transaction, so a run that dies (a
 * killed process, a lost database) is taken up again after its last batch, never writing
 * a post twice.
 */
export async function runExport(db: Knex, exportId: number, options: ExportJobOptions): Promise<{ outcome: ExportOutcome; resumedAt: number }> {
  let row = await exportsRepository.start(db, exportId);
  if (!row) return { outcome: 'gone', resumedAt: 0 };
  const resumedAt = row.post_count;
  options.onStart?.(row);
  let seq = row.chunk_count;
  let postCount = row.post_count;
  let after = row.cursor_created_at && row.cursor_id !== null ? { createdAt: row.cursor_created_at, id: row.cursor_id } : undefined;
  for (;;) {
    if (options.shouldStop?.()) return { outcome: 'stopped', resumedAt };
    const posts = await exportsRepository.nextPosts(db, row, after, options.batchSize);
    const last = posts.at(-1);
    if (last) {
      const content = posts.map((post) => JSON.stringify(options.render(post))).join(',');
      postCount += posts.length;
      const progress = progressOf(postCount, row.total);
      after = { createdAt: last.created_at, id: last.id };
      if (!(await exportsRepository.appendBatch(db, exportId, { seq, content, posts: posts.length, last: after }, progress))) {
        return { outcome: 'lost', resumedAt };
      }
      seq += 1;
      row = { ...row, chunk_count: seq, post_count: postCount, progress };
      await options.onProgress?.(progress, row);
    }
    if (posts.length < options.batchSize) {
      return { outcome: (await exportsRepository.finish(db, exportId, seq)) ? 'done' : 'lost', resumedAt };
    }
  }
}

/** Gives up on an export that kept failing: it is marked failed, and a new one can be asked for. */
export function failExport(db: Knex, exportId: number): Promise<void> {
  return exportsRepository.fail(db, exportId);
}

/** Exports queued or running, oldest first: what a runner takes up again at start. */
export function unfinishedExports(db: Knex): Promise<number[]> {
  return exportsRepository.unfinishedIds(db);
}
