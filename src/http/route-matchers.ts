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
