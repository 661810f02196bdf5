import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { cacheValidatorRouteMatchers } from '../src/http/route-matchers.js';

describe("the validator's route matchers", () => {
  it('are compiled once per route and options, in the module the validator calls', () => {
    cacheValidatorRouteMatchers();
    cacheValidatorRouteMatchers();
    const fromValidator = createRequire(createRequire(import.meta.url).resolve('express-openapi-validator'));
    const { pathToRegexp } = fromValidator('path-to-regexp') as {
      pathToRegexp: ((path: string, options?: object) => { regexp: RegExp }) & { cached?: true };
    };
    expect(pathToRegexp.cached).toBe(true);
    const first = pathToRegexp('/api/users/:id', { sensitive: false, strict: false });
    expect(pathToRegexp('/api/users/:id', { sensitive: false, strict: false })).toBe(first);
    expect(first.regexp.exec('/api/users/42')?.[1]).toBe('42');
    expect(first.regexp.exec('/api/users/42')?.[1]).toBe('42');
    const sensitive = pathToRegexp('/api/users/:id', { sensitive: true, strict: false });
    expect(sensitive).not.toBe(first);
    expect(pathToRegexp('/api/users/:id', { end: false })).not.toBe(first);
  });
});
