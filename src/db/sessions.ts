import type { Knex } from 'knex';
import type { RefreshTokenRow, SessionRow } from './tables.js';

const LIVE = 'expires_at > now()';

/** A refresh token as a refresh reads it, with what the database's clock says of it. */
export interface PresentedRefreshToken extends RefreshTokenRow {
  /** It, or its session, has expired. */
  expired: boolean;
  /** It was exchanged less than the grace window ago. */
  in_grace: boolean;
  /** What it was exchanged for has not been exchanged in turn. */
  successor_current: boolean;
}

/** SQL for sessions (one per login) and their refresh tokens, stored only as SHA-256 hashes. */
export const sessionsRepository = {
  /** A new session of the user, ending `ttlSeconds` from now unless refreshed. */
  async create(trx: Knex, userId: number, device: string | null, ttlSeconds: number): Promise<SessionRow> {
    const [row] = await trx<SessionRow>('sessions')
      .insert({ user_id: userId, device, expires_at: trx.raw('now() + make_interval(secs => ?)', [ttlSeconds]) as unknown as Date })
      .returning('*');
    return row as SessionRow;
  },

  /**
   * Locks the session a refresh token belongs to until the transaction ends, or finds none.
   * Everything that changes a session's tokens or ends it takes this lock first, so refreshes
   * of one session happen one after the other and never deadlock with a logout.
   */
  async lockByRefreshToken(trx: Knex.Transaction, tokenHash: Buffer): Promise<SessionRow | undefined> {
    const { rows } = await trx.raw<{ rows: SessionRow[] }>(
      'SELECT * FROM sessions WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = ?) FOR UPDATE',
      [tokenHash],
    );
    return rows[0];
  },

  /** Moves the session's end `ttlSeconds` from now (sliding expiry) and records its use. */
  async extend(trx: Knex, id: number, ttlSeconds: number): Promise<void> {
    await trx('sessions')
      .where({ id })
      .update({ last_used_at: trx.fn.now(), expires_at: trx.raw('now() + make_interval(secs => ?)', [ttlSeconds]) });
  },

  /** The user's sessions that have not ended, newest first. */
  listOfUser(db: Knex, userId: number, { offset, limit }: { offset: number; limit: number }): Promise<SessionRow[]> {
    return db<SessionRow>('sessions').where({ user_id: userId }).andWhereRaw(LIVE).orderBy('id', 'desc').offset(offset).limit(limit);
  },

  /** One of the user's sessions that has not ended, or none (another user's is none too). */
  findOfUser(db: Knex, userId: number, id: number): Promise<SessionRow | undefined> {
    return db<SessionRow>('sessions').where({ id, user_id: userId }).andWhereRaw(LIVE).first();
  },

  async countOfUser(db: Knex, userId: number): Promise<number> {
    const row = await db('sessions').where({ user_id: userId }).andWhereRaw(LIVE).count<{ n: string }[]>({ n: '*' }).first();
    return Number(row?.n ?? 0);
  },

  /** Ends a session; its tokens go with it. False when the user has no such session. */
  async deleteOfUser(db: Knex, userId: number, id: number): Promise<boolean> {
    return (await db('sessions').where({ id, user_id: userId }).andWhereRaw(LIVE).delete()) > 0;
  },

  async delete(db: Knex, id: number): Promise<void> {
    await db('sessions').where({ id }).delete();
  },

  /** Ends every session of the user but the one given (null: every one). */
  async deleteAllOfUserExcept(db: Knex, userId: number, keepId: number | null): Promise<void> {
    const query = db('sessions').where({ user_id: userId });
    if (keepId !== null) query.andWhereNot({ id: keepId });
    await query.delete();
  },

  /**
   * Deletes the sessions whose refresh expiry has passed, `batch` rows a statement (short
   * locks, no huge transaction); their access and refresh tokens go with them (ON DELETE
   * CASCADE). How many were deleted.
   */
  async deleteExpired(db: Knex, batch = 5000): Promise<number> {
    let deleted = 0;
    for (;;) {
      const { rowCount } = await db.raw<{ rowCount: number }>(
        `DELETE FROM sessions WHERE id = ANY (ARRAY(
           SELECT id FROM sessions WHERE expires_at <= now() LIMIT ?))`,
        [batch],
      );
      deleted += rowCount;
      if (rowCount < batch) return deleted;
    }
  },

  async deleteExpiredOfUser(db: Knex, userId: number): Promise<void> {
    await db('sessions').where({ user_id: userId }).andWhere('expires_at', '<=', db.fn.now()).delete();
  },
};

export const refreshTokensRepository = {
  /** A new refresh token of the session, expiring `ttlSeconds` from now. */
  async create(trx: Knex, sessionId: number, tokenHash: Buffer, ttlSeconds: number): Promise<{ id: number; expires_at: Date }> {
    const [row] = await trx('refresh_tokens')
      .insert({ session_id: sessionId, token_hash: tokenHash, expires_at: trx.raw('now() + make_interval(secs => ?)', [ttlSeconds]) })
      .returning(['id', 'expires_at']);
    return row as { id: number; expires_at: Date };
  },

  /**
   * The refresh token with this hash, judged by the clock at this moment (not the
   * transaction's start, which may precede a rotation it waited for).
   */
  async find(trx: Knex, tokenHash: Buffer, graceSeconds: number): Promise<PresentedRefreshToken | undefined> {
    const { rows } = await trx.raw<{ rows: PresentedRefreshToken[] }>(
      `SELECT r.*,
          r.expires_at <= clock_timestamp() OR s.expires_at <= clock_timestamp() AS expired,
          coalesce(r.rotated_at > clock_timestamp() - make_interval(secs => ?), false) AS in_grace,
          coalesce(n.rotated_at IS NULL, false) AS successor_current
        FROM refresh_tokens r
        JOIN sessions s ON s.id = r.session_id
        LEFT JOIN refresh_tokens n ON n.id = r.replaced_by
        WHERE r.token_hash = ?`,
      [graceSeconds, tokenHash],
    );
    return rows[0];
  },

  /** Marks a refresh token exchanged for `successorId`, keeping the successor pair sealed. */
  async rotate(trx: Knex, id: number, successorId: number, successor: Buffer): Promise<void> {
    await trx('refresh_tokens').where({ id }).update({ rotated_at: trx.fn.now(), replaced_by: successorId, successor });
  },

  /** Drops the session's refresh tokens that have expired: presented again, they are unknown, as expired ones are refused anyway. */
  async deleteExpiredOfSession(trx: Knex, sessionId: number): Promise<void> {
    await trx('refresh_tokens').where({ session_id: sessionId }).andWhere('expires_at', '<=', trx.fn.now()).delete();
  },
};
