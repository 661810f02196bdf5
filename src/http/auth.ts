import { isUtf8 } from 'node:buffer';
import type { Request, Response } from 'express';
import type { Knex } from 'knex';
import type { UserRow } from '../db/tables.js';
import { tokensRepository } from '../db/tokens.js';
import { usersRepository } from '../db/users.js';
import type { Metrics } from '../metrics.js';
import { checkPassword, hashPassword } from '../security/passwords.js';
import { hashToken } from '../security/tokens.js';
import { HttpError, toHttpError, UNAUTHORIZED, unauthorized } from './errors.js';
import type { LoginLimits } from './rate-limit.js';

/** Who made the request, set by the security handlers before any route runs. */
export interface AuthContext {
  user: UserRow;
  /** The token used, or null when the request authenticated with a password. */
  tokenId: number | null;
  /** last_seen as it was before this request moved it. */
  lastSeenBefore: Date;
}

declare module 'express-serve-static-core' {
  interface Request {
    auth?: AuthContext;
  }
}

/** The authenticated context of a route that requires it (the validator guarantees it). */
export function authOf(req: { auth?: AuthContext }): AuthContext {
  if (!req.auth) throw new Error('route reached without authentication');
  return req.auth;
}

type SecurityHandler = (req: Request) => Promise<boolean>;

/**
 * Handlers for the contract's security schemes, run by express-openapi-validator before
 * request validation, so an anonymous caller learns nothing about the input rules.
 */
export function securityHandlers(db: Knex, loginLimits: LoginLimits, metrics?: Metrics): Record<'basic' | 'bearer', SecurityHandler> {
  return {
    bearer: guarded(async (req) => {
      const token = credentials(req, 'bearer');
      if (!token) throw unauthorized(req, UNAUTHORIZED.noCredentials);
      const found = await tokensRepository.findActive(db, hashToken(token));
      if (!found) throw unauthorized(req, UNAUTHORIZED.invalidToken);
      // Most requests come within a minute of the user's last one: no write, no round trip.
      req.auth = found.seenLongAgo
        ? await withLastSeen(db, found.user, found.token_id)
        : { user: found.user, tokenId: found.token_id, lastSeenBefore: found.user.last_seen };
    }),
    basic: guarded(async (req) => {
      const encoded = credentials(req, 'basic');
      // Base64 as RFC 7617 has it (RFC 4648, padded); Buffer.from skips what is not base64,
      // so credentials followed by garbage logged in. The credentials themselves are UTF-8.
      const bytes = encoded && BASE64.test(encoded) ? Buffer.from(encoded, 'base64') : undefined;
      const decoded = bytes && isUtf8(bytes) ? bytes.toString('utf8') : '';
      const colon = decoded.indexOf(':');
      if (colon < 1) throw unauthorized(req, UNAUTHORIZED.noCredentials);
      const login = decoded.slice(0, colon);
      const password = decoded.slice(colon + 1, colon + 1 + 1024);
      // No stored username or email is longer, or holds a NUL (which PostgreSQL cannot compare).
      const lookup = login.length <= 120 && !login.includes('\0');
      const { user, folded } = lookup ? await usersRepository.findByLogin(db, login) : { user: undefined, folded: login };
      // Counted by the login as the database compares it, so every spelling of one account
      // (vİctim and victim, say) shares one count, known account or not.
      let outdated = false;
      const ok = await loginLimits.check(req, folded, async () => {
        const check = await checkPassword(user?.password_hash, password);
        outdated = check.outdated;
        return check.valid;
      });
      if (!user || !ok) {
        metrics?.loginFailed();
        throw unauthorized(req, UNAUTHORIZED.wrongLogin);
      }
      if (outdated) await usersRepository.update(db, user.id, { password_hash: await hashPassword(password) });
      req.auth = await withLastSeen(db, user, null);
    }),
  };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The credentials after the scheme name, which matches in any case. */
function credentials(req: Request, scheme: 'basic' | 'bearer'): string | undefined {
  const match = /^(\S+)\s+(\S+)\s*$/.exec(req.headers.authorization ?? '');
  if (!match || match[1]?.toLowerCase() !== scheme) return undefined;
  return match[2];
}

async function withLastSeen(db: Knex, user: UserRow, tokenId: number | null): Promise<AuthContext> {
  const lastSeenBefore = user.last_seen;
  const moved = await usersRepository.touchLastSeen(db, user.id);
  return { user: moved ? { ...user, last_seen: moved } : user, tokenId, lastSeenBefore };
}

/**
 * The validator answers any handler failure with a status of its own making; keep our
 * error (503 when the database is down, the challenge header on 401) for the error handler.
 */
function guarded(check: (req: Request) => Promise<void>): SecurityHandler {
  return async (req) => {
    try {
      await check(req);
      return true;
    } catch (err) {
      const error = err instanceof HttpError ? err : toHttpError(err, req);
      (req.res as Response).locals.authError = error;
      throw error;
    }
  };
}
