import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler } from 'express';
import { pinoHttp } from 'pino-http';
import { serializeError, type Logger } from '../logger.js';

/** The route of a URL no route matched, so that logs group such requests together. */
export const UNMATCHED_ROUTE = '(unmatched)';

/** Paths the load balancer polls: their successful answers are logged at debug only. */
const PROBES = new Set(['/healthz', '/readyz']);

/** Query parameters whose values never reach the log. */
const SECRET_PARAMETER = /token|password|passwd|secret|key|auth|code|signature|session|credential/i;

const originalMethod = Symbol('originalMethod');
type LoggedRequest = IncomingMessage & Partial<Request> & { [originalMethod]?: string };

/**
 * One JSON line per finished (or aborted) request: request id, method, route template,
 * status, duration and user id. Headers and bodies are never logged, nor the values of
 * query parameters that look secret. A failed request's line carries the error that the
 * error handler put in `res.err`, with its stack.
 *
 * It also sets the request id: the caller's `X-Request-Id` when it is sane, else a new
 * UUID, and echoes it back.
 */
export function requestLogger(logger: Logger): RequestHandler {
  const middleware = pinoHttp<LoggedRequest, ServerResponse>({
    logger,
    quietReqLogger: true,
    quietResLogger: true,
    // Its wrapping would hand serializeError an already serialized error.
    wrapSerializers: false,
    // pino-http binds the whole request to a child logger on every request, though our
    // lines never carry it (quietReqLogger): serialising and redacting its headers there
    // cost as much CPU as the rest of a GET /api/users/{id} (measured with --cpu-prof).
    serializers: { err: serializeError, req: () => undefined },
    genReqId: (req, res) => {
      const incoming = req.headers['x-request-id'];
      const id = typeof incoming === 'string' && /^[\w.:-]{1,128}$/.test(incoming) ? incoming : randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    customLogLevel: (req, res, err) => {
      if (err || res.statusCode >= 500) return 'error';
      if (aborted(req, res)) return 'warn';
      if (res.statusCode < 400 && PROBES.has(routeOf(req))) return 'debug';
      return 'info';
    },
    customSuccessMessage: (req, res) => (aborted(req, res) ? 'request aborted' : 'request completed'),
    customSuccessObject: (req, res, { responseTime }) => line(req, res, responseTime),
    customErrorObject: (req, res, err, { responseTime }) => ({ ...line(req, res, responseTime), err }),
  });
  return (req, res, next) => {
    (req as LoggedRequest)[originalMethod] = req.method;
    middleware(req, res, next);
  };
}

function line(req: LoggedRequest, res: ServerResponse, durationMs: number) {
  return {
    method: req[originalMethod] ?? req.method,
    route: routeOf(req),
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
  const contract = (req as { openapi?: { openApiRoute?: string } }).openapi?.openApiRoute;
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
