import http, { type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { answerClientError } from './http/client-errors.js';

export interface HttpLimits {
  /** Longest a client may take to send a request's headers. */
  headersTimeoutMs: number;
  /** Longest a client may take to send a whole request, body included. */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: number;
  /** Most connections open at once: one more is closed as soon as it is accepted. */
  maxConnections: number;
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
 * A connection accepted but whose first request has not been read yet is not idle: its
 * client has most likely sent the request already (a client short of CPU can take a
 * second to). It gets this long, within the shutdown timeout, to show it.
 */
const FIRST_REQUEST_GRACE_MS = 2000;

interface Connection {
  /** Requests answered on it so far. */
  served: number;
  /** The answer being written on it, if any. */
  current: ServerResponse | undefined;
}

/**
 * An HTTP server for `app` that hangs up on clients too slow to send their request
 * (slowloris), holds at most `maxConnections` open, and drains on shutdown.
 */
export function createHttpServer(app: RequestListener, limits: HttpLimits): HttpServer {
  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // How often Node looks for connections past those limits (30 s by default).
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    },
    app,
  );
  // A flood must not take the file descriptors the connections served and the database
  // pool need; Node closes each one past it as soon as it is accepted ('drop').
  server.maxConnections = limits.maxConnections;

  // Node's closeIdleConnections() would also close connections whose request is still on
  // its way (accepted, nothing read yet): the drain tracks its own.
  const connections = new Map<Socket, Connection>();
  let stopping = false;
  let listening = true;
  let settled: (() => void) | undefined;

  const closeIfIdle = (socket: Socket, connection: Connection) => {
    if (!listening && !connection.current && connection.served > 0) socket.destroy();
  };
  let accepted = 0;
  server.on('connection', (socket: Socket) => {
    accepted++;
    connections.set(socket, { served: 0, current: undefined });
    socket.once('close', () => {
      connections.delete(socket);
      settled?.();
    });
  });
  // Runs before the app, so even an answer sent at once carries the header.
  server.prependListener('request', (req, res: ServerResponse) => {
    if (stopping) res.setHeader('Connection', 'close');
    const connection = connections.get(req.socket);
    if (!connection) return;
    connection.current = res;
    res.once('close', () => {
      connection.current = undefined;
      connection.served++;
      closeIfIdle(req.socket, connection);
      settled?.();
    });
  });

  // What Node refuses before the app sees a request (headers too large, not HTTP) gets the
  // JSON error body too, unless an answer on that connection has begun.
  server.on('clientError', (err: Error, socket: Socket) => {
    answerClientError(err, socket, connections.get(socket)?.current?.headersSent ?? false);
  });

  let result: Promise<boolean> | undefined;
  const shutdown = (times: ShutdownTimes): Promise<boolean> => {
    result ??= (async () => {
      stopping = true;
      await sleep(times.delayMs);
      // A process short of CPU runs its expired timers before it accepts what queued in
      // the meantime, and closing the listener then resets those connections: first let
      // the event loop take the queue (setImmediate runs after its accepts), until a turn
      // brings nothing new.
      for (let turn = 0, seen = -1; seen !== accepted && turn < 100; turn++) {
        seen = accepted;
        await new Promise((resolve) => setImmediate(resolve));
      }

      listening = false;
      const stoppedAt = Date.now();
      const graceMs = Math.min(FIRST_REQUEST_GRACE_MS, times.timeoutMs);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const [socket, connection] of connections) closeIfIdle(socket, connection);

      // Done when no request runs and every connection has had its first request, or its grace.
      const done = () =>
        [...connections.values()].every((c) => !c.current && c.served > 0) ||
        (Date.now() - stoppedAt >= graceMs && [...connections.values()].every((c) => !c.current));
      const drained = await new Promise<boolean>((resolve) => {
        const deadline = setTimeout(() => finish(false), times.timeoutMs);
        const grace = setTimeout(() => settled?.(), graceMs);
        const finish = (ok: boolean) => {
          clearTimeout(deadline);
          clearTimeout(grace);
          settled = undefined;
          resolve(ok);
        };
        settled = () => done() && finish(true);
        settled();
      });
      server.closeAllConnections();
      for (const socket of connections.keys()) socket.destroy();
      await closed;
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
    // Only the listen's own outcome: later errors are the server's to handle, not this promise's.
    const listening = () => {
      server.removeListener('error', failed);
      resolve();
    };
    const failed = (err: NodeJS.ErrnoException) => {
      server.removeListener('listening', listening);
      const where = `${host ?? ''}:${port}`;
      if (err.code === 'EADDRINUSE') reject(new ListenError(`port ${where} is already in use: stop what holds it, or set ${names.port}`));
      else if (err.code === 'EACCES') reject(new ListenError(`no permission to listen on ${where}: set ${names.port} above 1023`));
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') reject(new ListenError(`cannot listen on ${where}: no such local address (${names.host})`));
      else reject(err);
    };
    server.once('listening', listening);
    server.once('error', failed);
    if (host) server.listen(port, host);
    else server.listen(port);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
