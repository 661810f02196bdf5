const patterns = new Map<string, RegExp>();

/**
 * A matcher for an OpenAPI path template (`/api/users/{id}`) that matches as Express routes
 * do (case sensitive, see createApp): with or without a trailing slash; each `{name}` captures one
 * path segment, in order. Compiled once per template, as it runs on every request.
 */
export function templatePattern(template: string): RegExp {
  let pattern = patterns.get(template);
  if (!pattern) {
    const literal = template
      .split(/\{[^}]+\}/)
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    pattern = new RegExp(`^${literal.join('([^/]+)')}/?$`);
    patterns.set(template, pattern);
  }
  return pattern;
}
