import { Router } from 'express';
import { readiness, type Db } from '../db/database.js';
import { operation, type ResponseBody } from '../http/operations.js';

const RETRY_AFTER_SECONDS = '5';

/**
 * GET /healthz (liveness) and GET /readyz (readiness), for load balancers and orchestrators.
 * Readiness fails as soon as the process is `stopping`, so that balancers stop sending
 * before it stops listening.
 */
export function healthRoutes(db: Db, stopping: () => boolean, readinessTimeoutMs: number): Router {
  const router = Router({ caseSensitive: true });

  router.get(
    '/healthz',
    operation('getHealth', (_req, res) => {
      const body: ResponseBody<'getHealth', 200> = { status: 'ok' };
      res.set('Cache-Control', 'no-store').json(body);
    }),
  );

  router.get(
    '/readyz',
    operation('getReadiness', async (_req, res) => {
      res.set('Cache-Control', 'no-store');
      // At once, whatever the database does: balancers must see it before the delay is up.
      if (stopping()) {
        const body: ResponseBody<'getReadiness', 503> = { status: 'stopping', checks: { database: 'unknown', migrations: 'unknown' } };
        res.status(503).set('Retry-After', RETRY_AFTER_SECONDS).json(body);
        return;
      }
      const state = await readiness(db, readinessTimeoutMs);
      const checks = { database: state.database ? 'ok' : 'unavailable', migrations: state.migrations } as const;
      const ready = checks.database === 'ok' && checks.migrations === 'ok';
      if (ready) {
        const body: ResponseBody<'getReadiness', 200> = { status: 'ready', checks };
        res.json(body);
        return;
      }
      const body: ResponseBody<'getReadiness', 503> = { status: 'unavailable', checks };
      res.status(503).set('Retry-After', RETRY_AFTER_SECONDS).json(body);
    }),
  );

  return router;
}
