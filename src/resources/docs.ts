import { Router, type RequestHandler } from 'express';
import swaggerUi from 'swagger-ui-express';
import type { Contract } from '../contract.js';

/** The documentation's paths, matched as our routes match: case sensitive, a trailing slash allowed. */
const DOCUMENTATION = /^\/(?:api\/openapi\.(?:json|yaml)\/?|api\/docs(?:\/.*)?)?$/;

/** Where Swagger UI's page is: with the slash its relative asset URLs need, so no second redirect. */
const DOCS_PAGE = '/api/docs/';

/**
 * The functions below run in the browser: swagger-ui-express writes their source into
 * swagger-ui-init.js, so they refer to nothing outside themselves.
 */
interface SwaggerRequest {
  headers: Record<string, string>;
}
interface BrowserStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/**
 * Marks Swagger UI's requests as a script's: a 401 from POST /api/tokens then challenges with
 * a scheme the browser does not know, instead of `Basic`, which it would meet with a login
 * dialog that hides the answer (and, headless, never closes).
 */
const markAsScript = (request: SwaggerRequest): SwaggerRequest => {
  request.headers['X-Requested-With'] = 'XMLHttpRequest';
  return request;
};

/**
 * persistAuthorization keeps what "Authorize" was given in localStorage, as plain text: keep
 * the bearer token there (it expires and can be revoked) but never the Basic password.
 * wrapActions is Swagger UI's documented plugin API; the action it wraps is Swagger UI's own,
 * which may change in a minor release, so package.json pins swagger-ui-dist to ~5.35.
 */
const forgetPasswords = () => ({
  statePlugins: {
    auth: {
      wrapActions: {
        persistAuthorizationIfNeeded: (persist: () => unknown) => () => {
          const persisted = persist();
          const storage = (globalThis as unknown as { localStorage: BrowserStorage }).localStorage;
          const saved = JSON.parse(storage.getItem('authorized') ?? '{}') as Record<string, { schema?: { scheme?: string } }>;
          const kept = Object.entries(saved).filter(([, auth]) => auth.schema?.scheme?.toLowerCase() !== 'basic');
          storage.setItem('authorized', JSON.stringify(Object.fromEntries(kept)));
          return persisted;
        },
      },
    },
  },
});

/**
 * The documentation: `/` redirects to Swagger UI at /api/docs/, which reads the contract from
 * /api/openapi.json (also served as /api/openapi.yaml). Requests for anything else pass by
 * with one test of their path instead of a walk through these routes.
 */
export function docsRoutes(contract: Contract): RequestHandler {
  const router = Router({ caseSensitive: true });
  router.get('/', (_req, res) => res.redirect(302, DOCS_PAGE));
  router.get('/api/openapi.json', (_req, res) => res.type('json').send(contract.json));
  router.get('/api/openapi.yaml', (_req, res) => res.type('application/yaml').send(contract.yaml));
  // serveFiles writes swagger-ui-init.js, which carries swaggerOptions: both take the same options.
  const docs = {
    customSiteTitle: 'Microblog API',
    swaggerUrl: '/api/openapi.json',
    swaggerOptions: {
      persistAuthorization: true,
      displayRequestDuration: true,
      // No validator badge: it would send the contract's URL to validator.swagger.io.
      validatorUrl: null,
      requestInterceptor: markAsScript,
      // In place of swagger-ui-express's list, whose one plugin (DownloadUrl) Swagger UI's preset has already.
      plugins: [forgetPasswords],
    },
  };
  router.use('/api/docs', swaggerUi.serveFiles(undefined, docs), swaggerUi.setup(undefined, docs));
  return (req, res, next) => (DOCUMENTATION.test(req.path) ? router(req, res, next) : next());
}
