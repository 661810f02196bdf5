import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Knex } from 'knex';
import { idempotencyRepository, type StoredAnswer } from '../db/idempotency.js';
import { HttpError } from './errors.js';

export type Answer = StoredAnswer;

/** JSON with object keys sorted, so that the same body always hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * Runs a creating request at most once per Idempotency-Key: `create` runs in a
 * transaction that also records its answer, and a retry with the same key and request
 * gets that answer back. `principal` scopes keys to a user (0 for anonymous requests).
 */
export async function idempotent(
  db: Knex,
  req: Pick<Request, 'headers' | 'method' | 'path' | 'body'>,
  principal: number,
  create: (db: Knex) => Promise<Answer>,
): Promise<Answer> {
  const key = req.headers['idempotency-key'];
  if (typeof key !== 'string') return create(db);
  const fingerprint = createHash('sha256').update(`${req.method} ${req.path}\n${canonical(req.body)}`).digest();
  return db.transaction(async (trx) => {
    const stored = await idempotencyRepository.claim(trx, principal, key, fingerprint);
    if (stored) {
      if (!stored.fingerprint.equals(fingerprint)) {
        throw new HttpError(422, 'this Idempotency-Key was used with a different request');
      }
      return { status: stored.status, headers: { ...stored.headers, 'Idempotent-Replayed': 'true' }, body: stored.body };
    }
    const answer = await create(trx);
    await idempotencyRepository.complete(trx, principal, key, answer);
    return answer;
  });
}

export function sendAnswer(res: Response, answer: Answer): void {
  res.status(answer.status).set(answer.headers).json(answer.body);
}
