/** The `ETag` of an answer (`undefined` when it has none): send it back with `ifNoneMatch` or `ifMatch`. */
export function etagOf(result: { response: Response }): string | undefined {
  return result.response.headers.get('ETag') ?? undefined;
}

/** Headers for a conditional GET: answered `304 Not Modified`, with no body, while `etag` holds. */
export function ifNoneMatch(etag: string): { 'If-None-Match': string } {
  return { 'If-None-Match': etag };
}

/** Headers for a PUT or DELETE that must not overwrite a change made since `etag` (else `412`). */
export function ifMatch(etag: string): { 'If-Match': string } {
  return { 'If-Match': etag };
}

/** Whether a conditional GET was answered `304`: what you have is still current. */
export function isNotModified(result: { response: Response }): boolean {
  return result.response.status === 304;
}
