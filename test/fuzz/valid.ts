import fc from 'fast-check';
import { headerText, type SchemaArbitraries } from './arbitraries.js';
import type { Parameter, Schema } from '../support/contract.js';
import type { HeaderChoice, PathChoice, ValidPlan } from './plans.js';
import type { OperationFacts } from './semantics.js';

/** Valid requests to the operation, as plans: ids, query, headers, body, credentials' spelling. */
export function validPlans(arbs: SchemaArbitraries, facts: OperationFacts): fc.Arbitrary<ValidPlan> {
  const { op, pathParams, queryParams, headerParams, isPublic, bodySchema } = facts;
  const pathChoice = (p: Parameter): fc.Arbitrary<PathChoice> =>
    fc.oneof(
      { weight: 8, arbitrary: fc.nat().map((existing) => ({ existing })) },
      { weight: 1, arbitrary: arbs.valid(p.schema, 'path').map((id) => ({ id: id as number })) },
    );
  const queryChoice = (p: Parameter): fc.Arbitrary<unknown> =>
    p.name === 'cursor'
      ? fc.option(fc.constant('from the server'), { nil: undefined })
      : fc.option(arbs.valid(p.schema, 'query'), { nil: undefined });
  const headerChoice = (p: Parameter): fc.Arbitrary<HeaderChoice> => {
    switch (p.name.toLowerCase()) {
      case 'if-none-match':
        return fc.oneof(
          fc.constant(undefined),
          fc.constant('*'),
          fc.constant({ echo: true } as const),
          headerText(1, 40).map((t) => `"${t.replace(/"/g, '')}"`),
        );
      case 'if-match':
        return fc.oneof(
          fc.constant(undefined),
          fc.constant('*'),
          fc.constant({ current: true } as const),
        );
      default:
        return fc.option(arbs.valid(p.schema, 'header') as fc.Arbitrary<string>, {
          nil: undefined,
        });
    }
  };
  const record = <T>(params: Parameter[], f: (p: Parameter) => fc.Arbitrary<T>) =>
    fc.record(Object.fromEntries(params.map((p) => [p.name, f(p)]))) as fc.Arbitrary<
      Record<string, T>
    >;

  const valid: fc.Arbitrary<ValidPlan> = fc.record({
    actor: fc.nat(),
    path: record(pathParams, pathChoice),
    query: record(queryParams, queryChoice),
    headers: record(headerParams, headerChoice),
    body: bodySchema ? arbs.valid(op.body?.schema as Schema, 'body') : fc.constant(undefined),
    authorization: isPublic
      ? fc.option(
          fc.oneof(
            fc.constantFrom('Bearer nonsense', 'Basic Zm9vOmJhcg==', 'Bearer', ''),
            headerText(1, 40),
          ),
          { nil: undefined },
        )
      : fc.constantFrom('Bearer', 'bearer', 'BEARER', 'bEaReR'),
    loginBy: fc.constantFrom('username', 'email'),
    loginCase: fc.constantFrom('as is', 'upper', 'lower'),
    contentType: fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'application/json;charset=UTF-8',
      'Application/JSON',
    ),
    accept:
      facts.produces === 'text/event-stream'
        ? fc.constantFrom(
            undefined,
            'text/event-stream',
            '*/*',
            'text/*',
            'text/event-stream, application/json;q=0.9',
            'application/json;q=0.5, text/event-stream',
          )
        : fc.constantFrom(
            undefined,
            'application/json',
            '*/*',
            'application/*',
            'application/json, text/html;q=0.9',
            'text/html;q=0.5, application/json',
          ),
    arrange: fc.boolean(),
  });
  return valid;
}
