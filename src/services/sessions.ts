import type { Knex } from 'knex';
import { tokensRepository } from '../db/tokens.js';

/**
 * Ends every session of a user: each of its tokens stops working. In the caller's
 * transaction, so that it takes effect with the change that calls for it (a new password).
 */
export async function endAllSessions(trx: Knex.Transaction, userId: number): Promise<void> {
  await tokensRepository.deleteAllOfUserExcept(trx, userId, null);
}
