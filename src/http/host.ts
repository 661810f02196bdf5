import { isIPv6 } from 'node:net';
import type { RequestHandler } from 'express';
import { HttpError } from './http-error.js';

/**
 * RFC 9112, section 3.2: a request with more than one Host field line, or with a Host that
 * is not `uri-host [":" port]` (RFC 3986), is answered 400. Node answers a missing Host
 * itself, but keeps the first of several and takes any value.
 */
export const wellFormedHost: RequestHandler = (req, _res, next) => {
  let lines = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] as string;
    // Length first: no lower-cased copy of every other name, on every request.
    if (name.length === 4 && name.toLowerCase() === 'host') lines++;
  }
  if (lines > 1) throw new HttpError(400, `the request must carry one Host header, not ${lines}`);
  const host = req.headers.host;
  if (host !== undefined && !isHost(host)) throw new HttpError(400, 'the Host header must be a host name or address, and an optional port');
  next();
};

// RFC 3986, section 3.2.2: reg-name (IPv4 addresses included) is unreserved, pct-encoded and sub-delims.
const REG_NAME = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/;
const IP_FUTURE = /^v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+$/;
const HOST_AND_PORT = /^(\[[^\]]*\]|[^:[\]]*)(?::(\d*))?$/;

function isHost(value: string): boolean {
  const [, host] = HOST_AND_PORT.exec(value) ?? [];
  if (host === undefined) return false;
  if (!host.startsWith('[')) return REG_NAME.test(host);
  const literal = host.slice(1, -1);
  return IP_FUTURE.test(literal) || (isIPv6(literal) && !literal.includes('%'));
}
