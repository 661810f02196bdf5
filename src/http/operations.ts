import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { operations } from '../../generated/openapi.js';
import type { OpenApiDocument } from '../contract.js';
import { HttpError } from './http-error.js';

/** One operation of the contract, as requests are matched against it. */
export interface ContractOperation {
  operationId: string;
  method: string;
  /** The path template as the contract writes it (`/api/users/{id}`). */
  template: string;
  /** Matches the template as Express routes do: case sensitive, an optional trailing slash. */
  pattern: RegExp;
  /** The template's parameter names, in order. */
  pathParameters: string[];
  /** Path parameters whose schema is an integer. */
  integerParameters: ReadonlySet<string>;
  /** The security schemes it takes, in order of preference; empty when it is public. */
  schemes: string[];
  takesBody: boolean;
  /** Whether the body must be sent (an optional one may be left out). */
  bodyRequired: boolean;
  /** The media type of its success answer: application/json but for an event stream. */
  produces: string;
}

/** The operation a request names, and its path parameters as sent (decoded). */
export interface MatchedOperation {
  operation: ContractOperation;
  rawParams: Record<string, string>;
}

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by `matchOperation` for a request to one of the contract's operations. */
    operation?: MatchedOperation;
  }
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

type Node = Record<string, unknown>;

/** Every operation the contract declares. */
export function contractOperations(document: OpenApiDocument): ContractOperation[] {
  const resolve = (node: unknown): Node => {
    const ref = (node as { $ref?: string } | undefined)?.$ref;
    if (!ref) return (node ?? {}) as Node;
    let target: unknown = document;
    for (const part of ref.slice(2).split('/')) target = (target as Node)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    return resolve(target);
  };
  const global = (document.security ?? []) as Node[];
  const paths = (document.paths ?? {}) as Record<string, Node>;
  return Object.entries(paths).flatMap(([template, item]) => {
    const pathParameters = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);
    const shared = (item.parameters ?? []) as unknown[];
    return METHODS.filter((method) => item[method]).map((method) => {
      const op = item[method] as Node;
      const parameters = [...shared, ...((op.parameters ?? []) as unknown[])].map(resolve);
      const integerParameters = new Set(
        parameters.filter((p) => p.in === 'path' && resolve(p.schema).type === 'integer').map((p) => p.name as string),
      );
      const security = (op.security ?? global) as Node[];
      return {
        operationId: op.operationId as string,
        method: method.toUpperCase(),
        template,
        pattern: templatePattern(template),
        pathParameters,
        integerParameters,
        schemes: security.some((s) => Object.keys(s).length === 0) ? [] : security.flatMap((s) => Object.keys(s)),
        takesBody: op.requestBody !== undefined,
        bodyRequired: resolve(op.requestBody).required === true,
        produces: successMediaType(Object.entries((op.responses ?? {}) as Node).map(([status, answer]) => [status, resolve(answer)])),
      };
    });
  });
}

/** The first media type of the operation's first 2xx answer that has a body. */
function successMediaType(answers: [string, Node][]): string {
  const success = answers.find(([status, answer]) => /^2/.test(status) && answer.content);
  return Object.keys((success?.[1].content ?? {}) as Node)[0] ?? 'application/json';
}

const parameterCount = (template: string) => template.split('{').length - 1;

/** A template's matcher: each `{name}` captures one path segment, in order. */
function templatePattern(template: string): RegExp {
  const literal = template.split(/\{[^}]+\}/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${literal.join('([^/]+)')}/?$`);
}

const UNDECODABLE = 'must be percent-encoded UTF-8';

/**
 * Finds the operation a request names (none for an unknown path or method, which the
 * validator answers with 404 or 405) and puts it on `req.operation`. A path parameter that
 * does not decode (%FF, or an encoded lone surrogate) gets a 400 naming the parameter.
 */
export function matchOperation(all: ContractOperation[]): RequestHandler {
  // Concrete paths before templated ones (OpenAPI 3.1, "Path Templating Matching"):
  // /api/tokens/reset is never /api/tokens/{session_id}, whatever the contract's order.
  const byConcreteness = [...new Set(all.map((op) => op.template))].sort((a, b) => parameterCount(a) - parameterCount(b));
  const templates = byConcreteness.map((template) => ({
    pattern: templatePattern(template),
    byMethod: new Map(all.filter((op) => op.template === template).map((op) => [op.method, op])),
    names: all.find((op) => op.template === template)?.pathParameters ?? [],
  }));
  return (req, _res, next) => {
    for (const { pattern, byMethod, names } of templates) {
      const segments = pattern.exec(req.path);
      if (!segments) continue;
      const rawParams: Record<string, string> = {};
      const errors: { path: string; message: string }[] = [];
      names.forEach((name, i) => {
        const segment = segments[i + 1] ?? '';
        try {
          rawParams[name] = segment.includes('%') ? decodeURIComponent(segment) : segment;
        } catch {
          errors.push({ path: `/path/${name}`, message: UNDECODABLE });
        }
      });
      if (errors.length) {
        const message = errors.map((e) => `${e.path.slice('/path/'.length)} (path): ${UNDECODABLE}`).join('; ');
        throw new HttpError(400, message, {}, errors);
      }
      const operation = byMethod.get(req.method);
      if (operation) req.operation = { operation, rawParams };
      break;
    }
    next();
  };
}

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
 * A handler typed from the contract operation `operationId`. Its path parameters are the
 * contract's types: integers as numbers (written as plain digits, see `plainIntegers`).
 */
export function operation<K extends keyof operations>(
  _operationId: K,
  handler: (req: ValidRequest<K>, res: Response, next: NextFunction) => Promise<void> | void,
): RequestHandler {
  return (req, res, next) => {
    const matched = req.operation;
    if (matched) {
      const params: Record<string, string | number> = {};
      for (const [name, raw] of Object.entries(matched.rawParams)) {
        params[name] = matched.operation.integerParameters.has(name) ? Number(raw) : raw;
      }
      req.params = params as Request['params'];
    }
    return handler(req as unknown as ValidRequest<K>, res, next);
  };
}

/** Sends an answer made by a handler (or stored under an Idempotency-Key). */
export function sendAnswer(res: Response, answer: { status: number; headers: Record<string, string>; body: unknown }): void {
  res.status(answer.status).set(answer.headers).json(answer.body);
}
