import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** The statuses Node itself sends for what it refuses before the app sees a request. */
const STATUSES: Record<string, number> = { HPE_HEADER_OVERFLOW: 431, HPE_CHUNK_EXTENSIONS_OVERFLOW: 413, ERR_HTTP_REQUEST_TIMEOUT: 408 };

const MESSAGES: Record<number, string> = {
  400: 'the request is not valid HTTP/1.1',
  408: 'the request took too long to arrive',
  413: 'the chunk extensions of the request body are too large',
  431: `the request line and headers must not be larger than ${Math.floor(maxHeaderSize / 1024)} KB in all`,
};

/**
 * Answers a request Node refuses before the app sees it (headers over its limit, a malformed
 * request, one too slow to arrive) with the status Node would send, and with the JSON error
 * body where Node sends a status line alone. Its headers were never read, so there is no
 * Accept to negotiate: always JSON. `busy`: an answer on this connection has begun, which
 * anything written now would corrupt.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex, busy: boolean): void {
  if (err.code === 'ECONNRESET' || !socket.writable || busy) {
    socket.destroy();
    return;
  }
  const status = STATUSES[err.code ?? ''] ?? 400;
  const body = JSON.stringify({ error: STATUS_CODES[status], message: MESSAGES[status] });
  socket.end(
    [
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
      'Content-Type: application/json; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(body)}`,
      'Cache-Control: no-store',
      'X-Content-Type-Options: nosniff',
      'Connection: close',
      '',
      body,
    ].join('\r\n'),
  );
}
