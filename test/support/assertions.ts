import { STATUS_CODES } from 'node:http';
import { expect } from 'vitest';
import type { components } from '../../generated/openapi.js';
import { BASIC_CHALLENGE, BEARER_CHALLENGE, JSON_TYPE } from './constants.js';
import type { Answer } from './http.js';

type ApiError = components['schemas']['Error'];

/**
 * The JSON error body of SPEC.md: `error` is the reason phrase of the status, `message` a
 * sentence (`message` when given), `errors` only on validation failures, each with a path
 * and a message; JSON, never stored. Returns the body.
 */
export function expectError(res: Answer, status: number, message: unknown = expect.stringMatching(/\S/)): ApiError {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toBe(JSON_TYPE);
  expect(res.headers.get('cache-control')).toBe('no-store');
  const body = res.body as ApiError;
  expect(body).toEqual({
    error: STATUS_CODES[status],
    message,
    ...('errors' in body ? { errors: expect.arrayContaining([{ path: expect.any(String), message: expect.any(String) }]) } : {}),
  });
  return body;
}

/** An error body with no `errors` member: exactly {error, message}. */
export function expectPlainError(res: Answer, status: number, message: unknown = expect.stringMatching(/\S/)): ApiError {
  const body = expectError(res, status, message);
  expect(body).not.toHaveProperty('errors');
  return body;
}

/** A 400 from validation: `errors` lists exactly these paths, and the message names each member. */
export function expectValidationError(res: Answer, paths: string[]): void {
  expectError(res, 400);
  const body = res.body as ApiError;
  expect(body).toStrictEqual({ error: 'Bad Request', message: expect.any(String), errors: expect.any(Array) });
  // One member may break several rules (an empty username is too short and off-pattern).
  expect([...new Set(body.errors?.map((e) => e.path))].sort()).toEqual([...paths].sort());
  for (const e of body.errors ?? []) expect(e).toStrictEqual({ path: e.path, message: expect.any(String) });
  for (const path of paths) expect(body.message).toContain(path.split('/').pop());
}

/** A 401 with the Basic challenge and this message. */
export function expectBasicChallenge(res: Answer, message: string): void {
  expectPlainError(res, 401, message);
  expect(res.headers.get('www-authenticate')).toBe(BASIC_CHALLENGE);
}

/** A 401 with the Bearer challenge. */
export function expectBearerChallenge(res: Answer): void {
  expectPlainError(res, 401);
  expect(res.headers.get('www-authenticate')).toBe(BEARER_CHALLENGE);
}

/** A 204 as the contract has it: no body, no content type. */
export function expectNoContent(res: Answer): void {
  expect(res.status, res.text).toBe(204);
  expect(res.text).toBe('');
  expect(res.headers.get('content-type')).toBeNull();
}

/**
 * The `newer` link a timeline page must carry: the posts above `above` (the page's first
 * item), or above the bottom when there is none, numbered one page up (never below 1).
 */
export function newerLink(path: string, page: number, perPage: number, above?: { id: number; timestamp: string }): string {
  const point = above ? `${Date.parse(above.timestamp)}.${above.id}` : '0.0';
  return `${path}?page=${Math.max(1, page - 1)}&per_page=${perPage}&cursor=${Buffer.from(`>${point}`).toString('base64url')}`;
}
