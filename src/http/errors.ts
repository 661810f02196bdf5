import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { isQueryTimeout } from '../db/database.js';
import { htmlErrorPage, wantsJson } from './negotiation.js';

/** The one error type handlers throw; the error middleware turns it into the response. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message?: string,
    readonly headers: Record<string, string> = {},
    readonly errors?: { path: string; message: string }[],
    options?: ErrorOptions,
  ) {
    super(message ?? STATUS_CODES[status] ?? 'Error', options);
  }
}

export const AUTH_REALM = 'Microblog API';

/** What a 401 says, one sentence per cause, whichever scheme the operation takes. */
export const UNAUTHORIZED = {
  /** No Authorization header, or none of the operation's scheme that can be read. */
  noCredentials: 'credentials are required',
  invalidToken: 'the token is invalid or has expired',
  wrongLogin: 'the username (or email address) or the password is wrong',
} as const;

/** A 500's own message could leak internals: the log has it, found by the request id. */
const INTERNAL_ERROR_MESSAGE = 'something went wrong on the server; quote the X-Request-Id header when reporting it';
const RETRY_AFTER_SECONDS = '5';

export const notFound = (what: string) => new HttpError(404, `${what} does not exist`);
export const forbidden = (message: string) => new HttpError(403, message);
export const badRequest = (message: string) => new HttpError(400, message);

/** Unique indexes whose violation means the client must choose another value. */
const UNIQUE_MESSAGES: Record<string, string> = {
  users_username_lower_key: 'please use a different username',
  users_email_lower_key: 'please use a different email address',
};

interface ValidatorError {
  status: number;
  message?: string;
  errors?: { path?: string; message?: string; errorCode?: string }[];
  headers?: Record<string, string>;
}
interface PgError {
  code?: string;
  constraint?: string;
}

/** Turns anything thrown into an HttpError; unknown errors become a 500 that keeps its cause. */
export function toHttpError(err: unknown, req: Request): HttpError {
  if (err instanceof HttpError) return err;
  const pg = err as PgError;
  if (typeof pg.code === 'string' && /^[0-9A-Z]{5}$/.test(pg.code)) return fromPostgres(pg, err);
  if (isQueryTimeout(err)) {
    return new HttpError(503, 'the database did not answer in time; try again shortly', { 'Retry-After': RETRY_AFTER_SECONDS }, undefined, { cause: err });
  }
  if (isConnectionFailure(err)) {
    return new HttpError(503, 'the database is unavailable; try again shortly', { 'Retry-After': RETRY_AFTER_SECONDS }, undefined, { cause: err });
  }
  const bodyParser = err as { type?: string; status?: number; expose?: boolean };
  if (typeof bodyParser.type === 'string' && typeof bodyParser.status === 'number') {
    return fromBodyParser(bodyParser.type, bodyParser.status, err);
  }
  const validator = err as ValidatorError;
  const exposed = err as { status?: number; expose?: boolean; errors?: unknown };
  if (exposed.expose === true && typeof exposed.status === 'number' && exposed.status >= 400 && exposed.status < 500 && !Array.isArray(exposed.errors)) {
    // body-parser's other refusals, such as a body that does not decode under its Content-Encoding
    return new HttpError(exposed.status, 'the request body could not be read', {}, undefined, { cause: err });
  }
  if (typeof validator.status === 'number' && validator.status >= 400 && validator.status < 500 && Array.isArray(validator.errors)) {
    return fromValidator(validator, req);
  }
  return new HttpError(500, undefined, {}, undefined, { cause: err });
}

