import type { ErrorBody, ValidationError } from './schema.js';

/**
 * An answer outside 200-299 from the Microblog API, with what the server said about it.
 * `message` is the server's sentence when it gave one, else the reason phrase.
 */
export class MicroblogApiError extends Error {
  override readonly name = 'MicroblogApiError';
  /** The HTTP status, e.g. 404. */
  readonly status: number;
  /** The status's reason phrase, e.g. "Not Found". */
  readonly error: string;
  /** Each validation failure of a 400, e.g. `{ path: '/body/email', message: '...' }`; else empty. */
  readonly errors: ValidationError[];
  /** The server's X-Request-Id for this request: quote it when reporting a problem. */
  readonly requestId: string | undefined;
  /** The body as received: the API's error object, or the text of another page (a proxy's). */
  readonly body: unknown;

  constructor(init: {
    status: number;
    error: string;
    message?: string | undefined;
    errors?: ValidationError[] | undefined;
    requestId?: string | undefined;
    body?: unknown;
  }) {
    super(init.message ?? init.error);
    this.status = init.status;
    this.error = init.error;
    this.errors = init.errors ?? [];
    this.requestId = init.requestId;
    this.body = init.body;
  }

  /**
   * The error for a response and its body (parsed JSON, or text). A body that is not the
   * API's error object (an HTML page from a proxy, say) still gives status and reason.
   */
  static from(response: Response, body: unknown): MicroblogApiError {
    const requestId = response.headers.get('X-Request-Id') ?? undefined;
    const reason = response.statusText || `HTTP ${response.status}`;
    if (!isErrorBody(body))
      return new MicroblogApiError({ status: response.status, error: reason, requestId, body });
    return new MicroblogApiError({
      status: response.status,
      error: body.error,
      message: body.message,
      errors: body.errors,
      requestId,
      body,
    });
  }
}

function isErrorBody(body: unknown): body is ErrorBody {
  if (typeof body !== 'object' || body === null) return false;
  const { error, message, errors } = body as Record<string, unknown>;
  return (
    typeof error === 'string' &&
    (message === undefined || typeof message === 'string') &&
    (errors === undefined || Array.isArray(errors))
  );
}

/** What every typed call (`client.GET(...)` and the like) resolves to. */
export interface CallResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * The data of a successful call, or a thrown MicroblogApiError:
 * `const user = unwrap(await client.GET('/api/users/{id}', { params: { path: { id } } }))`.
 * Calls answered with 204 give `undefined`.
 */
export function unwrap<T>(result: CallResult<T>): T {
  if (!result.response.ok) throw MicroblogApiError.from(result.response, result.error);
  return result.data as T;
}

/** Whether `error` is a MicroblogApiError, with the given status if one is given. */
export function isMicroblogApiError(error: unknown, status?: number): error is MicroblogApiError {
  return error instanceof MicroblogApiError && (status === undefined || error.status === status);
}
