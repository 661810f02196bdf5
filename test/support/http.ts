import http from 'node:http';
import net from 'node:net';
/** An answer as the tests look at it: status, headers, raw text, and the body parsed when JSON. */
export interface Answer<T = unknown> {
  status: number;
  headers: Headers;
  text: string;
  body: T;
}

/** Reads a fetch Response once; the body is parsed when the server says it is JSON (and it is). */
export async function readAnswer<T = unknown>(res: Response): Promise<Answer<T>> {
  const text = await res.text();
  let body: unknown;
  if ((res.headers.get('content-type') ?? '').startsWith('application/json') && text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  }
  return { status: res.status, headers: res.headers, text, body: body as T };
}

/** How a test says who it is and what it sends; see send. */
export interface SendOptions {
  /** The user whose bearer token goes in Authorization (none when null). */
  as?: { auth: { Authorization: string } } | null;
  /** A bearer token for Authorization. */
  token?: string;
  /** A whole Authorization header value. */
  authorization?: string;
  /** A value sent as JSON. */
  json?: unknown;
  /** A body sent as is. */
  body?: string | Buffer;
  /** Sent last: these override the headers above. */
  headers?: Record<string, string>;
}

/** A server to send to: its base URL, or anything with one (a TestServer, a ServerProcess). */
export type Target = string | { baseUrl: string };

/**
 * One request through real HTTP, the answer read (readAnswer). Authorization comes from
 * `as`, `token` or `authorization`; a `json` or `body` goes as application/json unless
 * `headers` give a Content-Type; `headers` are sent last, as given.
 */
export async function send<T = unknown>(on: Target, method: string, path: string, options: SendOptions = {}): Promise<Answer<T>> {
  const { as, token, authorization, json, body, headers = {} } = options;
  const payload = json !== undefined ? JSON.stringify(json) : body;
  const hasType = Object.keys(headers).some((h) => h.toLowerCase() === 'content-type');
  const res = await fetch((typeof on === 'string' ? on : on.baseUrl) + path, {
    method,
    headers: {
      ...(as ? as.auth : {}),
      ...(token !== undefined ? { Authorization: `Bearer ${token}` } : {}),
      ...(authorization !== undefined ? { Authorization: authorization } : {}),
      ...(payload !== undefined && !hasType ? { 'Content-Type': 'application/json' } : {}),
      ...headers,
    },
    ...(payload !== undefined ? { body: payload } : {}),
  });
  return readAnswer<T>(res);
}

/**
 * send, bound to a test file's server and the headers its every request carries (an Accept,
 * say); `on` sends to another server instead.
 */
export function sender(server: Target, defaults: Record<string, string> = {}) {
  return <T = unknown>(method: string, path: string, options: SendOptions = {}, on: Target = server): Promise<Answer<T>> =>
    send<T>(on, method, path, { ...options, headers: { ...defaults, ...options.headers } });
}

/** A raw answer: what fetch cannot send (two Host lines, a header over Node's limit) goes over a socket. */
export interface RawAnswer {
  status: number;
  /** Field names in lower case; repeated fields joined with ", ". */
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends `request` as written over one connection to `baseUrl` and reads the answer until the
 * server closes it (send `Connection: close`, or a request it refuses at once).
 */
export async function rawRequest(baseUrl: string, request: string | Buffer): Promise<RawAnswer> {
  const { hostname, port } = new URL(baseUrl);
  const socket = net.connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => socket.write(request));
    socket.once('close', () => resolve());
    // The server may hang up before reading all of a request it refused.
    socket.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err)));
  });
  const text = Buffer.concat(chunks).toString('utf8');
  const split = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = text.slice(0, split < 0 ? text.length : split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: split < 0 ? '' : text.slice(split + 4) };
}

interface TogetherInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * Sends `count` requests at once to `url` (`init` may make each its own), each over a connection of its own, for what a
 * signal must not cut off: `sent` settles once every one has been written out whole (the
 * moment to send the signal), `statuses` gives each answer's status, or its error's message.
 */
export function sendTogether(
  count: number,
  url: string,
  init: TogetherInit | ((i: number) => TogetherInit) = {},
): { sent: Promise<void>; statuses: Promise<(number | string)[]> } {
  const requests = Array.from({ length: count }, (_, i) => {
    const { method = 'GET', headers = {}, body } = typeof init === 'function' ? init(i) : init;
    const req = http.request(url, {
      method,
      agent: false,
      headers: { ...headers, ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}) },
    });
    const sent = new Promise<void>((resolve) => {
      req.once('finish', () => resolve());
      req.once('error', () => resolve());
    });
    const status = new Promise<number | string>((resolve) => {
      req.once('response', (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
        res.once('error', (err) => resolve(err.message));
      });
      req.once('error', (err) => resolve(err.message));
    });
    req.end(body);
    return { sent, status };
  });
  return {
    sent: Promise.all(requests.map((r) => r.sent)).then(() => undefined),
    statuses: Promise.all(requests.map((r) => r.status)),
  };
}