function fromPostgres(pg: PgError, err: unknown): HttpError {
  const cause = { cause: err };
  if (pg.code === '23505') {
    const message = UNIQUE_MESSAGES[pg.constraint ?? ''];
    if (message) return new HttpError(400, message, {}, undefined, cause);
    return new HttpError(409, 'this conflicts with an existing resource', {}, undefined, cause);
  }
  if (pg.code === '23503') {
    return new HttpError(404, 'a resource this refers to does not exist', {}, undefined, cause);
  }
  if (pg.code === '22021') {
    return new HttpError(400, 'a value contains a character that cannot be stored (NUL)', {}, undefined, cause);
  }
  if (pg.code === '23514' || pg.code === '22001' || pg.code === '22003' || pg.code === '22P02') {
    return new HttpError(400, 'a value is out of the range the API accepts', {}, undefined, cause);
  }
  if (pg.code === '40001' || pg.code === '40P01') {
    return new HttpError(503, 'the request conflicted with another; try again', { 'Retry-After': '1' }, undefined, cause);
  }
  if (pg.code?.startsWith('08') || pg.code === '57P01' || pg.code === '57P02' || pg.code === '57P03' || pg.code === '53300') {
    return new HttpError(503, 'the database is unavailable; try again shortly', { 'Retry-After': RETRY_AFTER_SECONDS }, undefined, cause);
  }
  // statement_timeout, and idle_in_transaction_session_timeout ending the session
  if (pg.code === '57014' || pg.code === '25P03') {
    return new HttpError(503, 'the database did not answer in time; try again shortly', { 'Retry-After': RETRY_AFTER_SECONDS }, undefined, cause);
  }
  return new HttpError(500, undefined, {}, undefined, cause);
}

function isConnectionFailure(err: unknown): boolean {
  const e = err as { code?: string; name?: string; message?: string };
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE'].includes(e.code ?? '')) return true;
  if (e.name === 'KnexTimeoutError') return true;
  const message = e.message ?? '';
  // pg 8.2x names a connection attempt it gave up on (connectionTimeoutMillis) just 'timeout expired'.
  if (message === 'timeout expired') return true;
  // pg's pool, when no connection came free in time ('timeout exceeded when trying to connect').
  // pg's client once closed, as after a query timeout, to the rest of its transaction ('Client was closed and is not queryable').
  return /Connection terminated|connection timeout|Client has encountered a connection error|Client was closed|timeout exceeded when trying to connect/i.test(message);
}

function fromBodyParser(type: string, status: number, err: unknown): HttpError {
  const cause = { cause: err };
  switch (type) {
    case 'entity.parse.failed':
      return new HttpError(400, 'the body is not valid JSON, or not a JSON object', {}, undefined, cause);
    case 'entity.parse.unclear':
      return new HttpError(400, (err as Error).message, {}, undefined, cause);
    case 'entity.too.large':
      return new HttpError(413, 'the request body must not be larger than 64 KB', {}, undefined, cause);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new HttpError(415, 'the request body must be UTF-8 encoded JSON', {}, undefined, cause);
    default:
      return new HttpError(status >= 400 && status < 500 ? status : 400, 'the request body could not be read', {}, undefined, cause);
  }
}

