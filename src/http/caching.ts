import etag from 'etag';
import type { Request, RequestHandler, Response } from 'express';
import { HttpError } from './http-error.js';

/**
 * Cache-Control and Vary for every /api answer: GETs may be stored but must be
 * revalidated (private when they depend on the token); nothing else is stored.
 * Express adds a strong ETag to each body and answers a matching If-None-Match with 304.
 */
export const cacheHeaders: RequestHandler = (req, res, next) => {
  const read = req.method === 'GET' || req.method === 'HEAD';
  const withToken = read && req.headers.authorization !== undefined;
  const vary = withToken ? 'Accept, Authorization' : 'Accept';
  // Merged with what CORS may have put there (Origin); else set in one go.
  if (res.hasHeader('Vary')) res.vary(vary);
  else res.setHeader('Vary', vary);
  res.setHeader('Cache-Control', read ? (withToken ? 'private, no-cache' : 'no-cache') : 'no-store');
  next();
};

/** The strong ETag Express sends for this JSON body (res.json uses JSON.stringify). */
export function etagOf(body: unknown): string {
  return etag(JSON.stringify(body));
}

function entityTags(header: string): string[] {
  return header.split(',').map((t) => t.trim()).filter(Boolean);
}

/**
 * Whether a GET's If-None-Match holds (weak comparison), so Express answers 304. Unlike
 * Express's default this ignores the request's `Cache-Control: no-cache`, which fetch()
 * adds to every conditional request: that directive is for caches, and an origin server
 * evaluates the condition it was sent (RFC 9110, section 13.1.2).
 */
export function isFresh(req: Request, res: Response): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (!(res.statusCode >= 200 && res.statusCode < 300) && res.statusCode !== 304) return false;
  const header = req.headers['if-none-match'];
  const current = res.get('ETag');
  if (!header || !current) return false;
  const strip = (tag: string) => tag.replace(/^W\//, '');
  const tags = entityTags(header);
  return tags.includes('*') || tags.some((tag) => strip(tag) === strip(current));
}

/**
 * If-Match: go on only when one of the listed entity tags is the current one (or "*").
 * `current` lists every tag that stands for the present state.
 */
export function checkIfMatch(req: { headers: Request['headers'] }, current: string[]): void {
  const header = req.headers['if-match'];
  if (header === undefined) return;
  const listed = entityTags(header);
  if (listed.includes('*')) return;
  // Weak tags never match under the strong comparison If-Match requires.
  if (!listed.some((t) => !t.startsWith('W/') && current.includes(t))) {
    throw new HttpError(412, 'the resource has changed since you read it; get it again');
  }
}
