import type { Request, Response } from 'express';
import { describe, expect, it } from 'vitest';
import { loadContract } from '../src/contract.js';
import { contractOperations, matchOperation } from '../src/http/operations.js';

/** The operation matchOperation finds for a request. */
function matched(operations: ReturnType<typeof contractOperations>, method: string, path: string): string | undefined {
  const req = { method, path } as Request;
  matchOperation(operations)(req, {} as Response, () => undefined);
  return req.operation?.operation.operationId;
}

describe('matchOperation', () => {
  const operations = contractOperations(loadContract().document());

  it('finds each operation by method and path, its integer path parameters as raw text', () => {
    expect(matched(operations, 'GET', '/api/users/7')).toBe('getUser');
    expect(matched(operations, 'PUT', '/api/users/7/followed/8')).toBe('followUser');
    expect(matched(operations, 'PATCH', '/api/users/7')).toBeUndefined();
    expect(matched(operations, 'GET', '/api/nothing')).toBeUndefined();
  });

  it('matches a concrete path before a templated one, in any order of the contract', () => {
    for (const order of [operations, [...operations].reverse()]) {
      expect(matched(order, 'POST', '/api/tokens/reset')).toBe('requestPasswordReset');
      expect(matched(order, 'POST', '/api/tokens/refresh')).toBe('refreshToken');
      expect(matched(order, 'DELETE', '/api/tokens/12')).toBe('endSession');
      // The concrete path has no DELETE: no operation, so the validator answers 405.
      expect(matched(order, 'DELETE', '/api/tokens/reset')).toBeUndefined();
    }
  });
});
