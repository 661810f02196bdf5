import type { Request, RequestHandler } from 'express';
import { HttpError } from './http-error.js';

/** The quality the Accept header gives a media type: its most specific matching range. */
export function quality(accept: string | undefined, type: string): number {
  if (!accept) return 1;
  const [major] = type.split('/');
  let best = { specificity: -1, q: 0 };
  for (const range of accept.split(',')) {
    const [name = '', ...params] = range.trim().toLowerCase().split(';').map((p) => p.trim());
    const specificity = name === type ? 2 : name === `${major}/*` ? 1 : name === '*/*' ? 0 : -1;
    if (specificity <= best.specificity) continue;
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    best = { specificity, q: Number.isFinite(q) ? q : 0 };
  }
  return best.q;
}

/**
 * JSON unless the client prefers text/html to application/json; a tie goes to JSON
 * (the tutorial's wants_json_response rule).
 */
export function wantsJson(req: Request): boolean {
  const accept = req.headers.accept;
  return quality(accept, 'application/json') >= quality(accept, 'text/html');
}

/**
 * 406 for a client that accepts none of what the operation answers with: JSON, or an event
 * stream for the one operation that streams (its errors are JSON, as everywhere).
 */
export const requireAcceptable: RequestHandler = (req, _res, next) => {
  const accept = req.headers.accept;
  const produces = req.operation?.operation.produces ?? 'application/json';
  // What SDKs and browsers' fetch send, decided without parsing.
  if (accept === undefined || accept === produces || accept === '*/*') return next();
  if (!req.accepts(produces)) {
    throw new HttpError(406, `this resource is only available as ${produces}`);
  }
  next();
};

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function htmlErrorPage(status: number, reason: string): string {
  const title = escape(`${status} ${reason}`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${escape(reason)}</h1><p>Microblog API — see <a href="/api/docs/">the documentation</a>.</p></body></html>
`;
}
