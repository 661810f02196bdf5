import type { Knex } from 'knex';
import { queryRows, type Db } from './database.js';
import type { UserRow } from './tables.js';

const FIND_ACTIVE = `SELECT u.*, t.id AS token_id, t.session_id, u.last_seen < now() - interval '1 minute' AS seen_long_ago
  FROM tokens t JOIN users u ON u.id = t.user_id
  WHERE t.token_hash = $1 AND t.expires_at > now()`;

export type TokenWithUser = {
  token_id: number;
  session_id: number;
  user: UserRow;
  /** Whether the user's last_seen is more than a minute old, so due to move. */
  seenLongAgo: boolean;
};

/** SQL for access tokens, which are stored only as SHA-256 hashes. Each belongs to a session. */
export const tokensRepository = {
  /** A new access token of the session, expiring `ttlSeconds` from now by the database's clock. */
  async create(db: Knex, userId: number, sessionId: number, tokenHash: Buffer, ttlSeconds: number): Promise<{ id: number; expires_at: Date }> {
    const [row] = await db('tokens')
      .insert({ user_id: userId, session_id: sessionId, token_hash: tokenHash, expires_at: db.raw('now() + make_interval(secs => ?)', [ttlSeconds]) })
      .returning(['id', 'expires_at']);
    return row as { id: number; expires_at: Date };
  },

  /** The unexpired token with this hash and its user, in one round trip (every request sends it). */
  async findActive(db: Db, tokenHash: Buffer): Promise<TokenWithUser | undefined> {
    type Found = UserRow & { token_id: number; session_id: number; seen_long_ago: boolean };
    const [row] = await queryRows<Found>(db, FIND_ACTIVE, [tokenHash]);
    if (!row) return undefined;
    const { token_id, session_id, seen_long_ago, ...user } = row;
    return { token_id, session_id, user, seenLongAgo: seen_long_ago };
  },

  /** Drops the session's access tokens that have expired. */
  async deleteExpiredOfSession(db: Knex, sessionId: number): Promise<void> {
    await db('tokens').where({ session_id: sessionId }).andWhere('expires_at', '<=', db.fn.now()).delete();
  },
};
