import { createRequire } from 'node:module';
import type { RequestHandler } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import type { Contract } from '../contract.js';

export interface ValidatorOptions {
  contract: Contract;
  validateResponses: boolean;
}

/**
 * The contract's validator, as every request under /api and the probes meets it: 404 and
 * 405 with Allow, then the request's parameters, headers and body
 * (formats in full: 'fast' lets a month 13 through a date-time). Responses are checked
 * when `validateResponses` is on (tests, development).
 */
export function contractValidator({ contract, validateResponses }: ValidatorOptions): RequestHandler[] {
  cacheValidatorRouteMatchers();
  const middlewares = OpenApiValidator.middleware({
    apiSpec: contract.document() as never,
    validateApiSpec: true,
    validateRequests: { allowUnknownQueryParameters: false, allErrors: true },
    ajvFormats: { mode: 'full' },
    formats: contract.formats,
    validateResponses,
    // Authentication is ours (src/http/authentication.ts), so that its errors keep their challenge.
    validateSecurity: false,
    // The contract takes JSON bodies only: no multipart parser on every request.
    fileUploader: false,
    ignorePaths: /^\/(?!api(\/|$)|healthz$|readyz$)|^\/api\/(docs|openapi\.(json|yaml))/,
  }) as unknown as RequestHandler[];
  return withoutPathParamsMiddleware(middlewares);
}

/**
 * The validator's first middleware only installs `app.param` handlers, once, that put its
 * coerced path parameters in `req.params` for routes on the app itself. Ours live on
 * routers, where `operation()` (src/http/typed.ts) does that; the middleware still cost
 * every request a promise and a layer.
 */
export function withoutPathParamsMiddleware(middlewares: RequestHandler[]): RequestHandler[] {
  return middlewares.filter((middleware) => middleware.name !== 'pathParamsMiddleware');
}

type PathToRegexp = (path: string, options?: object) => unknown;

/**
 * express-openapi-validator (5.6) compiles the path-to-regexp matcher of every route it
 * scans on every request (upstream pull request cdimascio/express-openapi-validator#1217
 * caches them). Route paths are a fixed set, so the compiled matchers are kept here,
 * keyed by path and options, in the very module instance the validator calls. Matchers
 * hold no state between uses (no global or sticky flag), so sharing them is safe.
 */
export function cacheValidatorRouteMatchers(): void {
  const require = createRequire(createRequire(import.meta.url).resolve('express-openapi-validator'));
  const module = require('path-to-regexp') as { pathToRegexp: PathToRegexp & { cached?: true } };
  if (module.pathToRegexp.cached) return;
  const compile = module.pathToRegexp;
  // By path (the validator's own strings, so lookups need no new key), then by the two flags.
  const plainMatchers = new Map<string, unknown[]>();
  const otherMatchers = new Map<string, unknown>();
  const cached: PathToRegexp & { cached?: true } = (path, options) => {
    const o = options as Record<string, unknown> | undefined;
    let plain = true;
    for (const name in o) if (name !== 'sensitive' && name !== 'strict') plain = false;
    if (!plain) {
      // Not the validator's call: any other options, keyed in full.
      const key = JSON.stringify([path, options]);
      if (!otherMatchers.has(key)) otherMatchers.set(key, compile(path, options));
      return otherMatchers.get(key);
    }
    const slot = (o?.sensitive ? 1 : 0) + (o?.strict ? 2 : 0);
    let byFlags = plainMatchers.get(path);
    if (!byFlags) plainMatchers.set(path, (byFlags = []));
    return (byFlags[slot] ??= compile(path, options));
  };
  cached.cached = true;
  module.pathToRegexp = cached;
}
