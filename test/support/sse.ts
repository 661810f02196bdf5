/** One Server-Sent Event as a client sees it; a comment (`: heartbeat`) has only `comment`. */
export interface SseEvent {
  id?: string;
  data?: string;
  retry?: number;
  comment?: string;
}

export interface SseConnection {
  status: number;
  headers: Headers;
  /** Every event and comment received so far, in order. */
  events: SseEvent[];
  /** Resolves with the first event after `from` (an index into `events`) that `match` accepts. */
  next(match: (event: SseEvent) => boolean, timeoutMs?: number, from?: number): Promise<SseEvent>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  /** Drops the connection, as a phone losing its network would. */
  close(): void;
  /** The body of a non-200 answer. */
  text?: string;
}

/**
 * Opens `url` as EventSource would (Accept: text/event-stream, Last-Event-ID when given) and
 * parses the stream as https://html.spec.whatwg.org/multipage/server-sent-events.html says:
 * lines `field: value`, a blank line ending each event, `:` starting a comment.
 */
export async function openEventStream(url: string, headers: Record<string, string> = {}): Promise<SseConnection> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const events: SseEvent[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const waiter of [...waiters]) waiter();
  };
  if (res.status !== 200) {
    return { status: res.status, headers: res.headers, events, next: () => Promise.reject(new Error('no stream')), ended: Promise.resolve(), close: () => abort.abort(), text: await res.text() };
  }
  let done = false;
  const ended = (async () => {
    const body = res.body;
    if (!body) return;
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let event: SseEvent = {};
    try {
      for (;;) {
        const { value, done: finished } = await reader.read();
        if (finished) break;
        buffer += value;
        let newline: number;
        while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
          if (line === '') {
            if (Object.keys(event).length) events.push(event);
            event = {};
          } else if (line.startsWith(':')) {
            events.push({ comment: line.slice(1).trim() });
          } else {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'id') event.id = value;
            else if (field === 'data') event.data = event.data === undefined ? value : `${event.data}\n${value}`;
            else if (field === 'retry') event.retry = Number(value);
          }
        }
        wake();
      }
    } catch {
      // Aborted by close().
    } finally {
      done = true;
      wake();
    }
  })();
  const next = (match: (event: SseEvent) => boolean, timeoutMs = 5000, from = 0) =>
    new Promise<SseEvent>((resolve, reject) => {
      const check = () => {
        const found = events.slice(from).find(match);
        if (found) finish(() => resolve(found));
        else if (done) finish(() => reject(new Error(`the stream ended first; it sent ${JSON.stringify(events)}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`nothing matched in ${timeoutMs} ms; the stream sent ${JSON.stringify(events)}`))), timeoutMs);
      const finish = (then: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        then();
      };
      waiters.add(check);
      check();
    });
  return { status: res.status, headers: res.headers, events, next, ended, close: () => abort.abort() };
}

/** The notifications in a stream's events (their `data`, parsed). */
export const notificationsIn = (events: SseEvent[]) =>
  events.filter((e) => e.data !== undefined).map((e) => JSON.parse(e.data as string) as { id: number; name: string; data: number; timestamp: string });
