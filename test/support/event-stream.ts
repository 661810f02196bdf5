/**
 * A Server-Sent Events reader for the system tests, over node:http: when each event and comment
 * arrived, and whether the server ended the answer or the connection broke (a proxy giving
 * up). test/support/sse.ts is the lighter one, over fetch, of the in-process tests.
 */
import http from 'node:http';
import { until } from './wait.js';

/** One event as a Server-Sent Events client dispatches it, and when it arrived. */
export interface SseEvent {
  id: string | undefined;
  event: string | undefined;
  data: string;
  /** Date.now() when its blank line arrived. */
  at: number;
}

/** A comment line (`: heartbeat`), and when it arrived. */
export interface SseComment {
  text: string;
  at: number;
}

/** How a stream ended: `clean` when the server finished the answer, not when the connection broke. */
export interface SseEnd {
  clean: boolean;
  error?: string;
  at: number;
}

/** An open text/event-stream answer, read as it comes. */
export interface SseStream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Date.now() when the answer's headers arrived. */
  openedAt: number;
  /** The last `retry:` received. */
  retry: number | undefined;
  events: SseEvent[];
  comments: SseComment[];
  /** Everything received so far, as received. */
  raw(): string;
  /** The first event (received or to come) that `match` accepts; rejects after `timeoutMs` or if the stream ends first. */
  event(what: string, match: (event: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  /** Resolves once `count` comments have arrived. */
  comment(count: number, timeoutMs?: number): Promise<void>;
  /** Settles when the stream ends, however. */
  ended: Promise<SseEnd>;
  /** Drops the connection, as a client that goes away (a tab closed, a network lost). */
  close(): Promise<SseEnd>;
}

/**
 * A GET to an event stream over a connection of its own (no agent), read and parsed as the
 * Server-Sent Events spec says (blank lines end events; `:` lines are comments). Resolves
 * once the answer's headers arrive (rejects if none within `timeoutMs`); reading goes on in
 * the background until the server ends the answer or `close()`.
 */
export function openStream(url: string, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent: false, headers: { Accept: 'text/event-stream', ...headers } });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`));
    }, timeoutMs);
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.once('response', (res) => {
      clearTimeout(timer);
      let raw = '';
      let pending = '';
      let block: { id?: string; event?: string; data: string[] } = { data: [] };
      let end: SseEnd | undefined;
      const events: SseEvent[] = [];
      const comments: SseComment[] = [];
      let finish: (e: SseEnd) => void = () => undefined;
      const ended = new Promise<SseEnd>((r) => {
        finish = (e) => {
          if (end) return;
          end = e;
          r(e);
        };
      });

      const stream: SseStream = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        openedAt: Date.now(),
        retry: undefined,
        events,
        comments,
        raw: () => raw,
        event: (what, match, wait = 5_000) =>
          until(
            () => `${what} on ${url}; received:\n${raw}`,
            () => {
              const found = events.find(match);
              if (found) return found;
              if (end) throw new Error(`${what}: the stream ended first (${JSON.stringify(end)}); received:\n${raw}`);
              return undefined;
            },
            wait,
          ),
        comment: async (count, wait = 5_000) => {
          await until(() => `${count} comments on ${url}; received:\n${raw}`, () => comments.length >= count, wait);
        },
        ended,
        close: () => {
          finish({ clean: false, error: 'closed by the client', at: Date.now() });
          req.destroy();
          return ended;
        },
      };

      const line = (text: string) => {
        if (text === '') {
          if (block.data.length > 0) {
            events.push({ id: block.id, event: block.event, data: block.data.join('\n'), at: Date.now() });
          }
          block = { data: [] };
          return;
        }
        if (text.startsWith(':')) {
          comments.push({ text: text.slice(1).trim(), at: Date.now() });
          return;
        }
        const colon = text.indexOf(':');
        const field = colon < 0 ? text : text.slice(0, colon);
        let value = colon < 0 ? '' : text.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') block.data.push(value);
        else if (field === 'id') block.id = value;
        else if (field === 'event') block.event = value;
        else if (field === 'retry' && /^\d+$/.test(value)) stream.retry = Number(value);
      };

      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        raw += chunk;
        pending += chunk;
        const lines = pending.split(/\r?\n/);
        pending = lines.pop() ?? '';
        for (const text of lines) line(text);
      });
      res.once('end', () => finish({ clean: true, at: Date.now() }));
      res.once('error', (err) => finish({ clean: false, error: err.message, at: Date.now() }));
      res.once('close', () => finish({ clean: res.complete, ...(res.complete ? {} : { error: 'connection closed' }), at: Date.now() }));
      resolve(stream);
    });
    req.end();
  });
}
