import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { domainErrorOf } from '../db/errors.js';
import {
  ContentionError,
  DatabaseUnavailableError,
  DomainError,
  IdempotencyKeyReusedError,
  InvalidResetTokenError,
  MissingReferenceError,
  TakenError,
  UnstorableValueError,
} from '../errors.js';
import { AUTH_REALM, HttpError } from './http-error.js';
import { htmlErrorPage, wantsJson } from './negotiation.js';

/** A 500's own message could leak internals: the log has it, found by the request id. */
const INTERNAL_ERROR_MESSAGE = 'something went wrong on the server; quote the X-Request-Id header when reporting it';
const RETRY_AFTER_SECONDS = '5';

interface ValidatorError {
  status: number;
  message?: string;
  errors?: { path?: string; message?: string; errorCode?: string }[];
  headers?: Record<string, string>;
}

/** Turns anything thrown into an HttpError; unknown errors become a 500 that keeps its cause. */
export function toHttpError(err: unknown, req: Request): HttpError {
  if (err instanceof HttpError) return err;
  const domain = err instanceof DomainError ? err : domainErrorOf(err);
  if (domain) return fromDomain(domain);
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

/** The status and words each domain error gets. */
function fromDomain(err: DomainError): HttpError {
  const cause = { cause: err.cause ?? err };
  if (err instanceof TakenError) {
    if (err.what === 'other') return new HttpError(409, 'this conflicts with an existing resource', {}, undefined, cause);
    // The tutorial's status for a taken username, kept by this API.
    return new HttpError(400, `please use a different ${err.what === 'email' ? 'email address' : 'username'}`, {}, undefined, cause);
  }
  if (err instanceof MissingReferenceError) return new HttpError(404, err.message, {}, undefined, cause);
  if (err instanceof UnstorableValueError) {
    const message = err.reason === 'nul' ? 'a value contains a character that cannot be stored (NUL)' : 'a value is out of the range the API accepts';
    return new HttpError(400, message, {}, undefined, cause);
  }
  if (err instanceof ContentionError) return new HttpError(503, 'the request conflicted with another; try again', { 'Retry-After': '1' }, undefined, cause);
  if (err instanceof DatabaseUnavailableError) {
    const message = err.reason === 'timeout' ? 'the database did not answer in time; try again shortly' : 'the database is unavailable; try again shortly';
    return new HttpError(503, message, { 'Retry-After': RETRY_AFTER_SECONDS }, undefined, cause);
  }
  if (err instanceof InvalidResetTokenError) return new HttpError(400, 'the reset token is used, expired or unknown; ask for a new one', {}, undefined, cause);
  if (err instanceof IdempotencyKeyReusedError) return new HttpError(422, 'this Idempotency-Key was used with a different request', {}, undefined, cause);
  return new HttpError(500, undefined, {}, undefined, cause);
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
  const scheme = req.operation?.operation.schemes[0] === 'basic' ? basicScheme(req) : 'Bearer';
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
  return (err, req, res, next) => {
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
