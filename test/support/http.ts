/** An answer as the tests look at it: status, headers, raw text, and the body parsed when JSON. */
export interface Answer<T = unknown> {
  status: number;
  headers: Headers;
  text: string;
  body: T;
}

/** Reads a fetch Response once; the body is parsed when the server says it is JSON (and it is). */
export async function readAnswer<T = unknown>(res: Response): Promise<Answer<T>> {
  const text = await res.text();
  let body: unknown;
  if ((res.headers.get('content-type') ?? '').startsWith('application/json') && text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  }
  return { status: res.status, headers: res.headers, text, body: body as T };
}
