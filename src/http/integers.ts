import type { Request, RequestHandler } from 'express';
import { HttpError } from './errors.js';
import { templatePattern } from './templates.js';

interface OpenApiMetadata {
  openApiRoute: string;
  pathParams: Record<string, unknown>;
}

/**
 * Integer path and query parameters, written only as decimal digits. The validator's
 * coercion reads them as JavaScript numbers, so '0x10', '1e3', '1.0', '01' or ' 1' would
 * otherwise pass, and one user or page would answer at many URLs; 'Infinity' even passes
 * its integer and maximum checks (and reached the database). Runs after the validator,
 * which has replaced each integer parameter by its number.
 */
export const plainIntegers: RequestHandler = (req, _res, next) => {
  const openapi = (req as Request & { openapi?: OpenApiMetadata }).openapi;
  if (!openapi) return next();
  const errors: { path: string; message: string }[] = [];
  const check = (
    where: 'path' | 'query',
    name: string,
    value: unknown,
    raw: string | null | undefined,
  ) => {
    // An absent parameter the validator gave its default (raw null) is fine.
    if (
      typeof value === 'number' &&
      typeof raw === 'string' &&
      (!Number.isSafeInteger(value) || raw !== String(value))
    )
      errors.push({ path: `/${where}/${name}`, message: 'must be written as decimal digits' });
  };

  const url = req.originalUrl;
  const mark = url.indexOf('?');
  const names = parameterNames(openapi.openApiRoute);
  if (names.length > 0) {
    const segments = templatePattern(openapi.openApiRoute).exec(mark < 0 ? url : url.slice(0, mark));
    names.forEach((name, i) =>
      check('path', name, openapi.pathParams[name], safeDecode(segments?.[i + 1])),
    );
  }

  if (mark >= 0) {
    const search = new URLSearchParams(url.slice(mark + 1));
    for (const [name, value] of Object.entries(req.query))
      check('query', name, value, search.get(name));
  }

  if (errors.length) {
    const message = errors
      .map((e) => `${e.path.split('/')[2]} (${e.path.split('/')[1]}): ${e.message}`)
      .join('; ');
    throw new HttpError(400, message, {}, errors);
  }
  next();
};

const namesByTemplate = new Map<string, string[]>();

/** The names of a path template's parameters, in order; read once per template. */
function parameterNames(template: string): string[] {
  let found = namesByTemplate.get(template);
  if (!found) {
    found = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);
    namesByTemplate.set(template, found);
  }
  return found;
}

function safeDecode(s: string | undefined): string | undefined {
  try {
    return s === undefined ? undefined : decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
