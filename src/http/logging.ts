import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler } from 'express';
import type { Level } from 'pino';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

declare module 'node:http' {
  interface IncomingMessage {
    /** The request id: the client's X-Request-Id when it is sane, else a new UUID. */
    id: string;
  }
  interface ServerResponse {
    /** The error behind a failed answer, which the error handler leaves for the log line. */
    err?: Error;
  }
}

/** The route of a URL no route matched, so that logs group such requests together. */
export const UNMATCHED_ROUTE = '(unmatched)';

/** Paths the load balancer polls: their successful answers are logged at debug only. */
const PROBES = new Set(['/healthz', '/readyz']);

/** Query parameters whose values never reach the log. */
const SECRET_PARAMETER = /token|password|passwd|secret|key|auth|code|signature|session|credential/i;

const SANE_REQUEST_ID = /^[\w.:-]{1,128}$/;

type LoggedRequest = IncomingMessage & Partial<Request>;

/**
 * One JSON line per finished (or aborted) request: request id, method, route template,
 * status, duration and user id. Headers and bodies are never logged, nor the values of
 * query parameters that look secret. A failed request's line carries the error that the
 * error handler put in `res.err`, with its stack (the logger's serializer keeps only the
 * error's safe members).
 *
 * It also sets the request id: the caller's `X-Request-Id` when it is sane, else a new
 * UUID, and echoes it back; and counts the request in `metrics`, by the same route and status.
 *
 * pino writes the line. Not pino-http: it builds a child logger and three listeners on every
 * request, wanted or not, an eighth of a GET /api/users/{id}'s CPU (`npm run bench`).
 */
export function requestLogger(logger: Logger, metrics?: Metrics): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    // The method as the client sent it: HEAD is served as GET further on.
    const method = req.method;
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    req.id = id;
    res.setHeader('X-Request-Id', id);
    // 'close' comes once, whether the answer was sent in full or the client went away.
    res.on('close', () => {
      const route = routeOf(req);
      metrics?.requestFinished(method, route, res.statusCode, (performance.now() - started) / 1000);
      const err = res.err;
      const failed = err !== undefined || res.statusCode >= 500;
      const gaveUp = !failed && aborted(req, res);
      const level: Level = failed ? 'error' : gaveUp ? 'warn' : res.statusCode < 400 && PROBES.has(route) ? 'debug' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      const durationMs = Math.round(performance.now() - started);
      const fields = { reqId: id, ...line(req, res, method, route, durationMs), ...(err ? { err } : {}) };
      logger[level](fields, failed ? 'request errored' : gaveUp ? 'request aborted' : 'request completed');
    });
    next();
  };
}

function line(req: LoggedRequest, res: ServerResponse, method: string, route: string, durationMs: number) {
  return {
    method,
    route,
    url: urlOf(req),
    status: res.statusCode,
    durationMs,
    ...(aborted(req, res) ? { aborted: true } : {}),
    ...(req.auth ? { userId: req.auth.user.id } : {}),
  };
}

/** The client hung up before it had the whole answer. */
function aborted(req: LoggedRequest, res: ServerResponse): boolean {
  return req.readableAborted || !res.writableFinished;
}

/** The route template (`/api/users/{id}`), as the contract names it where it matched. */
function routeOf(req: LoggedRequest): string {
  const contract = req.operation?.operation.template;
  if (contract) return contract;
  const route = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof route === 'string') return route;
  // A mounted app that answered itself, such as the documentation's files.
  if (req.baseUrl) return `${req.baseUrl}/*`;
  return UNMATCHED_ROUTE;
}

/** The URL as requested, cut to a sane length, with secret-looking query values redacted. */
function urlOf(req: LoggedRequest): string {
  const raw = (req.originalUrl ?? req.url ?? '').slice(0, 2048);
  const mark = raw.indexOf('?');
  if (mark < 0) return raw;
  const query = raw
    .slice(mark + 1)
    .split('&')
    .map((pair) => {
      const name = pair.split('=')[0] ?? '';
      let decoded: string;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        decoded = name;
      }
      return SECRET_PARAMETER.test(decoded) ? `${name}=[redacted]` : pair;
    })
    .join('&');
  return `${raw.slice(0, mark)}?${query}`;
}
