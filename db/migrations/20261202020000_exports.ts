import type { Knex } from 'knex';

/**
 * Exports of a user's posts, made by background jobs. PostgreSQL holds each export's state
 * of record, so any instance can answer for it and a retried job goes on from where the last
 * attempt stopped: the file's chunks (one per batch of posts, in order), the position reached
 * (the last post written, by created_at then id) and the progress. A chunk's primary key
 * (export_id, seq) is what keeps two workers on one export from writing a batch twice.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE exports (
      id bigserial PRIMARY KEY,
      user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
      progress smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
      -- The user's posts up to created_at, counted when the job first runs: what progress is a share of.
      total bigint,
      post_count bigint NOT NULL DEFAULT 0 CHECK (post_count >= 0),
      chunk_count integer NOT NULL DEFAULT 0 CHECK (chunk_count >= 0),
      cursor_created_at timestamptz,
      cursor_id bigint,
      created_at timestamptz NOT NULL DEFAULT now(),
      started_at timestamptz,
      finished_at timestamptz,
      CHECK ((finished_at IS NULL) = (status IN ('queued', 'running'))),
      CHECK ((cursor_created_at IS NULL) = (cursor_id IS NULL))
    );
    -- One export queued or running per user: a second request gets that one back.
    CREATE UNIQUE INDEX exports_one_unfinished_per_user ON exports (user_id) WHERE status IN ('queued', 'running');
    CREATE INDEX exports_user_idx ON exports (user_id);

    CREATE TABLE export_chunks (
      export_id bigint NOT NULL REFERENCES exports (id) ON DELETE CASCADE,
      seq integer NOT NULL CHECK (seq >= 0),
      -- The batch's posts as JSON objects separated by commas: the file is '[' || chunks joined by ',' || ']'.
      content text NOT NULL,
      PRIMARY KEY (export_id, seq)
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE export_chunks; DROP TABLE exports;');
}
