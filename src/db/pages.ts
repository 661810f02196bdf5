/**
 * The rows of a page and the size of its collection. A page by offset learns the size first
 * and reads no rows when it lies past the end, where an OFFSET would walk every row to find
 * none; the first page and a page after a cursor ask for both at once.
 */
export async function readPage<R>(request: { offset: number }, size: () => Promise<number>, rows: () => Promise<R[]>): Promise<[R[], number]> {
  if (request.offset === 0) return Promise.all([rows(), size()]);
  const total = await size();
  return [request.offset >= total ? [] : await rows(), total];
}
