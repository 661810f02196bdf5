import { isUtf8 } from 'node:buffer';
import type { Request, RequestHandler } from 'express';
import type { Db } from '../db/database.js';
import type { Metrics } from '../metrics.js';
import { authenticatePassword, authenticateToken, type AuthContext } from '../services/authentication.js';
import { unauthorized } from './errors.js';
import { UNAUTHORIZED } from './http-error.js';
import type { LoginLimits } from './rate-limit.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** Who made the request, for operations the contract secures (see `authenticate`). */
    auth?: AuthContext;
  }
}

/** The authenticated context of a route that requires it (`authenticate` guarantees it). */
export function authOf(req: { auth?: AuthContext }): AuthContext {
  if (!req.auth) throw new Error('route reached without authentication');
  return req.auth;
}

/**
 * Authenticates a request to an operation the contract secures, by the operation's scheme
 * (see matchOperation), before its parameters and body are validated: an anonymous caller
 * learns nothing about the input rules. A failure is a 401 with the scheme's challenge.
 */
export function authenticate(db: Db, loginLimits: LoginLimits, metrics?: Metrics): RequestHandler {
  const schemes: Record<string, (req: Request) => Promise<AuthContext>> = {
    bearer: async (req) => {
      const token = credentials(req, 'bearer');
      if (!token) throw unauthorized(req, UNAUTHORIZED.noCredentials);
      const auth = await authenticateToken(db, token);
      if (!auth) throw unauthorized(req, UNAUTHORIZED.invalidToken);
      return auth;
    },
    basic: async (req) => {
      const encoded = credentials(req, 'basic');
      // Base64 as RFC 7617 has it (RFC 4648, padded); Buffer.from skips what is not base64,
      // so credentials followed by garbage would log in. The credentials themselves are UTF-8.
      const bytes = encoded && BASE64.test(encoded) ? Buffer.from(encoded, 'base64') : undefined;
      const decoded = bytes && isUtf8(bytes) ? bytes.toString('utf8') : '';
      const colon = decoded.indexOf(':');
      if (colon < 1) throw unauthorized(req, UNAUTHORIZED.noCredentials);
      const login = decoded.slice(0, colon);
      const password = decoded.slice(colon + 1, colon + 1 + 1024);
      const auth = await authenticatePassword(db, login, password, (account, verify) => loginLimits.check(req, account, verify));
      if (!auth) {
        metrics?.loginFailed();
        throw unauthorized(req, UNAUTHORIZED.wrongLogin);
      }
      return auth;
    },
  };
  return (req, _res, next) => {
    const scheme = req.operation?.operation.schemes[0];
    if (!scheme) return next();
    const check = schemes[scheme];
    if (!check) throw new Error(`no handler for the security scheme '${scheme}'`);
    return check(req).then((auth) => {
      req.auth = auth;
      next();
    });
  };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The credentials after the scheme name, which matches in any case. */
function credentials(req: Request, scheme: 'basic' | 'bearer'): string | undefined {
  const match = /^(\S+)\s+(\S+)\s*$/.exec(req.headers.authorization ?? '');
  if (!match || match[1]?.toLowerCase() !== scheme) return undefined;
  return match[2];
}
