import http from 'node:http';
import type { Answer } from '../support/contract.js';
import { materialize, type RawBody } from './plans.js';
import type { World } from './world.js';

/** Requests on the wire: sending one, and showing one in a failure. */

/** A request as it goes on the wire. */
export interface WireRequest {
  method: string;
  path: string;
  query: string[];
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

export type PathRenderer = (raw?: Record<string, string>) => string;

export function setRawBody(req: WireRequest, raw: RawBody, contentType: string | null | undefined): void {
  const body = materialize(raw) as string | number[];
  req.body =
    typeof body === 'string'
      ? contentType === null
        ? new TextEncoder().encode(body)
        : body
      : Uint8Array.from(body);
  delete req.headers['Content-Type'];
  if (contentType !== null) req.headers['Content-Type'] = contentType ?? 'application/json';
}

const agent = new http.Agent({ keepAlive: true });

/** Closes the fuzzer's kept-alive connections. */
export const closeConnections = () => agent.destroy();

/** Sends through node:http, which (unlike fetch) sends a body with any method. */
export function send(world: World, req: WireRequest): Promise<Answer> {
  const query = req.query.length ? `?${req.query.join('&')}` : '';
  const url = new URL(world.server.baseUrl);
  const body = req.body === undefined ? undefined : Buffer.from(req.body);
  // Without a Content-Length, node:http sends a GET's or DELETE's body unframed.
  const headers =
    body === undefined ? req.headers : { ...req.headers, 'Content-Length': String(body.length) };
  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.path + query,
        headers,
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            for (const v of Array.isArray(value) ? value : [value ?? '']) headers.append(name, v);
          }
          resolve({
            status: res.statusCode ?? 0,
            headers,
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** The JSON object a request carried, if it carried one. */
export function sentJson(req: WireRequest): Record<string, unknown> | undefined {
  if (typeof req.body !== 'string') return undefined;
  try {
    const value: unknown = JSON.parse(req.body.replace(/^\ufeff/, ''));
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export function describeBody(body: WireRequest['body']): string {
  if (body === undefined) return '(none)';
  const s =
    typeof body === 'string' ? body : `bytes ${Buffer.from(body).toString('hex').slice(0, 80)}`;
  return s.length > 300 ? `${s.slice(0, 300)}… (${s.length} characters)` : s;
}

export function describe(req: WireRequest): string {
  const query = req.query.length ? `?${req.query.join('&')}` : '';
  const headers = Object.entries(req.headers).map(
    ([k, v]) => `${k}: ${v.length > 120 ? `${v.slice(0, 120)}… (${v.length})` : v}`,
  );
  return [`${req.method} ${req.path}${query}`, ...headers, '', describeBody(req.body)].join('\n');
}
