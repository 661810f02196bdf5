import type { Knex } from 'knex';
import type { Db } from '../db/database.js';
import { refreshTokensRepository, sessionsRepository } from '../db/sessions.js';
import { tokensRepository } from '../db/tokens.js';
import { hashToken, newToken, seal, unseal } from '../security/tokens.js';

/** How long tokens live, and how long a refresh token just exchanged still gets the same answer. */
export interface SessionSettings {
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  reuseGraceSeconds: number;
}

/** A session's tokens, as a login or a refresh answers with them. */
export interface TokenPair {
  token: string;
  expires_at: string;
  user_id: number;
  refresh_token: string;
  refresh_expires_at: string;
  session_id: number;
}

/**
 * What a refresh came to: the next pair, or why there is none. `reused` means an exchanged
 * refresh token came back after the grace window, and its session has been ended.
 */
export type RefreshOutcome = { pair: TokenPair } | { refused: 'unknown' | 'expired' | 'reused' };

/** Starts a session for the user (a login) and gives it its first tokens. */
export async function startSession(db: Db, userId: number, device: string | null, settings: SessionSettings): Promise<TokenPair> {
  return db.transaction(async (trx) => {
    await sessionsRepository.deleteExpiredOfUser(trx, userId);
    const session = await sessionsRepository.create(trx, userId, device, settings.refreshTtlSeconds);
    return (await issuePair(trx, userId, session.id, settings)).pair;
  });
}

/**
 * Exchanges a refresh token for the session's next pair (rotation). An exchanged token sent
 * again within the grace window (a retry after a lost answer) gets the same pair, read back
 * from what was sealed under it; after the window, or once that pair was itself exchanged,
 * the session is ended (the token was stolen, or the app lost track of it). The session's
 * row lock makes two refreshes with one token one rotation, both answered with its pair.
 */
export async function refreshSession(db: Db, refreshToken: string, settings: SessionSettings): Promise<RefreshOutcome> {
  const hash = hashToken(refreshToken);
  return db.transaction(async (trx): Promise<RefreshOutcome> => {
    const session = await sessionsRepository.lockByRefreshToken(trx, hash);
    if (!session) return { refused: 'unknown' };
    const presented = await refreshTokensRepository.find(trx, hash, settings.reuseGraceSeconds);
    if (!presented) return { refused: 'unknown' };
    if (presented.expired) return { refused: 'expired' };
    if (presented.rotated_at === null) {
      const { pair, refreshId } = await issuePair(trx, session.user_id, session.id, settings);
      await refreshTokensRepository.rotate(trx, presented.id, refreshId, seal(refreshToken, pair));
      await sessionsRepository.extend(trx, session.id, settings.refreshTtlSeconds);
      await refreshTokensRepository.deleteExpiredOfSession(trx, session.id);
      await tokensRepository.deleteExpiredOfSession(trx, session.id);
      return { pair };
    }
    if (presented.in_grace && presented.successor_current && presented.successor) {
      return { pair: unseal<TokenPair>(refreshToken, presented.successor) };
    }
    await sessionsRepository.delete(trx, session.id);
    return { refused: 'reused' };
  });
}

/** One of the user's sessions that has not ended; undefined when it has none with that id. */
export function getSession(db: Knex, userId: number, sessionId: number) {
  return sessionsRepository.findOfUser(db, userId, sessionId);
}

/** Ends one of the user's sessions; false when it has none with that id. */
export function endSession(db: Knex, userId: number, sessionId: number): Promise<boolean> {
  return sessionsRepository.deleteOfUser(db, userId, sessionId);
}

/** Ends every session of the user but `keepId` (a password change keeps the one that made it). */
export async function endOtherSessions(trx: Knex, userId: number, keepId: number | null): Promise<void> {
  await sessionsRepository.deleteAllOfUserExcept(trx, userId, keepId);
}

/** Ends every session of the user: all its access and refresh tokens stop working (a password reset). */
export async function endAllSessions(trx: Knex, userId: number): Promise<void> {
  await sessionsRepository.deleteAllOfUserExcept(trx, userId, null);
}

/** The user's sessions that have not ended, a page of them, newest first, and how many there are. */
export async function listSessions(db: Knex, userId: number, page: { offset: number; limit: number }) {
  return Promise.all([sessionsRepository.listOfUser(db, userId, page), sessionsRepository.countOfUser(db, userId)]);
}

async function issuePair(trx: Knex, userId: number, sessionId: number, settings: SessionSettings): Promise<{ pair: TokenPair; refreshId: number }> {
  const access = newToken();
  const refresh = newToken();
  const issued = await tokensRepository.create(trx, userId, sessionId, access.hash, settings.accessTtlSeconds);
  const stored = await refreshTokensRepository.create(trx, sessionId, refresh.hash, settings.refreshTtlSeconds);
  const pair = {
    token: access.token,
    expires_at: issued.expires_at.toISOString(),
    user_id: userId,
    refresh_token: refresh.token,
    refresh_expires_at: stored.expires_at.toISOString(),
    session_id: sessionId,
  };
  return { pair, refreshId: stored.id };
}
