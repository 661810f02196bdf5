import etag from 'etag';
import type { Request, RequestHandler, Response } from 'express';
import { HttpError } from './http-error.js';

/**
 * Cache-Control and Vary for every /api answer: GETs may be stored but must be
 * revalidated (private when they depend on the token); nothing else is stored.
 * GET routes answer with sendRepresentation, which sends a strong ETag and 304s; Express
 * adds its own strong ETag to every other body.
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
 * Answers a GET with its JSON representation and strong ETag, or with 304 when If-None-Match
 * names that tag (weak comparison). Express's own check (req.fresh) skips If-None-Match when
 * the request carries `Cache-Control: no-cache`, which fetch() adds to every conditional
 * request, yet an origin server evaluates the condition it was sent (RFC 9110, section 13.1.2).
 */
export function sendRepresentation(req: { headers: Request['headers'] }, res: Response, body: unknown): void {
  const text = JSON.stringify(body);
  const current = etag(text);
  res.setHeader('ETag', current);
  const header = req.headers['if-none-match'];
  if (header !== undefined && noneMatchHolds(header, current)) {
    res.status(304).end();
    return;
  }
  res.type('json').send(text);
}

/**
 * Whether the request's If-None-Match names `current` (weak comparison), for a GET whose
 * body is streamed rather than sent by sendRepresentation.
 */
export function notModifiedSince(req: { headers: Request['headers'] }, current: string): boolean {
  const header = req.headers['if-none-match'];
  return header !== undefined && noneMatchHolds(header, current);
}

function noneMatchHolds(header: string, current: string): boolean {
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
