import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTP_METHODS, loadContract } from './support/contract.js';
import { buildFuzzer, closeConnections, type Outcome } from './fuzz/fuzzer.js';
import { World } from './fuzz/world.js';
import { useServer } from './support/server.js';

/**
 * Property-based fuzzing of every operation in openapi.yaml against the running server
 * and a real database. Per operation: generated valid requests must be served (2xx/3xx,
 * or one of the few refusals the semantics require, each confirmed in the database);
 * mutated requests must get exactly the 4xx their fault calls for; edge cases must get
 * a declared answer. Every answer must be declared and match its schema, and none may be
 * a 5xx. FUZZ_RUNS sets the runs per property; FUZZ_SEED replays a run.
 *
 * Kept beside Schemathesis (`npm run test:contract`) for what that does not check: the
 * exact 4xx each fault calls for (it accepts any 4xx), refusals confirmed in the database,
 * many users with real tokens and follows, cursors the server could have made, and inputs
 * it does not make: bodies over 64 KB, malformed JSON and UTF-8, lone surrogates and RTL
 * marks, malformed Authorization headers. What Schemathesis covers is left to it:
 * schema-shaped made-up cursors and bodies of other media types.
 */

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1)
    throw new Error(`${name} must be a positive integer, not '${raw}'`);
  return Number(raw);
}

const RUNS = positiveInteger('FUZZ_RUNS', 15);
const SEED = process.env.FUZZ_SEED
  ? Number(process.env.FUZZ_SEED)
  : Math.floor(Math.random() * 2 ** 31);
if (!Number.isSafeInteger(SEED))
  throw new Error(`FUZZ_SEED must be an integer, not '${process.env.FUZZ_SEED}'`);

// A notification stream ends after a second (GET /api/notifications/stream): no request waits longer.
const server = useServer({ NOTIFICATIONS_STREAM_MAX_SECONDS: '1' });
const world = new World(server);
const contract = loadContract();
const fuzzers = contract.operations.map((op) => buildFuzzer(contract, op));

type Kind = 'valid' | 'invalid' | 'edge';
const seen = new Map<string, Record<Kind, Map<string, number>>>();
function tally(operationId: string, kind: Kind, outcome: Outcome): void {
  const stats = seen.get(operationId) ?? { valid: new Map(), invalid: new Map(), edge: new Map() };
  seen.set(operationId, stats);
  const key = outcome.refusal ?? String(outcome.status);
  stats[kind].set(key, (stats[kind].get(key) ?? 0) + 1);
}

const options = () => ({ numRuns: RUNS, seed: SEED });
/** Room for slow runs (password hashing) as FUZZ_RUNS grows; not a performance bound. */
const TIMEOUT = 30_000 + RUNS * 2_000;

beforeAll(async () => {
  process.stdout.write(`fuzz: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} (runs per property)\n`);
  await world.setUp();
});

afterAll(() => {
  closeConnections();
  const lines = [...seen].map(([id, stats]) => {
    const show = (m: Map<string, number>) =>
      [...m].map(([k, n]) => `${k.length > 4 ? `[${k}]` : k}×${n}`).join(' ');
    return `  ${id.padEnd(14)} valid: ${show(stats.valid)} | invalid: ${show(stats.invalid)} | edge: ${show(stats.edge)}`;
  });
  const total = [...seen.values()].reduce(
    (n, s) =>
      n +
      [s.valid, s.invalid, s.edge].reduce(
        (m, k) => m + [...k.values()].reduce((a, b) => a + b, 0),
        0,
      ),
    0,
  );
  process.stdout.write(`fuzz: ${total} requests checked, seed ${SEED}\n${lines.join('\n')}\n`);
});

describe('contract fuzzing', () => {
  it('fuzzes every operation the contract declares', () => {
    const paths = contract.document.paths as Record<string, Record<string, unknown>>;
    const declared = Object.values(paths).flatMap((item) => HTTP_METHODS.filter((m) => m in item));
    expect(fuzzers.length).toBe(declared.length);
    expect(new Set(fuzzers.map((f) => f.operation.operationId)).size).toBe(declared.length);
  });

  for (const fuzzer of fuzzers) {
    const { operationId, method, path } = fuzzer.operation;

    describe(`${method} ${path} (${operationId})`, () => {
      it(
        'serves generated valid requests',
        async () => {
          await fc.assert(
            fc.asyncProperty(fuzzer.valid, async (plan) =>
              tally(operationId, 'valid', await fuzzer.run(world, plan)),
            ),
            options(),
          );
          const served = [...(seen.get(operationId)?.valid ?? [])].filter(([k]) =>
            /^[23]\d\d$/.test(k),
          );
          // A generator that only ever meets refusals would prove nothing.
          if (RUNS >= 10)
            expect(served.length, `no valid ${operationId} request was served`).toBeGreaterThan(0);
        },
        TIMEOUT,
      );

      it(
        'answers mutated requests with the 4xx their fault calls for',
        async () => {
          await fc.assert(
            fc.asyncProperty(fuzzer.invalid, async ({ plan, mutation }) =>
              tally(operationId, 'invalid', await fuzzer.run(world, plan, { mutation })),
            ),
            options(),
          );
        },
        TIMEOUT,
      );

      it(
        'answers edge cases within the contract',
        async () => {
          await fc.assert(
            fc.asyncProperty(fuzzer.edge, async ({ plan, edge }) =>
              tally(operationId, 'edge', await fuzzer.run(world, plan, { edge })),
            ),
            { ...options(), numRuns: Math.ceil(RUNS / 2) },
          );
        },
        TIMEOUT,
      );
    });
  }
});