function fromValidator(err: ValidatorError, req: Request): HttpError {
  const headers: Record<string, string> = {};
  if (err.status === 405 && err.headers?.Allow) {
    const allowed = err.headers.Allow.split(',').map((m) => m.trim().toUpperCase());
    if (allowed.includes('GET')) allowed.push('HEAD');
    headers.Allow = allowed.join(', ');
    return new HttpError(405, `${req.method} is not allowed here; use ${headers.Allow}`, headers);
  }
  if (err.status === 404) return new HttpError(404, `there is nothing at ${req.path}`);
  // The validator refuses before our handler runs only when no header of the scheme came.
  if (err.status === 401) return unauthorized(req, UNAUTHORIZED.noCredentials);
  if (err.status === 415) return new HttpError(415, 'the request body must be application/json');
  // A format names what was expected; the pattern that spells the same rule out adds nothing.
  const formatFailed = new Set((err.errors ?? []).filter((e) => e.errorCode === 'format.openapi.validation').map((e) => e.path));
  const reported = (err.errors ?? []).filter((e) => !(e.errorCode === 'pattern.openapi.validation' && formatFailed.has(e.path)));
  const errors = reported.map((e) => ({
    // The validator says "params" for what the contract calls the path.
    path: (e.path ?? '').replace(/^\.?/, '/').replace(/\./g, '/').replace(/^\/+/, '/').replace(/^\/params\//, '/path/'),
    message: (e.message ?? 'is invalid').replace(/^must have required property '.*'$/, 'is required'),
  }));
  const message = errors.map((e) => `${describePath(e.path)}: ${e.message}`).join('; ');
  return new HttpError(err.status, message || err.message, {}, errors.length ? errors : undefined);
}

function describePath(pointer: string): string {
  const parts = pointer.split('/').filter(Boolean);
  const where = parts[0];
  const rest = parts.slice(1).join('.');
  if (where === 'body') return rest || 'body';
  if (where === 'query' || where === 'path' || where === 'headers') return rest ? `${rest} (${where === 'headers' ? 'header' : where})` : where;
  return parts.join('.') || 'request';
}

/** A 401 with the challenge of the scheme the operation takes. */
export function unauthorized(req: Request, message: string): HttpError {
  const security = (req as Request & { openapi?: { schema?: { security?: Record<string, unknown>[] } } }).openapi?.schema?.security;
  const scheme = security?.some((s) => 'basic' in s) ? basicScheme(req) : 'Bearer';
  return new HttpError(401, message, { 'WWW-Authenticate': `${scheme} realm="${AUTH_REALM}"` });
}

/**
 * Browsers meet a Basic challenge with a login dialog of their own, even on a script's
 * request: a script that says it is one (X-Requested-With: XMLHttpRequest, as Swagger UI
 * does) gets the same challenge under a scheme name browsers do not know, and sees the 401.
 */
function basicScheme(req: Request): string {
  const marker = req.headers['x-requested-with'];
  return typeof marker === 'string' && marker.toLowerCase() === 'xmlhttprequest' ? 'xBasic' : 'Basic';
}

/** Unknown URLs, on every path: JSON or HTML as the client prefers (see sendError). */
export const notFoundHandler: RequestHandler = (req) => {
  throw new HttpError(404, `there is nothing at ${req.path}`);
};

/** The one place errors become responses. */
export function errorHandler(): ErrorRequestHandler {
  return (thrown, req, res, next) => {
    // A failed authentication stashes its own error; the validator passes on only a copy.
    const err = (res.locals.authError as HttpError | undefined) ?? thrown;
    if (res.headersSent) return next(err);
    const error = toHttpError(err, req);
    // The request's log line carries it, with its stack (see requestLogger).
    if (error.status >= 500) res.err = (error.cause ?? err) as Error;
    sendError(req, res, error);
  };
}

/**
 * Behind the error handler: if even the error answer fails (say, response validation
 * rejects it), send a bare 500 that nothing can hook, never Express's default page.
 */
export function lastResortHandler(): ErrorRequestHandler {
  return (err, req, res, _next) => {
    res.err = err as Error;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const html = !wantsJson(req);
    res.writeHead(500, { 'Content-Type': html ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(html ? htmlErrorPage(500, 'Internal Server Error') : JSON.stringify({ error: 'Internal Server Error', message: INTERNAL_ERROR_MESSAGE }));
  };
}

/** The statuses any URL can get, whose format the tutorial's wants_json_response rule decides. */
const NEGOTIATED = new Set([404, 405, 500]);

function sendError(req: Request, res: Response, error: HttpError): void {
  res.status(error.status);
  res.set(error.headers);
  res.set('Cache-Control', 'no-store');
  const reason = STATUS_CODES[error.status] ?? 'Error';
  if (NEGOTIATED.has(error.status) && !wantsJson(req)) {
    res.type('html').send(htmlErrorPage(error.status, reason));
    return;
  }
  const body: { error: string; message: string; errors?: { path: string; message: string }[] } = {
    error: reason,
    message: error.status === 500 ? INTERNAL_ERROR_MESSAGE : error.message,
  };
  if (error.errors) body.errors = error.errors;
  res.json(body);
}
