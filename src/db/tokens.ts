import type { Knex } from 'knex';
import { queryRows, type Db } from './database.js';
import type { TokenRow, UserRow } from './tables.js';

const FIND_ACTIVE = `SELECT u.*, t.id AS token_id, u.last_seen < now() - interval '1 minute' AS seen_long_ago
  FROM tokens t JOIN users u ON u.id = t.user_id
  WHERE t.token_hash = $1 AND t.expires_at > now()`;

export type TokenWithUser = {
  token_id: number;
  user: UserRow;
  /** Whether the user's last_seen is more than a minute old, so due to move. */
  seenLongAgo: boolean;
};

/** SQL for access tokens, which are stored only as SHA-256 hashes. */
export const tokensRepository = {
  async create(db: Knex, userId: number, tokenHash: Buffer, expiresAt: Date): Promise<TokenRow> {
    const [row] = await db<TokenRow>('tokens')
      .insert({ user_id: userId, token_hash: tokenHash, expires_at: expiresAt })
      .returning('*');
    return row as TokenRow;
  },

  /** The unexpired token with this hash and its user, in one round trip (every request sends it). */
  async findActive(db: Db, tokenHash: Buffer): Promise<TokenWithUser | undefined> {
    const [row] = await queryRows<UserRow & { token_id: number; seen_long_ago: boolean }>(db, FIND_ACTIVE, [tokenHash]);
    if (!row) return undefined;
    const { token_id, seen_long_ago, ...user } = row as UserRow & { token_id: number; seen_long_ago: boolean };
    return { token_id, user, seenLongAgo: seen_long_ago };
  },

  async delete(db: Knex, id: number): Promise<void> {
    await db<TokenRow>('tokens').where({ id }).delete();
  },

  /** Revokes every token of the user but the one given (null: every token). */
  async deleteAllOfUserExcept(db: Knex, userId: number, keepId: number | null): Promise<void> {
    const query = db<TokenRow>('tokens').where({ user_id: userId });
    if (keepId !== null) query.andWhereNot({ id: keepId });
    await query.delete();
  },

  async deleteExpiredOfUser(db: Knex, userId: number): Promise<void> {
    await db<TokenRow>('tokens').where({ user_id: userId }).andWhere('expires_at', '<=', db.fn.now()).delete();
  },
};
