import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { operations } from '../../generated/openapi.js';

type Operation<K extends keyof operations> = operations[K];
type Parameters<K extends keyof operations> = Operation<K>['parameters'];

export type PathParams<K extends keyof operations> =
  Parameters<K> extends { path: infer P } ? P : Record<string, never>;
export type QueryParams<K extends keyof operations> =
  Parameters<K> extends { query?: infer Q } ? NonNullable<Q> : Record<string, never>;
export type RequestBody<K extends keyof operations> =
  Operation<K>['requestBody'] extends { content: { 'application/json': infer B } } | undefined ? B : never;
export type ResponseBody<K extends keyof operations, S extends keyof Operation<K>['responses']> =
  Operation<K>['responses'][S] extends { content: { 'application/json': infer R } } ? R : never;

/** A request as the validator hands it on: params, query and body coerced and checked. */
export type ValidRequest<K extends keyof operations> = Omit<Request, 'params' | 'query' | 'body'> & {
  params: PathParams<K>;
  query: QueryParams<K>;
  body: RequestBody<K>;
};

/**
 * A handler typed from the contract operation `operationId`. Express recomputes
 * req.params as strings in each router; the validator's coerced copy is put back.
 */
export function operation<K extends keyof operations>(
  _operationId: K,
  handler: (req: ValidRequest<K>, res: Response, next: NextFunction) => Promise<void> | void,
): RequestHandler {
  return (req, res, next) => {
    const coerced = (req as { openapi?: { pathParams?: Record<string, string> } }).openapi?.pathParams;
    if (coerced) req.params = coerced;
    return handler(req as unknown as ValidRequest<K>, res, next);
  };
}
