import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('the README walk-through', () => {
  // Tokens are base64url, so one in 64 begins with '-': `-a "$TOKEN"` then reads it as an
  // option and HTTPie stops with "argument --auth/-a: expected one argument" (a CI run failed so).
  it('hands HTTPie a token in a form that still works when the token begins with "-"', () => {
    const httpie = readme.split('\n').filter((line) => /^\s*(\S+=\$\()?http\s/.test(line));
    expect(httpie.length).toBeGreaterThan(5);
    const detached = httpie.filter((line) => /(^|\s)(-a|--auth)\s+["']?\$/.test(line));
    expect(detached).toEqual([]);
    expect(httpie.filter((line) => line.includes('--auth="$TOKEN"')).length).toBeGreaterThan(5);
  });
});
