import type { RequestHandler } from 'express';
import { HttpError } from './http-error.js';

/**
 * Integer path and query parameters, written only as decimal digits. The validator's
 * coercion reads them as JavaScript numbers, so '0x10', '1e3', '1.0', '01' or ' 1' would
 * otherwise pass, and one user or page would answer at many URLs; 'Infinity' even passes
 * its integer and maximum checks (and reached the database). Runs after the validator, so
 * that its own refusals (not an integer, out of range) come first.
 */
export const plainIntegers: RequestHandler = (req, _res, next) => {
  const matched = req.operation;
  if (!matched) return next();
  const errors: { path: string; message: string }[] = [];
  const check = (where: 'path' | 'query', name: string, value: unknown, raw: string | null | undefined) => {
    // An absent parameter the validator gave its default (raw null) is fine.
    if (typeof value === 'number' && typeof raw === 'string' && (!Number.isSafeInteger(value) || raw !== String(value)))
      errors.push({ path: `/${where}/${name}`, message: 'must be written as decimal digits' });
  };

  for (const name of matched.operation.integerParameters) {
    const raw = matched.rawParams[name];
    check('path', name, Number(raw), raw);
  }

  const url = req.originalUrl;
  const mark = url.indexOf('?');
  if (mark >= 0) {
    const search = new URLSearchParams(url.slice(mark + 1));
    for (const [name, value] of Object.entries(req.query)) check('query', name, value, search.get(name));
  }

  if (errors.length) {
    const message = errors
      .map((e) => `${e.path.split('/')[2]} (${e.path.split('/')[1]}): ${e.message}`)
      .join('; ');
    throw new HttpError(400, message, {}, errors);
  }
  next();
};
