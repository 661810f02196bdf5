import type { Request, Response } from 'express';
import type { Knex } from 'knex';
import type { UserRow } from '../db/tables.js';
import { tokensRepository } from '../db/tokens.js';
import { usersRepository } from '../db/users.js';
import type { Metrics } from '../metrics.js';
import { verifyPassword } from '../security/passwords.js';
import { hashToken } from '../security/tokens.js';
import { HttpError, toHttpError, unauthorized } from './errors.js';
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
      if (!token) throw unauthorized(req, 'a bearer token is required');
      const found = await tokensRepository.findActive(db, hashToken(token));
      if (!found) throw unauthorized(req, 'the token is invalid or has expired');
      // Most requests come within a minute of the user's last one: no write, no round trip.
      req.auth = found.seenLongAgo
        ? await withLastSeen(db, found.user, found.token_id)
        : { user: found.user, tokenId: found.token_id, lastSeenBefore: found.user.last_seen };
    }),
    basic: guarded(async (req) => {
      const encoded = credentials(req, 'basic');
      const decoded = encoded ? Buffer.from(encoded, 'base64').toString('utf8') : '';
      const colon = decoded.indexOf(':');
      if (colon < 1) throw unauthorized(req);
      const login = decoded.slice(0, colon);
      const password = decoded.slice(colon + 1);
      const attempt = await loginLimits.attempt(req, login);
      // No stored username or email is longer, or holds a NUL (which PostgreSQL cannot compare).
      const lookup = login.length <= 120 && !login.includes('\0');
      const user = lookup ? await usersRepository.findByLogin(db, login) : undefined;
      const ok = await verifyPassword(user?.password_hash, password.slice(0, 1024));
      if (!user || !ok) {
        metrics?.loginFailed();
        throw unauthorized(req);
      }
      await attempt.succeeded();
      req.auth = await withLastSeen(db, user, null);
    }),
  };
}

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
