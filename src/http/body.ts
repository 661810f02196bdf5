import { isUtf8 } from 'node:buffer';
import express, { type RequestHandler } from 'express';
import { visit } from 'jsonc-parser';
import { HttpError } from './http-error.js';

/**
 * Parses JSON bodies of the operations that take one (see matchOperation), and only those. A body sent to any
 * other operation has no meaning (RFC 9110, section 9.3) and is not read, so it cannot fail
 * to parse or be too large there: such a request gets one of its operation's own answers,
 * never a 400, 413 or 415 the operation does not declare.
 */
export function jsonBodies(limit: string): RequestHandler {
  const parse = express.json({ limit, verify: refuseUnclear });
  return (req, res, next) => {
    const operation = req.operation?.operation;
    if (!operation?.takesBody) return next();
    // Zero bytes are no body (RFC 9110, section 8.6), which is how generated clients (Kotlin's)
    // send an optional one left out; a required body still gets its 400.
    const length = req.headers['content-length'];
    const sent = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    if (!operation.bodyRequired && !sent) return next();
    // A body of no stated type would be skipped by the parser and an optional one ignored.
    if (sent && req.headers['content-type'] === undefined) throw new HttpError(415, 'the request body must be application/json');
    parse(req, res, next);
  };
}

/**
 * What JSON.parse lets through but no body may hold, for it would not mean what the client
 * sent: an empty body (body-parser reads it as {}, a valid empty update), bytes that are not
 * UTF-8 and escapes of lone surrogates ("\ud800"), both stored as U+FFFD, and a member name
 * twice in one object, of which JSON.parse keeps the last and other parsers the first
 * (RFC 8259, section 4). Runs on the bytes as received, before they are decoded.
 */
function refuseUnclear(_req: unknown, _res: unknown, body: Buffer, encoding: string): void {
  // RFC 8259, section 8.1: JSON between systems is UTF-8; body-parser would decode UTF-16 too.
  if (encoding !== 'utf-8') throw Object.assign(new Error(`the body is ${encoding}`), { type: 'charset.unsupported' });
  if (body.length === 0) throw Object.assign(new Error('the body is empty'), { type: 'entity.parse.failed' });
  if (!isUtf8(body)) throw unclear('the body is not valid UTF-8');
  const text = body.toString('utf8');
  // The contract's bodies are a level or two deep; the scan below recurses once per level.
  if (nesting(text) > MAX_NESTING) throw unclear(`the body is nested more than ${MAX_NESTING} levels deep`);
  const problem = ambiguity(text);
  if (problem) throw unclear(problem);
}

/** An error the error handler answers with a 400 that carries its message. */
function unclear(message: string): Error {
  return Object.assign(new Error(message), { type: 'entity.parse.unclear' });
}

const MAX_NESTING = 64;

/** How deep objects and arrays nest in `text` (brackets inside strings aside). */
function nesting(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

// With the u flag, a surrogate matches only when it is not half of a pair.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** The first member name repeated in one object, or string holding a lone surrogate, if any. */
function ambiguity(text: string): string | undefined {
  const objects: Set<string>[] = [];
  let problem: string | undefined;
  const string = (value: string) => {
    if (!problem && LONE_SURROGATE.test(value)) problem = 'the body holds a lone surrogate (an unpaired \\uD800-\\uDFFF escape), which is no character';
  };
  visit(text, {
    onObjectBegin: () => void objects.push(new Set()),
    onObjectEnd: () => void objects.pop(),
    onObjectProperty: (name) => {
      string(name);
      const names = objects[objects.length - 1];
      if (!problem && names?.has(name)) problem = `the body has the member ${JSON.stringify(name)} twice in one object`;
      names?.add(name);
    },
    onLiteralValue: (value: unknown) => {
      if (typeof value === 'string') string(value);
    },
  });
  return problem;
}
