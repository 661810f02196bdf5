import type { RequestHandler } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import type { Contract } from '../contract.js';

export interface ValidatorOptions {
  contract: Contract;
  validateResponses: boolean;
}

/**
 * The contract's validator, as every request under /api and the probes meets it: 404 and
 * 405 with Allow, then the request's parameters, headers and body
 * (formats in full: 'fast' lets a month 13 through a date-time). Responses are checked
 * when `validateResponses` is on (tests, development).
 */
export function contractValidator({ contract, validateResponses }: ValidatorOptions): RequestHandler[] {
  return OpenApiValidator.middleware({
    apiSpec: contract.document() as never,
    validateApiSpec: true,
    validateRequests: { allowUnknownQueryParameters: false, allErrors: true },
    ajvFormats: { mode: 'full' },
    formats: contract.formats,
    validateResponses,
    // Authentication is ours (src/http/authentication.ts), so that its errors keep their challenge.
    validateSecurity: false,
    // The contract takes JSON bodies only: no multipart parser on every request.
    fileUploader: false,
    ignorePaths: /^\/(?!api(\/|$)|healthz$|readyz$)|^\/api\/(docs|openapi\.(json|yaml))/,
  }) as unknown as RequestHandler[];
}
