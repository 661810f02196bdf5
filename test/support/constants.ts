/** Values the tests compare answers with, written once. */

export const JSON_TYPE = 'application/json; charset=utf-8';
/** The password test accounts get unless a test says otherwise. */
export const PASSWORD = 'correct horse battery staple';

/** A timestamp as the API writes it: UTC, with up to microseconds. */
export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;
/** A timestamp with exactly milliseconds, as JavaScript's toISOString writes it. */
export const ISO_UTC_MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** An entity tag, weak or strong. */
export const ETAG = /^(W\/)?"[^"]*"$/;
export const STRONG_ETAG = /^"[^"]+"$/;

/** A valid id (the contract's maximum, 2^53-1) that no user or post will ever have in a test run. */
export const MISSING_ID = 9007199254740991;

/** The challenges of a 401, exactly. */
export const BASIC_CHALLENGE = 'Basic realm="Microblog API"';
export const BEARER_CHALLENGE = 'Bearer realm="Microblog API"';
/** The challenges of a 401, whatever the realm. */
export const ANY_BASIC_CHALLENGE = /^Basic realm="[^"]+"$/;
export const ANY_BEARER_CHALLENGE = /^Bearer realm="[^"]+"$/;

/** What every 401 says for its cause, whichever the scheme. */
export const NO_CREDENTIALS = 'credentials are required';
export const WRONG_LOGIN = 'the username (or email address) or the password is wrong';
export const INVALID_TOKEN = 'the token is invalid or has expired';
export const INTERNAL_ERROR = 'something went wrong on the server; quote the X-Request-Id header when reporting it';

/** The 400 bodies of a registration or change to a name or address someone has. */
export const TAKEN_USERNAME = { error: 'Bad Request', message: 'please use a different username' };
export const TAKEN_EMAIL = { error: 'Bad Request', message: 'please use a different email address' };
