import { randomUUID } from 'node:crypto';
import express, { type Express, type Request, type RequestHandler, type Response } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import swaggerUi from 'swagger-ui-express';
import type { Config } from './config.js';
import type { Contract } from './contract.js';
import type { Db } from './db/database.js';
import type { Logger } from './logger.js';
import { securityHandlers } from './http/auth.js';
import { cacheHeaders, isFresh } from './http/caching.js';
import { errorHandler, lastResortHandler, notFoundHandler } from './http/errors.js';
import { requireJsonAcceptable } from './http/negotiation.js';
import { cacheValidatorRouteMatchers } from './http/route-matchers.js';
import { apiRoutes } from './resources/api.js';
import { followRoutes } from './resources/follows.js';
import { postRoutes } from './resources/posts.js';
import { tokenRoutes } from './resources/tokens.js';
import { userRoutes } from './resources/users.js';
import { passwordHashing } from './security/passwords.js';

export interface AppDeps {
  db: Db;
  config: Pick<Config, 'validateResponses' | 'tokenTtlSeconds' | 'passwordMinLength'> & Partial<Pick<Config, 'passwordHashConcurrency'>>;
  contract: Contract;
  logger: Logger;
}

export const BODY_LIMIT = '64kb';

/**
 * Builds the application; never listens. Every request under /api passes, in order:
 * body parsing → contract validation (404/405, security, request) → 406 → the resource's
 * route → the error handler.
 */
export function createApp({ db, config, contract, logger }: AppDeps): Express {
  if (config.passwordHashConcurrency) passwordHashing.setLimit(config.passwordHashConcurrency);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', 'strong');
  Object.defineProperty(app.request, 'fresh', {
    configurable: true,
    get(this: Request) {
      return isFresh(this, this.res as Response);
    },
  });
  app.use(requestId);

  app.get('/', (_req, res) => res.redirect(302, '/api/docs'));
  app.get('/api/openapi.json', (_req, res) => res.type('json').send(contract.json));
  app.get('/api/openapi.yaml', (_req, res) => res.type('application/yaml').send(contract.yaml));
  app.use(
    '/api/docs',
    swaggerUi.serveFiles(undefined, { swaggerUrl: '/api/openapi.json' }),
    swaggerUi.setup(undefined, {
      customSiteTitle: 'Microblog API',
      swaggerUrl: '/api/openapi.json',
      swaggerOptions: { persistAuthorization: true, displayRequestDuration: true },
    }),
  );

  app.use('/api', cacheHeaders, headAsGet);
  app.use(express.json({ limit: BODY_LIMIT }));
  cacheValidatorRouteMatchers();
  app.use(
    OpenApiValidator.middleware({
      apiSpec: contract.document() as never,
      validateApiSpec: true,
      validateRequests: { allowUnknownQueryParameters: false, allErrors: true },
      validateResponses: config.validateResponses,
      validateSecurity: { handlers: securityHandlers(db) },
      ignorePaths: /^\/(?!api(\/|$))|^\/api\/(docs|openapi\.(json|yaml))/,
    }),
  );
  app.use('/api', requireJsonAcceptable);

  app.use(apiRoutes());
  app.use(userRoutes(db, { passwordMinLength: config.passwordMinLength }));
  app.use(followRoutes(db));
  app.use(postRoutes(db));
  app.use(tokenRoutes(db, config.tokenTtlSeconds));

  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  app.use(lastResortHandler(logger));
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

/** Takes the caller's X-Request-Id when it is sane, else makes one; echoes it back. */
const requestId: RequestHandler = (req, res, next) => {
  const incoming = req.headers['x-request-id'];
  req.id = typeof incoming === 'string' && /^[\w.:-]{1,128}$/.test(incoming) ? incoming : randomUUID();
  res.set('X-Request-Id', req.id);
  next();
};
