/**
 * What can go wrong in the domain, whichever layer finds it: the database (a taken
 * username), a service (a reused Idempotency-Key). The HTTP layer gives each its status
 * (src/http/errors.ts); nothing here knows about HTTP.
 */
export class DomainError extends Error {}

/** A unique value (a username, an email address) belongs to someone else. */
export class TakenError extends DomainError {
  constructor(readonly what: 'username' | 'email' | 'other', options?: ErrorOptions) {
    super(`the ${what} is taken`, options);
  }
}

/** Something the request refers to does not exist (any more). */
export class MissingReferenceError extends DomainError {}

/** A value the database cannot store: a NUL character, or a number out of range. */
export class UnstorableValueError extends DomainError {
  constructor(readonly reason: 'nul' | 'range', options?: ErrorOptions) {
    super(reason === 'nul' ? 'a value holds a NUL character' : 'a value is out of range', options);
  }
}

/** The database gave up on this work because of another's (serialization, deadlock): try again. */
export class ContentionError extends DomainError {}

/** The database cannot be reached, or did not answer in time. */
export class DatabaseUnavailableError extends DomainError {
  constructor(readonly reason: 'unreachable' | 'timeout', options?: ErrorOptions) {
    super(reason === 'timeout' ? 'the database did not answer in time' : 'the database is unavailable', options);
  }
}

/** An Idempotency-Key sent again with another request than the one it was first used for. */
export class IdempotencyKeyReusedError extends DomainError {}

/** A password reset token that was used, has expired, or was never issued. */
export class InvalidResetTokenError extends DomainError {
  constructor(options?: ErrorOptions) {
    super('the reset token is used, expired or unknown', options);
  }
}
