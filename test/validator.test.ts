import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { cacheValidatorRouteMatchers, contractValidator } from '../src/http/validator.js';

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

describe('the contract validator', () => {
  it("runs the validator's metadata, (inactive) security and request middlewares, without the one that only installs app.param", async () => {
    const { loadContract } = await import('../src/contract.js');
    const middlewares = contractValidator({ contract: loadContract(), validateResponses: false });
    // Names are the validator's own: a rename upstream shows here, not as a silent slowdown.
    expect(middlewares.map((m) => m.name)).toEqual(['metadataMiddleware', 'securityMiddleware', 'requestMiddleware']);
    const withResponses = contractValidator({ contract: loadContract(), validateResponses: true });
    expect(withResponses.map((m) => m.name)).toEqual(['metadataMiddleware', 'securityMiddleware', 'requestMiddleware', 'responseMiddleware']);
  });
});
