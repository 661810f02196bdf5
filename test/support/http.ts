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
