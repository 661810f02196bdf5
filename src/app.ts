import express, { type Express, type RequestHandler } from 'express';
import type { Config } from './config.js';
import type { Contract } from './contract.js';
import type { Db } from './db/database.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { Redis } from './redis.js';
import { createTasks, type Tasks } from './jobs.js';
import { createMailer, type Mailer } from './mail.js';
import { passwordResets } from './services/password-reset.js';
import type { ExportQueue } from './services/exports.js';
import type { NotificationHub } from './services/notifications.js';
import { authenticate } from './http/authentication.js';
import { jsonBodies } from './http/body.js';
import { cacheHeaders } from './http/caching.js';
import { errorHandler, lastResortHandler, notFoundHandler } from './http/errors.js';
import { requestLogger } from './http/logging.js';
import { crossOrigin, securityHeaders } from './http/security-headers.js';
import { wellFormedHost } from './http/host.js';
import { contractOperations, matchOperation } from './http/operations.js';
import { plainIntegers } from './http/parameters.js';
import { requireAcceptable } from './http/negotiation.js';
import { createRateLimits } from './http/rate-limit.js';
import { contractValidator } from './http/validator.js';
import { apiRoutes } from './resources/api.js';
import { docsRoutes } from './resources/docs.js';
import { exportRoutes } from './resources/exports.js';
import { blockRoutes } from './resources/blocks.js';
import { followRoutes } from './resources/follows.js';
import { healthRoutes } from './resources/health.js';
import { messageRoutes } from './resources/messages.js';
import { notificationRoutes } from './resources/notifications.js';
import { postRoutes } from './resources/posts.js';
import { tokenRoutes } from './resources/tokens.js';
import { userRoutes } from './resources/users.js';

export interface AppDeps {
  db: Db;
  config: Pick<
    Config,
    'validateResponses' | 'sessions' | 'passwordMinLength' | 'rateLimits' | 'trustProxy' | 'corsOrigins' | 'readinessTimeoutMs' | 'passwordReset' | 'mail' | 'notifications'
  >;
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
  /** Where mails go; default: made from `config.mail`. */
  mailer?: Mailer;
  /** Where requests leave work for after their answer (reset mails); default: a queue of the app's own. */
  tasks?: Tasks;
  /**
   * Where exports asked for are queued to run (src/export-jobs.ts). Absent, they wait in
   * PostgreSQL for a runner's next start.
   */
  exports?: ExportQueue;
  /** Where notification streams wait for changes (src/services/notifications.ts); without it they answer 503. */
  notifications?: NotificationHub;
}

export const BODY_LIMIT = '64kb';

/** Where the contract's operations live: /api, and the probes outside it. */
const CONTRACT_PATHS = ['/api', '/healthz', '/readyz'];

/** Builds the application; never listens. A request meets the middleware below in order. */
export function createApp({
  db,
  config,
  contract,
  logger,
  redis,
  clusterWorker,
  metrics,
  stopping = () => false,
  mailer = createMailer(config.mail, logger),
  tasks = createTasks(logger),
  exports,
  notifications,
}: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Paths are case sensitive (RFC 3986), as the contract's are and as the validator matches
  // them: /API/users/1 gets a 404, never a route the validator did not check.
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
  app.use(matchOperation(contractOperations(contract.document())));
  app.use(jsonBodies(BODY_LIMIT));
  app.use(authenticate(db, limits.logins, metrics));
  app.use(contractValidator({ contract, validateResponses: config.validateResponses }));
  app.use('/api', plainIntegers);
  app.use(CONTRACT_PATHS, requireAcceptable);

  app.use(healthRoutes(db, stopping, config.readinessTimeoutMs));
  app.use(apiRoutes());
  app.use(userRoutes(db, { passwordMinLength: config.passwordMinLength }));
  app.use(followRoutes(db));
  app.use(postRoutes(db));
  app.use(
    tokenRoutes(db, {
      sessions: config.sessions,
      passwordMinLength: config.passwordMinLength,
      passwordResets: passwordResets({ db, mailer, tasks, logger, config: config.passwordReset }),
      passwordResetLimits: limits.passwordResets,
    }),
  );
  app.use(exportRoutes(db, exports));
  app.use(blockRoutes(db));
  app.use(messageRoutes(db, limits.messages));
  app.use(notificationRoutes(db, notifications, config.notifications, logger));

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
