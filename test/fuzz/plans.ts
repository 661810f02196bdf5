/**
 * Plans: pure data that fast-check generates and shrinks, bound to live state when run
 * (request.ts). A valid plan, a mutation (mutations.ts) or an edge (edges.ts) on top of one.
 */

/**
 * What an answer must be. `valid`: a 2xx or 3xx, or one of the few refusals the semantics
 * require (each checked against the database). `invalid`: exactly `status`, a JSON error.
 * `edge`: well-formed but outside what the contract promises; any declared non-5xx answer.
 */
export type Expectation =
  | { kind: 'valid' }
  | { kind: 'invalid'; status: number; why: string }
  | { kind: 'edge'; why: string };

export type PathChoice = { existing: number } | { id: number };
export type HeaderChoice = string | { echo: true } | { current: true } | undefined;

export interface ValidPlan {
  actor: number;
  path: Record<string, PathChoice>;
  query: Record<string, unknown>;
  headers: Record<string, HeaderChoice>;
  body: unknown;
  /** Authorization for a public operation (garbage must be ignored there) or the bearer scheme's spelling. */
  authorization: string | undefined;
  loginBy: 'username' | 'email';
  loginCase: 'as is' | 'upper' | 'lower';
  contentType: string;
  accept: string | undefined;
  arrange: boolean;
}

export type Mutation =
  | { on: 'auth'; header: string | null; status: number }
  | { on: 'path'; name: string; raw: string }
  | { on: 'query'; raw: string }
  | { on: 'header'; name: string; value: string; status: number }
  | { on: 'body'; value: unknown }
  | { on: 'member'; name: string; value: unknown | Repeat }
  | { on: 'drop'; name: string }
  | { on: 'extra'; name: string; value: unknown }
  | {
      on: 'raw';
      body: RawBody;
      contentType?: string | null;
      contentEncoding?: string;
      status: number;
    };

export type Edge =
  | { on: 'cursor'; value: string }
  | { on: 'accept'; value: string }
  | { on: 'raw'; body: RawBody; contentType?: string };

/** A long string, kept short in fast-check's counterexamples. */
export interface Repeat {
  repeat: string;
  times: number;
  before?: string;
  after?: string;
}
export type RawBody = string | number[] | Repeat;

export const isRepeat = (v: unknown): v is Repeat =>
  typeof v === 'object' && v !== null && 'repeat' in v && 'times' in v;
export const materialize = (v: unknown): unknown =>
  isRepeat(v) ? `${v.before ?? ''}${v.repeat.repeat(v.times)}${v.after ?? ''}` : v;
