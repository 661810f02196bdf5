import express, { type Express, type RequestHandler } from 'express';
import type { Config } from './config.js';
import type { Contract } from './contract.js';
import type { Db } from './db/database.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { Redis } from './redis.js';
import { securityHandlers } from './http/auth.js';
import { jsonBodies } from './http/body.js';
import { cacheHeaders } from './http/caching.js';
import { errorHandler, lastResortHandler, notFoundHandler } from './http/errors.js';
import { requestLogger } from './http/logging.js';
import { crossOrigin, securityHeaders } from './http/security-headers.js';
import { wellFormedHost } from './http/host.js';
import { plainIntegers } from './http/integers.js';
import { decodablePathParameters } from './http/path-parameters.js';
import { requireJsonAcceptable } from './http/negotiation.js';
import { createRateLimits } from './http/rate-limit.js';
import { contractValidator } from './http/validator.js';
import { apiRoutes } from './resources/api.js';
import { docsRoutes } from './resources/docs.js';
import { followRoutes } from './resources/follows.js';
import { healthRoutes } from './resources/health.js';
import { postRoutes } from './resources/posts.js';
import { tokenRoutes } from './resources/tokens.js';
import { userRoutes } from './resources/users.js';
import { passwordHashing } from './security/passwords.js';

export interface AppDeps {
  db: Db;
  config: Pick<Config, 'validateResponses' | 'tokenTtlSeconds' | 'passwordMinLength' | 'rateLimits' | 'trustProxy' | 'corsOrigins' | 'readinessTimeoutMs'> &
    Partial<Pick<Config, 'passwordHashConcurrency'>>;
  contract: Contract;
  logger: Logger;
  /** Where rate limits are counted when several instances share them; else in memory. */
  redis?: Redis;
  /** A worker of this server's cluster: its rate limits are counted in the primary, shared by the workers. */
  clusterWorker?: boolean;
  /** What requests, refusals and failed logins are counted in (for Prometheus); none when absent. */
  metrics?: Metrics;
  /** True once the process is shutting down: readiness then answers 503. */
  stopping?: () => boolean;
}

export const BODY_LIMIT = '64kb';

/** Where the contract's operations live: /api, and the probes outside it. */
const CONTRACT_PATHS = ['/api', '/healthz', '/readyz'];

/**
 * Builds the application; never listens. Every request under /api passes, in order:
 * request id and log line → security headers → a repeated or malformed Host refused → CORS
 * → the per-client rate limit → (the documentation's paths turn off here) → cache headers →
 * body parsing (for operations that take a body) → path parameters that do not decode →
 * contract validation (404/405, security, request) → integers as plain digits → 406 → the
 * resource's route → the error handler.
 */
export function createApp({ db, config, contract, logger, redis, clusterWorker, metrics, stopping = () => false }: AppDeps): Express {
  if (config.passwordHashConcurrency) passwordHashing.setLimit(config.passwordHashConcurrency);
  const app = express();
  app.disable('x-powered-by');
  // Paths are case sensitive (RFC 3986), as the contract's are and as the validator then
  // matches them: /API/users/1 is no path of ours, so it gets a 404, never a route the
  // validator did not check (that was a 500). Each router says so too.
  app.enable('case sensitive routing');
  app.set('trust proxy', config.trustProxy);
  app.set('etag', 'strong');
  app.use(requestLogger(logger, metrics));
  app.use(securityHeaders);
  app.use(wellFormedHost);
  // Before the limit, so that a 429 reaches the browser's script and preflights cost nothing.
  if (config.corsOrigins) app.use('/api', crossOrigin(config.corsOrigins));
  const limits = createRateLimits(config.rateLimits, { redis, clusterWorker, logger, metrics });
  app.use('/api', limits.requests);

  app.use(docsRoutes(contract));

  app.use('/api', cacheHeaders);
  app.use(CONTRACT_PATHS, headAsGet);
  app.use(jsonBodies(contract.document(), BODY_LIMIT));
  app.use(decodablePathParameters(contract.document()));
  app.use(contractValidator({ contract, validateResponses: config.validateResponses, securityHandlers: securityHandlers(db, limits.logins, metrics) }));
  app.use('/api', plainIntegers);
  app.use(CONTRACT_PATHS, requireJsonAcceptable);

  app.use(healthRoutes(db, stopping, config.readinessTimeoutMs));
  app.use(apiRoutes());
  app.use(userRoutes(db, { passwordMinLength: config.passwordMinLength }));
  app.use(followRoutes(db));
  app.use(postRoutes(db));
  app.use(tokenRoutes(db, config.tokenTtlSeconds));

  app.use(notFoundHandler);
  app.use(errorHandler());
  app.use(lastResortHandler());
  return app;
}

/**
 * HEAD is GET without the body (RFC 9110), but the contract lists only GET: let the
 * validator and routes see a GET. Node still sends no body, as it knows the request was HEAD.
 */
const headAsGet: RequestHandler = (req, _res, next) => {
  if (req.method === 'HEAD') req.method = 'GET';
  next();
};
