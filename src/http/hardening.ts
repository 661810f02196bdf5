import cors from 'cors';
import type { Request, RequestHandler, Response } from 'express';
import helmet, { contentSecurityPolicy, strictTransportSecurity } from 'helmet';

const NONE = ["'none'"];
const SELF = ["'self'"];

/** JSON and the small HTML error pages load nothing and may be framed by no one. */
const apiPolicy = contentSecurityPolicy({
  useDefaults: false,
  directives: { defaultSrc: NONE, baseUri: NONE, formAction: NONE, frameAncestors: NONE },
});

/**
 * Swagger UI loads its own scripts, styles and images from this server and calls the API;
 * its page has inline styles (and no inline scripts).
 */
const docsPolicy = contentSecurityPolicy({
  useDefaults: false,
  directives: {
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
  },
});

/** HTTPS only: RFC 6797 forbids sending it over plain HTTP. */
const hsts = strictTransportSecurity({ maxAge: 31_536_000, includeSubDomains: true });

const others = helmet({
  contentSecurityPolicy: false,
  strictTransportSecurity: false,
  xFrameOptions: { action: 'deny' },
});

/** The headers helmet's middleware sets: they depend on nothing in the request. */
function headersOf(middleware: RequestHandler): [string, string][] {
  const headers: [string, string][] = [];
  const recorder = {
    setHeader: (name: string, value: string) => void headers.push([name, String(value)]),
    removeHeader: () => undefined,
  };
  middleware({} as Request, recorder as unknown as Response, () => undefined);
  return headers;
}

/** Header lists, each recorded once from helmet, so a request sets them in one loop. */
const apiHeaders = [...headersOf(others), ...headersOf(apiPolicy)];
const docsHeaders = [...headersOf(others), ...headersOf(docsPolicy)];
const hstsHeaders = headersOf(hsts);

/**
 * helmet's headers for an API: no sniffing, no referrer, same-origin resource and opener
 * policies, no framing, a Content-Security-Policy that allows nothing but the docs' own
 * assets, and Strict-Transport-Security when the client came over HTTPS (behind a balancer
 * that terminates TLS, as X-Forwarded-Proto says under TRUST_PROXY).
 *
 * helmet decides the headers; they are the same for every request, so they are recorded
 * from it once rather than set by its dozen middleware functions on every request
 * (leaving helmet out altogether saved a tenth of a GET /api/users/{id}'s CPU).
 */
export const securityHeaders: RequestHandler = (req, res, next) => {
  const docs = req.path === '/api/docs' || req.path.startsWith('/api/docs/');
  for (const [name, value] of docs ? docsHeaders : apiHeaders) res.setHeader(name, value);
  if (req.secure) for (const [name, value] of hstsHeaders) res.setHeader(name, value);
  next();
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
