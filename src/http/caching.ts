import etag from 'etag';
import type { Request, RequestHandler } from 'express';
import { HttpError } from './errors.js';

/**
 * Cache-Control and Vary for every /api answer: GETs may be stored but must be
 * revalidated (private when they depend on the token); nothing else is stored.
 * Express adds a strong ETag to each body and answers a matching If-None-Match with 304.
 */
export const cacheHeaders: RequestHandler = (req, res, next) => {
  res.vary('Accept');
  if (req.method === 'GET' || req.method === 'HEAD') {
    if (req.headers.authorization) {
      res.vary('Authorization');
      res.set('Cache-Control', 'private, no-cache');
    } else {
      res.set('Cache-Control', 'no-cache');
    }
  } else {
    res.set('Cache-Control', 'no-store');
  }
  next();
};

/** The strong ETag Express sends for this JSON body (res.json uses JSON.stringify). */
export function etagOf(body: unknown): string {
  return etag(JSON.stringify(body));
}

/**
 * If-Match: go on only when one of the listed entity tags is the current one (or "*").
 * `current` lists every tag that stands for the present state.
 */
export function checkIfMatch(req: { headers: Request['headers'] }, current: string[]): void {
  const header = req.headers['if-match'];
  if (header === undefined) return;
  const listed = header.split(',').map((t) => t.trim()).filter(Boolean);
  if (listed.includes('*')) return;
  // Weak tags never match under the strong comparison If-Match requires.
  if (!listed.some((t) => !t.startsWith('W/') && current.includes(t))) {
    throw new HttpError(412, 'the resource has changed since you read it; get it again');
  }
}
