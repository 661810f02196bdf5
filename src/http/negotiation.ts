import type { Request, RequestHandler } from 'express';
import { HttpError } from './errors.js';

/** JSON unless the client prefers text/html to application/json (ties go to JSON). */
export function wantsJson(req: Request): boolean {
  return req.accepts(['application/json', 'text/html']) !== 'text/html';
}

/** 406 for a client that accepts no JSON at all. */
export const requireJsonAcceptable: RequestHandler = (req, _res, next) => {
  if (!req.accepts('application/json')) {
    throw new HttpError(406, 'this resource is only available as application/json');
  }
  next();
};

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function htmlErrorPage(status: number, reason: string): string {
  const title = escape(`${status} ${reason}`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${escape(reason)}</h1><p>Microblog API — see <a href="/api/docs">the documentation</a>.</p></body></html>
`;
}
