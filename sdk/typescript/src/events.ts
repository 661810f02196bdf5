import type { UserNotification } from './schema.js';

/** One event of a `text/event-stream`, as `EventSource` hands it over. */
export interface ServerSentEvent {
  /** The last `id:` seen in the stream up to this event (send it back as `Last-Event-ID`). */
  id: string | undefined;
  /** The `event:` type, `message` when the event names none. */
  event: string;
  /** Its `data:` lines, joined with newlines. */
  data: string;
}

/**
 * The events of a `text/event-stream` answer, parsed as `EventSource` parses them (WHATWG
 * HTML, "Server-sent events"): comment lines (`: heartbeat`) and `retry:` are skipped, a
 * block without `data:` is no event. `body` is the stream as it arrives (openapi-fetch's
 * `parseAs: 'stream'`, or `response.body`), yielding each event when its blank line comes,
 * or the whole text (`parseAs: 'text'`). Ends when the server ends the stream; to stop
 * earlier, abort the request (`signal`) or leave the loop (`break` cancels the stream).
 */
export async function* serverSentEvents(
  body: ReadableStream<Uint8Array> | string | null | undefined,
): AsyncGenerator<ServerSentEvent, void, undefined> {
  let lastId: string | undefined;
  let event = '';
  let data: string[] = [];
  let pending = '';

  /** Takes one line; an event when the line is blank and the block carried data. */
  const line = (text: string): ServerSentEvent | undefined => {
    if (text === '') {
      const done =
        data.length > 0
          ? { id: lastId, event: event || 'message', data: data.join('\n') }
          : undefined;
      event = '';
      data = [];
      return done;
    }
    if (text.startsWith(':')) return undefined;
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id' && !value.includes('\0')) lastId = value;
    return undefined;
  };

  /** The complete lines of `pending` (a lone trailing CR waits: an LF may follow it). */
  function* lines(final: boolean): Generator<string> {
    const pattern = /\r\n|\r|\n/g;
    let start = 0;
    for (let match = pattern.exec(pending); match; match = pattern.exec(pending)) {
      if (!final && match[0] === '\r' && match.index === pending.length - 1) break;
      yield pending.slice(start, match.index);
      start = match.index + match[0].length;
    }
    pending = pending.slice(start);
  }

  const parse = function* (final: boolean): Generator<ServerSentEvent> {
    for (const text of lines(final)) {
      const done = line(text);
      if (done) yield done;
    }
  };

  if (typeof body === 'string' || body === null || body === undefined) {
    pending = (body ?? '').replace(/^\uFEFF/, '');
    yield* parse(true);
    return;
  }
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let first = true;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      if (first && pending.length > 0) {
        pending = pending.replace(/^\uFEFF/, '');
        first = false;
      }
      yield* parse(false);
    }
    pending += decoder.decode();
    yield* parse(true);
  } finally {
    // Leaving the loop early (break, an error) cancels the stream, which ends the request.
    await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/**
 * The notifications of a `GET /api/notifications/stream` answer, each event's `data`
 * parsed (see `serverSentEvents`):
 *
 *     const { data } = await client.GET('/api/notifications/stream', { parseAs: 'stream' });
 *     for await (const notification of notificationEvents(data)) show(notification);
 *
 * The last notification's `id` is what to send as `Last-Event-ID` when reconnecting.
 */
export async function* notificationEvents(
  body: ReadableStream<Uint8Array> | string | null | undefined,
): AsyncGenerator<UserNotification, void, undefined> {
  for await (const event of serverSentEvents(body)) yield JSON.parse(event.data) as UserNotification;
}
