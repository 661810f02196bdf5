import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { idempotencyRepository, type StoredAnswer } from '../db/idempotency.js';
import { IdempotencyKeyReusedError } from '../errors.js';

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

/** Who sent an Idempotency-Key: a user's id, or `ANONYMOUS` for a request without a token. */
export const ANONYMOUS = 0;

/**
 * Runs a creating request at most once per Idempotency-Key: `create` runs in a
 * transaction that also records its answer, and a retry with the same key and request
 * gets that answer back. `principal` scopes keys to a user. Anonymous keys are scoped to
 * the request as well: anyone can send any key without a token, so another body under
 * the same key is another client's request, never a reuse to refuse.
 */
export async function idempotent(
  db: Knex,
  req: { headers: Record<string, string | string[] | undefined>; method: string; path: string; body: unknown },
  principal: number,
  create: (db: Knex) => Promise<Answer>,
): Promise<Answer> {
  const sent = req.headers['idempotency-key'];
  if (typeof sent !== 'string') return create(db);
  const fingerprint = createHash('sha256').update(`${req.method} ${req.path}\n${canonical(req.body)}`).digest();
  const key = principal === ANONYMOUS ? `${fingerprint.toString('base64url')} ${sent}` : sent;
  return db.transaction(async (trx) => {
    const stored = await idempotencyRepository.claim(trx, principal, key, fingerprint);
    if (stored) {
      if (!stored.fingerprint.equals(fingerprint)) {
        throw new IdempotencyKeyReusedError('this Idempotency-Key was used with a different request');
      }
      return { status: stored.status, headers: { ...stored.headers, 'Idempotent-Replayed': 'true' }, body: stored.body };
    }
    const answer = await create(trx);
    await idempotencyRepository.complete(trx, principal, key, answer);
    return answer;
  });
}
