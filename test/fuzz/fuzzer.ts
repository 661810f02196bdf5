import fc from 'fast-check';
import { SchemaArbitraries } from './arbitraries.js';
import type { Contract, Operation } from '../support/contract.js';
import { applyEdge, edgesFor } from './edges.js';
import { judgeAnswer, type Outcome } from './judge.js';
import { applyMutation, mutationsFor } from './mutations.js';
import type { Edge, Expectation, Mutation, ValidPlan } from './plans.js';
import { bindPlan } from './request.js';
import { factsOf } from './semantics.js';
import { validPlans } from './valid.js';
import { send } from './wire.js';
import type { World } from './world.js';

export { ALLOWED_REFUSALS, type Outcome } from './judge.js';
export type { Expectation } from './plans.js';
export { closeConnections, describe, send, type WireRequest } from './wire.js';

/**
 * One operation's fuzzer, put together from its parts: the operation's facts (semantics.ts),
 * valid plans (valid.ts), mutations (mutations.ts) and edges (edges.ts) as fast-check
 * arbitraries; a plan bound to the world (request.ts), sent (wire.ts), and its answer judged
 * (judge.ts).
 */
export interface Fuzzer {
  operation: Operation;
  valid: fc.Arbitrary<ValidPlan>;
  invalid: fc.Arbitrary<{ plan: ValidPlan; mutation: Mutation }>;
  edge: fc.Arbitrary<{ plan: ValidPlan; edge: Edge }>;
  run(
    world: World,
    plan: ValidPlan,
    change?: { mutation?: Mutation; edge?: Edge },
  ): Promise<Outcome>;
}

export function buildFuzzer(contract: Contract, op: Operation): Fuzzer {
  const arbs = new SchemaArbitraries(contract);
  const facts = factsOf(contract, op, arbs);
  const valid = validPlans(arbs, facts);
  const invalid = fc.record({ plan: valid, mutation: fc.oneof(...mutationsFor(arbs, facts)) });
  const edge = fc.record({ plan: valid, edge: fc.oneof(...edgesFor(facts)) });

  async function run(world: World, plan: ValidPlan, change: { mutation?: Mutation; edge?: Edge } = {}): Promise<Outcome> {
    const bound = await bindPlan(world, facts, plan);
    let expectation: Expectation = { kind: 'valid' };
    if (change.mutation) expectation = await applyMutation(world, bound.req, change.mutation, bound);
    if (change.edge) expectation = applyEdge(bound.req, change.edge);
    const answer = await send(world, bound.req);
    return judgeAnswer(world, contract, facts, bound, expectation, answer);
  }

  return { operation: op, valid, invalid, edge, run };
}
