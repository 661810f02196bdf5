import type { Knex } from 'knex';
import type { Db } from './database.js';
import type { PasswordResetRow } from './tables.js';

/** SQL for password reset tokens, stored only as SHA-256 hashes. */
export const passwordResetsRepository = {
  /**
   * Stores the user's reset token in place of any earlier one: a user has one live token,
   * the one in the latest mail.
   */
  async replace(db: Knex, userId: number, tokenHash: Buffer, expiresAt: Date): Promise<void> {
    await db<PasswordResetRow>('password_resets')
      .insert({ user_id: userId, token_hash: tokenHash, expires_at: expiresAt })
      .onConflict('user_id')
      .merge({ token_hash: tokenHash, expires_at: expiresAt, created_at: db.fn.now() as unknown as Date });
  },

  /** Whether a token with this hash is live (issued, unused, unexpired). */
  async isLive(db: Knex, tokenHash: Buffer): Promise<boolean> {
    const row = await db<PasswordResetRow>('password_resets')
      .select('id')
      .where({ token_hash: tokenHash })
      .andWhere('expires_at', '>', db.fn.now())
      .first();
    return row !== undefined;
  },

  /**
   * Uses up the token with this hash: deletes it (so a second use, even a concurrent one,
   * finds nothing) and returns its user if it had not expired. Undefined for an unknown,
   * used or expired token.
   */
  async consume(trx: Knex.Transaction, tokenHash: Buffer): Promise<number | undefined> {
    const { rows } = await trx.raw<{ rows: { user_id: number; live: boolean }[] }>(
      'DELETE FROM password_resets WHERE token_hash = ? RETURNING user_id, expires_at > now() AS live',
      [tokenHash],
    );
    const [row] = rows;
    return row?.live ? row.user_id : undefined;
  },

  /** Deletes the tokens that expired unused; returns how many. */
  async deleteExpired(db: Db): Promise<number> {
    return db<PasswordResetRow>('password_resets').where('expires_at', '<=', db.fn.now()).delete();
  },
};
