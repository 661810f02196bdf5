import fc from 'fast-check';
import { encodeCursor } from '../../src/representations/collections.js';
import type { Edge, Expectation } from './plans.js';
import type { OperationFacts } from './semantics.js';
import { setRawBody, type WireRequest } from './wire.js';

/** Edge cases: well-formed requests outside what the contract promises; any declared non-5xx answer will do. */
export function edgesFor(facts: OperationFacts): fc.Arbitrary<Edge>[] {
  const { queryParams, bodySchema } = facts;
  const edges: fc.Arbitrary<Edge>[] = [
    fc
      .constantFrom(
        ...(facts.produces === 'text/event-stream'
          ? ['*/*;q=0.1, text/event-stream;q=0.1', 'text/event-stream;q=0.5, text/html', 'text/event-stream; charset=utf-8', 'TEXT/EVENT-STREAM']
          : ['*/*;q=0.1, application/json;q=0.1', 'application/json;q=0.5, text/html', 'application/json; charset=utf-8', 'APPLICATION/JSON']),
      )
      .map((value) => ({ on: 'accept' as const, value })),
  ];
  if (queryParams.some((p) => p.name === 'cursor')) {
    edges.push(
      // Cursors the server could have made, for any position. Schemathesis sends the
      // schema-shaped strings, which the server has not made (400).
      fc
        .record({
          ms: fc.integer({ min: 0, max: 999_999_999_999_999 }),
          id: fc.maxSafeInteger(),
        })
        .map(({ ms, id }) => ({ on: 'cursor' as const, value: encodeCursor({ created_at: new Date(ms), id }) })),
    );
  }
  if (!bodySchema) {
    edges.push(
      fc.constantFrom(
        { on: 'raw' as const, body: '{"unexpected": true}' },
        { on: 'raw' as const, body: '{' },
        { on: 'raw' as const, body: 'plain text', contentType: 'text/plain' },
        {
          on: 'raw' as const,
          body: { before: '{"a": "', repeat: 'x', times: 70_000, after: '"}' },
        },
      ),
    );
  } else {
    edges.push(
      fc.constantFrom(
        { on: 'raw' as const, body: '\ufeff{}' },
        {
          on: 'raw' as const,
          body: [0x7b, 0x22, 0x62, 0x6f, 0x64, 0x79, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d],
        }, // {"body":"\xff"}
        // UTF-8 bytes labelled UTF-16: body-parser decodes what the label says (400), where 415 would do as well.
        { on: 'raw' as const, body: '{"a":1}', contentType: 'application/json; charset=utf-16' },
      ),
    );
  }
  return edges;
}

export function applyEdge(req: WireRequest, e: Edge): Expectation {
  switch (e.on) {
    case 'cursor':
      req.query = req.query.filter((q) => !q.startsWith('cursor=')).concat(`cursor=${e.value}`);
      break;
    case 'accept':
      req.headers.Accept = e.value;
      break;
    case 'raw':
      setRawBody(req, e.body, e.contentType);
      break;
  }
  return { kind: 'edge', why: JSON.stringify(e).slice(0, 80) };
}
