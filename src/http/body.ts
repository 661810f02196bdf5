import express, { type RequestHandler } from 'express';
import type { OpenApiDocument } from '../contract.js';
import { templatePattern } from './templates.js';

/**
 * Parses JSON bodies of the operations that take one, and only those. A body sent to any
 * other operation has no meaning (RFC 9110, section 9.3) and is not read, so it cannot fail
 * to parse or be too large there: such a request gets one of its operation's own answers,
 * never a 400, 413 or 415 the operation does not declare.
 */
export function jsonBodies(document: OpenApiDocument, limit: string): RequestHandler {
  const paths = (document.paths ?? {}) as Record<string, Record<string, { requestBody?: unknown }>>;
  const takeBodies = Object.entries(paths).flatMap(([template, item]) =>
    Object.entries(item)
      .filter(([, op]) => typeof op === 'object' && op !== null && op.requestBody !== undefined)
      .map(([method]) => ({
        method: method.toUpperCase(),
        path: templatePattern(template),
      })),
  );
  const parse = express.json({ limit, verify: refuseEmpty });
  return (req, res, next) => {
    if (takeBodies.some((op) => op.method === req.method && op.path.test(req.path)))
      parse(req, res, next);
    else next();
  };
}

/**
 * body-parser reads an empty body as {}, which would make an empty PUT /api/users/{id}
 * a valid update; an empty body is no JSON document, so it fails as malformed JSON does.
 */
function refuseEmpty(_req: unknown, _res: unknown, body: Buffer): void {
  if (body.length === 0)
    throw Object.assign(new Error('the body is empty'), { type: 'entity.parse.failed' });
}
