import { createRequire } from 'node:module';

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
  const cache = new Map<string, unknown>();
  const cached: PathToRegexp & { cached?: true } = (path, options) => {
    // The validator passes exactly { sensitive, strict }: a cheap key for that, JSON for anything else.
    const o = options as { sensitive?: boolean; strict?: boolean } | undefined;
    const plain = !o || Object.keys(o).every((k) => k === 'sensitive' || k === 'strict');
    const key = plain ? `${o?.sensitive ? 1 : 0}${o?.strict ? 1 : 0}${path}` : JSON.stringify([path, options]);
    let matcher = cache.get(key);
    if (matcher === undefined) {
      matcher = compile(path, options);
      cache.set(key, matcher);
    }
    return matcher;
  };
  cached.cached = true;
  module.pathToRegexp = cached;
}
