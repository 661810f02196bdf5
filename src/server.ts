import http, { type RequestListener, type Server, type ServerResponse } from 'node:http';

export interface HttpTimeouts {
  /** Longest a client may take to send a request's headers. */
  headersTimeoutMs: number;
  /** Longest a client may take to send a whole request, body included. */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: number;
}

export interface ShutdownTimes {
  /** How long to go on accepting and serving (with `Connection: close`) once told to stop. */
  delayMs: number;
  /** How long, after that, requests in flight may take before their connections are cut. */
  timeoutMs: number;
}

export interface HttpServer {
  server: Server;
  /** True from the moment `shutdown` is called: readiness answers 503. */
  stopping(): boolean;
  /**
   * The drain a load balancer expects: for `delayMs` the server still accepts and serves
   * (every answer closing its connection) while balancers notice the failing readiness
   * probe and stop sending; connections already queued are served, not reset. Then it
   * stops listening and lets requests in flight finish, cutting the connections still
   * open after `timeoutMs`. Resolves `true` when everything finished in time.
   */
  shutdown(times: ShutdownTimes): Promise<boolean>;
}

/**
 * An HTTP server for `app` that hangs up on clients too slow to send their request
 * (slowloris) and drains on shutdown.
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
  let stopping = false;
  // Runs before the app, so even an answer sent at once carries the header.
  server.prependListener('request', (_req, res: ServerResponse) => {
    if (stopping) res.setHeader('Connection', 'close');
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  });

  let result: Promise<boolean> | undefined;
  const shutdown = (times: ShutdownTimes): Promise<boolean> => {
    result ??= (async () => {
      stopping = true;
      // Answers already being written keep their connection open: later ones close theirs.
      for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
      await sleep(times.delayMs);

      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Node keeps a keep-alive connection open after its answer, which would hold close()
      // up until keepAliveTimeout: close the idle ones now, the busy ones as they finish.
      server.closeIdleConnections();
      const onFinish = () => server.closeIdleConnections();
      for (const res of inFlight) res.once('close', onFinish);
      server.on('request', (_req, res: ServerResponse) => res.once('close', onFinish));

      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), times.timeoutMs);
      });
      const drained = await Promise.race([closed.then(() => true), timedOut]);
      clearTimeout(timer);
      if (!drained) {
        server.closeAllConnections();
        await closed;
      }
      return drained;
    })();
    return result;
  };

  return { server, stopping: () => stopping, shutdown };
}

/** A listen that failed for a reason its message names in one line, with the setting to change. */
export class ListenError extends Error {}

/**
 * Listens on `port` (and `host`, else every interface); rejects with a ListenError naming
 * the variables `names` gives when the port is taken, privileged, or the address unknown.
 */
export function listen(server: Server, { port, host }: { port: number; host?: string | undefined }, names = { port: 'PORT', host: 'HOST' }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (err: NodeJS.ErrnoException) => {
      const where = `${host ?? ''}:${port}`;
      if (err.code === 'EADDRINUSE') reject(new ListenError(`port ${where} is already in use: stop what holds it, or set ${names.port}`));
      else if (err.code === 'EACCES') reject(new ListenError(`no permission to listen on ${where}: set ${names.port} above 1023`));
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') reject(new ListenError(`cannot listen on ${where}: no such local address (${names.host})`));
      else reject(err);
    });
    if (host) server.listen(port, host);
    else server.listen(port);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
