import http, { type RequestListener, type Server, type ServerResponse } from 'node:http';
import { answerClientError } from './http/client-errors.js';

export interface HttpTimeouts {
  /** Longest a client may take to send a request's headers. */
  headersTimeoutMs: number;
  /** Longest a client may take to send a whole request, body included. */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: number;
}

export interface HttpServer {
  server: Server;
  /**
   * Stops accepting connections and lets the requests in flight finish, closing each
   * connection after its answer. After `timeoutMs` it cuts the connections still open.
   * Resolves `true` when everything finished in time.
   */
  drain(timeoutMs: number): Promise<boolean>;
}

/**
 * An HTTP server for `app` that hangs up on clients too slow to send their request
 * (slowloris) and can be drained on shutdown.
 */
export function createHttpServer(app: RequestListener, timeouts: HttpTimeouts): HttpServer {
  const server = http.createServer(
    {
      headersTimeout: timeouts.headersTimeoutMs,
      requestTimeout: timeouts.requestTimeoutMs,
      keepAliveTimeout: timeouts.keepAliveTimeoutMs,
      // How often Node looks for connections past those limits (30 s by default).
      connectionsCheckingInterval: Math.min(1000, timeouts.headersTimeoutMs),
    },
    app,
  );

  const inFlight = new Set<ServerResponse>();
  let draining = false;
  // Runs before the app, so even an answer sent at once carries the header.
  server.prependListener('request', (_req, res: ServerResponse) => {
    if (draining) res.setHeader('Connection', 'close');
    inFlight.add(res);
    res.once('close', () => {
      inFlight.delete(res);
      if (draining) server.closeIdleConnections();
    });
  });

  server.on('clientError', (err: Error, socket) => {
    answerClientError(err, socket, [...inFlight].some((res) => res.socket === socket && res.headersSent));
  });

  const drain = async (timeoutMs: number): Promise<boolean> => {
    draining = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Node keeps a keep-alive connection open after its answer, which would hold close()
    // up until keepAliveTimeout: answers still to come close theirs instead.
    for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
    server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const drained = await Promise.race([closed.then(() => true), timedOut]);
    clearTimeout(timer);
    if (!drained) {
      server.closeAllConnections();
      await closed;
    }
    return drained;
  };

  return { server, drain };
}
