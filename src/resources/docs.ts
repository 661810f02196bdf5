import { Router, type RequestHandler } from 'express';
import swaggerUi from 'swagger-ui-express';
import type { Contract } from '../contract.js';

/** The documentation's paths, matched as our routes match: case sensitive, a trailing slash allowed. */
const DOCUMENTATION = /^\/(?:api\/openapi\.(?:json|yaml)\/?|api\/docs(?:\/.*)?)?$/;

/**
 * The documentation: `/` redirects to Swagger UI at /api/docs, which reads the contract from
 * /api/openapi.json (also served as /api/openapi.yaml). Requests for anything else pass by
 * with one test of their path instead of a walk through these routes.
 */
export function docsRoutes(contract: Contract): RequestHandler {
  const router = Router({ caseSensitive: true });
  router.get('/', (_req, res) => res.redirect(302, '/api/docs'));
  router.get('/api/openapi.json', (_req, res) => res.type('json').send(contract.json));
  router.get('/api/openapi.yaml', (_req, res) => res.type('application/yaml').send(contract.yaml));
  // serveFiles writes swagger-ui-init.js, which carries swaggerOptions: both take the same options.
  const docs = {
    customSiteTitle: 'Microblog API',
    swaggerUrl: '/api/openapi.json',
    // No validator badge: it would send the contract's URL to validator.swagger.io.
    swaggerOptions: { persistAuthorization: true, displayRequestDuration: true, validatorUrl: null },
  };
  router.use('/api/docs', swaggerUi.serveFiles(undefined, docs), swaggerUi.setup(undefined, docs));
  return (req, res, next) => (DOCUMENTATION.test(req.path) ? router(req, res, next) : next());
}
