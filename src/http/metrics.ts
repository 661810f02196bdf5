import http, { type RequestListener, type Server } from 'node:http';
import type { Logger } from '../logger.js';
import { listen } from '../server.js';

/** What GET /metrics answers: Prometheus's text format, rendered at each scrape. */
export interface MetricsSource {
  contentType: string;
  render(): Promise<string>;
}

const TEXT = 'text/plain; charset=utf-8';

/**
 * The metrics listener's requests: GET (or HEAD) /metrics, anything else 404 (405 for another
 * method). Plain text rather than the API's JSON errors: its clients are Prometheus and curl.
 */
export function metricsEndpoint(source: MetricsSource, logger: Logger): RequestListener {
  return (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': TEXT }).end('Not Found: the metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'Content-Type': TEXT, Allow: 'GET, HEAD' }).end('Method Not Allowed\n');
      return;
    }
    source.render().then(
      (body) => {
        res.writeHead(200, { 'Content-Type': source.contentType, 'Cache-Control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        // In a cluster, a worker that does not answer the primary within 5 s (prom-client's limit).
        logger.warn({ err }, 'metrics could not be gathered');
        res.writeHead(503, { 'Content-Type': TEXT, 'Retry-After': '5' }).end('Service Unavailable: the metrics could not be gathered\n');
      },
    );
  };
}

/** Serves `source` at /metrics on a listener of its own (METRICS_PORT, METRICS_HOST). */
export async function startMetricsServer(source: MetricsSource, where: { port: number; host: string }, logger: Logger): Promise<Server> {
  const server = http.createServer(metricsEndpoint(source, logger));
  await listen(server, where, { port: 'METRICS_PORT', host: 'METRICS_HOST' });
  const url = `http://${where.host.includes(':') ? `[${where.host}]` : where.host}:${where.port}/metrics`;
  logger.info({ metrics: url }, `metrics on ${url}`);
  return server;
}
