import type { Db } from '../db/database.js';
import type { UserRow } from '../db/tables.js';
import { tokensRepository } from '../db/tokens.js';
import { usersRepository } from '../db/users.js';
import { checkPassword, hashPassword } from '../security/passwords.js';
import { hashToken } from '../security/tokens.js';

/** Who made a request. */
export interface AuthContext {
  user: UserRow;
  /** The session of the token used, or null when the request authenticated with a password. */
  sessionId: number | null;
  /** last_seen as it was before this request moved it. */
  lastSeenBefore: Date;
}

/**
 * Counts a password check against the login it names (`account`, folded as the database
 * compares logins) and may refuse it before it runs; resolves to the check's outcome.
 */
export type LoginGuard = (account: string, verify: () => Promise<boolean>) => Promise<boolean>;

/** The longest login any user has (an email address); a longer one names nobody. */
const MAX_LOGIN_LENGTH = 120;

/** The user a bearer token stands for, or undefined for an unknown or expired token. */
export async function authenticateToken(db: Db, token: string): Promise<AuthContext | undefined> {
  const found = await tokensRepository.findActive(db, hashToken(token));
  if (!found) return undefined;
  // Most requests come within a minute of the user's last one: no write, no round trip.
  return found.seenLongAgo
    ? withLastSeen(db, found.user, found.session_id)
    : { user: found.user, sessionId: found.session_id, lastSeenBefore: found.user.last_seen };
}

/**
 * The user a login (username or email address, in any case) and password stand for, or
 * undefined. Every check goes through `guard`, known account or not, so that failures are
 * counted per account however it is spelt. A hash made with outdated parameters is renewed.
 */
export async function authenticatePassword(db: Db, login: string, password: string, guard: LoginGuard): Promise<AuthContext | undefined> {
  // No stored login is longer, or holds a NUL (which PostgreSQL cannot compare).
  const lookup = login.length <= MAX_LOGIN_LENGTH && !login.includes('\0');
  const { user, folded } = lookup ? await usersRepository.findByLogin(db, login) : { user: undefined, folded: login };
  let outdated = false;
  const ok = await guard(folded, async () => {
    const check = await checkPassword(user?.password_hash, password);
    outdated = check.outdated;
    return check.valid;
  });
  if (!user || !ok) return undefined;
  if (outdated) await usersRepository.update(db, user.id, { password_hash: await hashPassword(password) });
  return withLastSeen(db, user, null);
}

async function withLastSeen(db: Db, user: UserRow, sessionId: number | null): Promise<AuthContext> {
  const lastSeenBefore = user.last_seen;
  const moved = await usersRepository.touchLastSeen(db, user.id);
  return { user: moved ? { ...user, last_seen: moved } : user, sessionId, lastSeenBefore };
}
