/**
 * Counts SQL statements at the wire: a TCP proxy between a server and PostgreSQL that
 * counts the frontend's Query ('Q', simple protocol) and Parse ('P', extended protocol)
 * messages. It sees every statement whoever sends it (knex, bare pg, a transaction's
 * BEGIN/COMMIT), so the same count holds for our server and for the ceiling. Only used
 * in the counting phase: the throughput runs connect to PostgreSQL directly.
 */
import net from 'node:net';

export interface StatementCounter {
  port: number;
  /** Statements seen since the proxy started. */
  count(): number;
  close(): Promise<void>;
}

/** Parses the frontend's side of one connection and counts statements. */
function frontendParser(onStatement: () => void): (chunk: Buffer) => void {
  let buffer: Buffer = Buffer.alloc(0);
  let started = false;
  return (chunk) => {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    for (;;) {
      if (!started) {
        // StartupMessage, SSLRequest or GSSENCRequest: a length, then a code; no type byte.
        if (buffer.length < 8) return;
        const length = buffer.readInt32BE(0);
        if (buffer.length < length) return;
        const code = buffer.readInt32BE(4);
        buffer = buffer.subarray(length);
        if (code !== 80877103 && code !== 80877104) started = true;
        continue;
      }
      if (buffer.length < 5) return;
      const type = String.fromCharCode(buffer[0] as number);
      const length = buffer.readInt32BE(1);
      if (buffer.length < 1 + length) return;
      if (type === 'Q' || type === 'P') onStatement();
      buffer = buffer.subarray(1 + length);
    }
  };
}

/** Starts a counting proxy on a free 127.0.0.1 port in front of host:port. */
export async function startStatementCounter(target: { host: string; port: number }): Promise<StatementCounter> {
  let statements = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    const parse = frontendParser(() => statements++);
    client.on('data', (chunk) => {
      parse(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    count: () => statements,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
