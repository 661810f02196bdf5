import type { Knex } from 'knex';
import type { IdempotencyKeyRow } from './tables.js';

export interface StoredAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** SQL for the answers remembered under an Idempotency-Key (for 24 hours). */
export const idempotencyRepository = {
  /**
   * Claims the key for this transaction, or returns the answer stored under it. An answer
   * older than 24 hours is overwritten, so its key is claimed afresh. A second claim of a
   * key whose first request is still running waits on the unique index until that
   * transaction ends: then it sees the stored answer, or (if the first failed and rolled
   * back) claims the key itself.
   */
  async claim(trx: Knex.Transaction, principal: number, key: string, fingerprint: Buffer): Promise<IdempotencyKeyRow | undefined> {
    const { rows } = await trx.raw<{ rows: unknown[] }>(
      `INSERT INTO idempotency_keys (principal, key, fingerprint, status, headers)
       VALUES (?, ?, ?, 0, '{}')
       ON CONFLICT (principal, key) DO UPDATE
         SET fingerprint = EXCLUDED.fingerprint, status = 0, headers = '{}', body = NULL, created_at = now()
         WHERE idempotency_keys.created_at < now() - interval '24 hours'
       RETURNING key`,
      [principal, key, fingerprint],
    );
    if (rows.length > 0) return undefined;
    return trx<IdempotencyKeyRow>('idempotency_keys').where({ principal, key }).first();
  },

  async complete(trx: Knex.Transaction, principal: number, key: string, answer: StoredAnswer): Promise<void> {
    await trx('idempotency_keys')
      .where({ principal, key })
      .update({ status: answer.status, headers: answer.headers, body: JSON.stringify(answer.body) });
  },

  /**
   * Forgets answers older than 24 hours, `batch` rows per statement: one statement for a
   * large backlog would run into the statement timeout, fail every hour, and let it grow.
   */
  async deleteExpired(db: Knex, batch = 5000): Promise<number> {
    let deleted = 0;
    for (;;) {
      const { rowCount } = await db.raw<{ rowCount: number }>(
        `DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY(
           SELECT ctid FROM idempotency_keys WHERE created_at < now() - interval '24 hours' LIMIT ?))`,
        [batch],
      );
      deleted += rowCount;
      if (rowCount < batch) return deleted;
    }
  },
};
