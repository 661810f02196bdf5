import {
  ContentionError,
  DatabaseUnavailableError,
  DomainError,
  MissingReferenceError,
  TakenError,
  UnstorableValueError,
} from '../errors.js';
import { isQueryTimeout } from './database.js';

/** Unique indexes, by the value whose owner they protect. */
const UNIQUE_INDEXES: Record<string, 'username' | 'email'> = {
  users_username_lower_key: 'username',
  users_email_lower_key: 'email',
};

interface PgError {
  code?: string;
  constraint?: string;
}

/**
 * What a failure of the database (or of the way to it) means for the domain; undefined
 * for anything else. PostgreSQL's SQLSTATE codes and constraint names stay in db/.
 */
export function domainErrorOf(err: unknown): DomainError | undefined {
  const cause = { cause: err };
  const pg = err as PgError;
  if (typeof pg.code === 'string' && /^[0-9A-Z]{5}$/.test(pg.code)) {
    const code = pg.code;
    if (code === '23505') return new TakenError(UNIQUE_INDEXES[pg.constraint ?? ''] ?? 'other', cause);
    if (code === '23503') return new MissingReferenceError('a resource this refers to does not exist', cause);
    if (code === '22021') return new UnstorableValueError('nul', cause);
    if (code === '23514' || code === '22001' || code === '22003' || code === '22P02') return new UnstorableValueError('range', cause);
    if (code === '40001' || code === '40P01') return new ContentionError('the request conflicted with another', cause);
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') {
      return new DatabaseUnavailableError('unreachable', cause);
    }
    // statement_timeout, and idle_in_transaction_session_timeout ending the session
    if (code === '57014' || code === '25P03') return new DatabaseUnavailableError('timeout', cause);
    return undefined;
  }
  if (isQueryTimeout(err)) return new DatabaseUnavailableError('timeout', cause);
  if (isConnectionFailure(err)) return new DatabaseUnavailableError('unreachable', cause);
  return undefined;
}

function isConnectionFailure(err: unknown): boolean {
  const e = err as { code?: string; name?: string; message?: string };
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE'].includes(e.code ?? '')) return true;
  if (e.name === 'KnexTimeoutError') return true;
  const message = e.message ?? '';
  // pg 8.2x names a connection attempt it gave up on (connectionTimeoutMillis) just 'timeout expired'.
  if (message === 'timeout expired') return true;
  // pg's pool, when no connection came free in time ('timeout exceeded when trying to connect').
  // pg's client once closed, as after a query timeout, to the rest of its transaction ('Client was closed and is not queryable').
  return /Connection terminated|connection timeout|Client has encountered a connection error|Client was closed|timeout exceeded when trying to connect/i.test(message);
}
