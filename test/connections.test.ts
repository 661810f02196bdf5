import net from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startServerProcess, type ServerProcess } from './support/process.js';

/**
 * What an exposed server holds open, against the real server process with its limits set
 * small, through raw sockets (fetch would keep connections of its own open).
 */

const MAX_CONNECTIONS = 3;

let server: ServerProcess;
const sockets = new Set<net.Socket>();

/** A server process of its own for each describe. */
function useServerProcess(env: Record<string, string>): void {
  beforeAll(async () => {
    server = await startServerProcess({ DATABASE_URL: inject('databaseUrl'), ...env });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await server?.kill();
  });
}

interface Connection {
  /** Sends a request: the whole answer, or what came before the server closed the connection. */
  send(request: string): Promise<string>;
  /** Everything the server sent. */
  received(): string;
  closed: Promise<void>;
}

async function connect(): Promise<Connection> {
  const socket = net.connect(server.port, '127.0.0.1');
  sockets.add(socket);
  socket.on('error', () => undefined); // a connection refused past the cap may be reset
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  void closed.then(() => sockets.delete(socket));
  await new Promise((resolve) => socket.once('connect', resolve));
  let received = '';
  let waiter: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
    waiter?.();
  });
  void closed.then(() => waiter?.());
  const send = (request: string) =>
    new Promise<string>((resolve) => {
      const from = received.length;
      waiter = () => {
        const answer = received.slice(from);
        const end = answer.indexOf('\r\n\r\n');
        const length = Number(/\r\ncontent-length: (\d+)\r\n/i.exec(answer)?.[1] ?? NaN);
        if ((end >= 0 && answer.length >= end + 4 + length) || socket.destroyed) resolve(answer);
      };
      if (socket.destroyed) resolve('');
      else socket.write(request);
    });
  return { send, received: () => received, closed };
}

const HEALTH = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
const OK = /^HTTP\/1\.1 200 OK\r\n[\s\S]*\{"status":"ok"\}$/;

describe('MAX_CONNECTIONS', () => {
  useServerProcess({ MAX_CONNECTIONS: String(MAX_CONNECTIONS) });

  it('closes a connection past it at once, unanswered, while the open ones are served, and accepts again once one closes', async () => {
    const open = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, connect));
    for (const connection of open) expect(await connection.send(HEALTH)).toMatch(OK);

    // All of them kept open (keep-alive): one more is one too many.
    const extra = await connect();
    expect(await extra.send(HEALTH)).toBe('');
    await extra.closed;
    const warning = await server.waitForLine((line) => line.msg === 'connections refused: MAX_CONNECTIONS are open');
    expect(warning).toMatchObject({ level: 40, refused: 1, maxConnections: MAX_CONNECTIONS });

    // Those already open go on being served.
    for (const connection of open) expect(await connection.send(HEALTH)).toMatch(OK);

    // One asks to close; once the server has let it go, a new connection is served.
    const leaving = open.pop() as Connection;
    expect(await leaving.send('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')).toMatch(OK);
    await leaving.closed;
    let answer = '';
    for (let attempt = 0; attempt < 50 && !OK.test(answer); attempt++) {
      // The server may not have seen the close yet: that attempt is refused like the one before.
      answer = await (await connect()).send(HEALTH);
    }
    expect(answer).toMatch(OK);
  });
});

describe('HTTP_HEADERS_TIMEOUT_MS shorter than HTTP_KEEP_ALIVE_TIMEOUT_MS', () => {
  useServerProcess({ HTTP_HEADERS_TIMEOUT_MS: '1000', HTTP_KEEP_ALIVE_TIMEOUT_MS: '30000' });

  it('cuts a connection that sends no request, but not a keep-alive connection idle between two requests', async () => {
    const kept = await connect();
    expect(await kept.send(HEALTH)).toMatch(OK);

    const silent = await connect();
    await silent.closed;
    expect(silent.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);

    // Idle all that time, longer than the headers timeout: still served.
    expect(await kept.send(HEALTH)).toMatch(OK);
  });
});
