import { STATUS_CODES } from 'node:http';

/** The one error type handlers throw; the error middleware turns it into the response. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message?: string,
    readonly headers: Record<string, string> = {},
    readonly errors?: { path: string; message: string }[],
    options?: ErrorOptions,
  ) {
    super(message ?? STATUS_CODES[status] ?? 'Error', options);
  }
}

export const AUTH_REALM = 'Microblog API';

/** What a 401 says, one sentence per cause, whichever scheme the operation takes. */
export const UNAUTHORIZED = {
  /** No Authorization header, or none of the operation's scheme that can be read. */
  noCredentials: 'credentials are required',
  invalidToken: 'the token is invalid or has expired',
  wrongLogin: 'the username (or email address) or the password is wrong',
} as const;

export const notFound = (what: string) => new HttpError(404, `${what} does not exist`);
export const forbidden = (message: string) => new HttpError(403, message);
export const badRequest = (message: string) => new HttpError(400, message);
