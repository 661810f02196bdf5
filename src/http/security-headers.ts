import cors from 'cors';
import type { Request, RequestHandler } from 'express';
import helmet, { strictTransportSecurity } from 'helmet';

const NONE = ["'none'"];
const SELF = ["'self'"];

/** helmet's headers, each page with its own Content-Security-Policy and no HSTS (set only over HTTPS). */
function helmetWith(directives: Record<string, string[]>): RequestHandler {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives },
    strictTransportSecurity: false,
    xFrameOptions: { action: 'deny' },
  });
}

/** JSON and the small HTML error pages load nothing and may be framed by no one. */
const apiHeaders = helmetWith({ defaultSrc: NONE, baseUri: NONE, formAction: NONE, frameAncestors: NONE });

/**
 * Swagger UI loads its own scripts, styles and images from this server and calls the API;
 * its page has inline styles (and no inline scripts).
 */
const docsHeaders = helmetWith({
  defaultSrc: SELF,
  scriptSrc: SELF,
  styleSrc: [...SELF, "'unsafe-inline'"],
  imgSrc: [...SELF, 'data:'],
  fontSrc: [...SELF, 'data:'],
  connectSrc: SELF,
  objectSrc: NONE,
  baseUri: NONE,
  formAction: SELF,
  frameAncestors: NONE,
});

/** HTTPS only: RFC 6797 forbids sending it over plain HTTP. */
const hsts = strictTransportSecurity({ maxAge: 31_536_000, includeSubDomains: true });

/**
 * helmet's headers for an API: no sniffing, no referrer, same-origin resource and opener
 * policies, no framing, a Content-Security-Policy that allows nothing but the docs' own
 * assets, and Strict-Transport-Security when the client came over HTTPS (behind a balancer
 * that terminates TLS, as X-Forwarded-Proto says under TRUST_PROXY).
 */
export const securityHeaders: RequestHandler = (req, res, next) => {
  const docs = req.path === '/api/docs' || req.path.startsWith('/api/docs/');
  (docs ? docsHeaders : apiHeaders)(req, res, (err?: unknown) => {
    if (err !== undefined || !req.secure) return next(err);
    hsts(req, res, next);
  });
};

/** Request headers a browser may send across origins, beyond the CORS-safelisted ones. */
const ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'If-Match', 'If-None-Match', 'Idempotency-Key', 'X-Request-Id', 'X-Requested-With'];
/** Response headers a browser may show a script from another origin. */
const EXPOSED_HEADERS = [
  'ETag',
  'Location',
  'Retry-After',
  'RateLimit',
  'RateLimit-Policy',
  'WWW-Authenticate',
  'X-Request-Id',
  'Idempotent-Replayed',
];

/**
 * CORS for the origins listed (or any, for `*`). A preflight is answered here, so it never
 * reaches the contract's 405: with CORS headers for an allowed origin, with none otherwise.
 * Credentials mode stays off: tokens travel in the Authorization header, never in cookies.
 */
export function crossOrigin(origins: '*' | string[]): RequestHandler {
  const allow = cors({
    origin: origins === '*' ? '*' : origins,
    methods: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: 600,
  });
  if (origins === '*') return allow;
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (origin !== undefined && origins.includes(origin)) return allow(req, res, next);
    res.vary('Origin');
    if (isPreflight(req)) {
      res.status(204).end();
      return;
    }
    next();
  };
}

function isPreflight(req: Request): boolean {
  return req.method === 'OPTIONS' && req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined;
}
