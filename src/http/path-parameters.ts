import type { RequestHandler } from 'express';
import type { OpenApiDocument } from '../contract.js';
import { HttpError } from './errors.js';
import { templatePattern } from './templates.js';

const MESSAGE = 'must be percent-encoded UTF-8';

/**
 * Path parameters that do not decode (%FF, or an encoded lone surrogate, is no UTF-8) get a
 * 400 naming the parameter, as any other invalid parameter does; the validator's own answer
 * named the whole URL ("api.users.%FF: malformed uri'"). Runs before the validator, and looks
 * only at paths that hold a '%'.
 */
export function decodablePathParameters(document: OpenApiDocument): RequestHandler {
  const templates = Object.keys(document.paths ?? {})
    .filter((template) => template.includes('{'))
    .map((template) => ({
      pattern: templatePattern(template),
      names: [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string),
    }));
  return (req, _res, next) => {
    if (!req.path.includes('%')) return next();
    for (const { pattern, names } of templates) {
      const segments = pattern.exec(req.path);
      if (!segments) continue;
      const errors = names
        .filter((_, i) => !decodes(segments[i + 1] ?? ''))
        .map((name) => ({ path: `/path/${name}`, message: MESSAGE }));
      if (errors.length) {
        const message = errors.map((e) => `${e.path.slice('/path/'.length)} (path): ${MESSAGE}`).join('; ');
        throw new HttpError(400, message, {}, errors);
      }
      break;
    }
    next();
  };
}

function decodes(segment: string): boolean {
  try {
    decodeURIComponent(segment);
    return true;
  } catch {
    return false;
  }
}
