// Shared settings for the fuzz suites (test/fuzz/*.fuzz.test.ts). `npm test`
// runs each property a bounded number of times; `npm run fuzz -- --runs N
// --seed S` (scripts/fuzz.ts) passes longer runs and a fixed seed through
// the environment, so a failure found there replays exactly here.
import fc from 'fast-check';
import { HeraldError } from '../../src/common/errors.ts';

/** Runs per property: HERALD_FUZZ_RUNS, else `fallback` (the bounded count for `npm test`). */
export function fuzzRuns(fallback: number): number {
  const env = Number(process.env.HERALD_FUZZ_RUNS);
  return Number.isInteger(env) && env > 0 ? env : fallback;
}

/** fast-check parameters: the run count and, when HERALD_FUZZ_SEED is set, that seed (reproducible). */
export function fuzzParams(fallbackRuns: number): fc.Parameters<unknown> {
  const seed = Number(process.env.HERALD_FUZZ_SEED);
  return { numRuns: fuzzRuns(fallbackRuns), ...(Number.isInteger(seed) ? { seed } : {}) };
}

/** The longest a single parse may take before it counts as a hang (a parse of a few KB takes microseconds). */
export const MAX_PARSE_MS = 1_000;

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: HeraldError };

/**
 * Runs a parse of untrusted input. It may succeed or throw a typed
 * HeraldError; anything else escaping (TypeError, RangeError, a plain
 * Error, a non-Error) or a parse slower than MAX_PARSE_MS fails the
 * property, naming what escaped.
 */
export function typedOutcome<T>(what: string, parse: () => T): Outcome<T> {
  const started = performance.now();
  let out: Outcome<T>;
  try {
    out = { ok: true, value: parse() };
  } catch (err) {
    out = typedError(what, err);
  }
  return inTime(what, started, out);
}

/** typedOutcome for async parses (the time bound covers the whole await). */
export async function typedOutcomeAsync<T>(what: string, parse: () => Promise<T>): Promise<Outcome<T>> {
  const started = performance.now();
  let out: Outcome<T>;
  try {
    out = { ok: true, value: await parse() };
  } catch (err) {
    out = typedError(what, err);
  }
  return inTime(what, started, out);
}

function typedError(what: string, err: unknown): { ok: false; error: HeraldError } {
  if (err instanceof HeraldError) return { ok: false, error: err };
  const kind = err instanceof Error ? `${err.constructor.name}: ${err.message}` : `non-Error ${String(err)}`;
  throw new Error(`${what} let an untyped error escape: ${kind}`, { cause: err });
}

function inTime<T>(what: string, started: number, out: T): T {
  const took = performance.now() - started;
  if (took > MAX_PARSE_MS) throw new Error(`${what} took ${Math.round(took)} ms (limit ${MAX_PARSE_MS} ms)`);
  return out;
}

/**
 * Byte mutations of a valid input (the seed corpus): flip, overwrite,
 * insert, delete and truncate at random places, so generated inputs stay
 * close enough to the format to get past the first checks.
 */
export function mutatedBytes(seeds: readonly Uint8Array[]): fc.Arbitrary<Buffer> {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.oneof(fc.constantFrom(0x00, 0x7f, 0x80, 0x81, 0x82, 0x84, 0x85, 0xff, 0x30, 0x02, 0x04, 0x06), fc.integer({ min: 0, max: 255 })) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  );
  return fc.tuple(fc.constantFrom(...seeds), fc.array(edit, { minLength: 1, maxLength: 4 })).map(([seed, edits]) => {
    let b = Buffer.from(seed);
    for (const e of edits) {
      if (b.length === 0) break;
      const at = e.at % b.length;
      if (e.kind === 'flip') b[at] = b[at]! ^ (1 << e.bit);
      else if (e.kind === 'set') b[at] = e.byte;
      else if (e.kind === 'insert') b = Buffer.concat([b.subarray(0, at), e.bytes, b.subarray(at)]);
      else if (e.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.count)]);
      else b = b.subarray(0, at);
    }
    return b;
  });
}

/** Character-level mutations of valid texts, with characters that matter to the format. */
export function mutatedText(seeds: readonly string[], specials: readonly string[]): fc.Arbitrary<string> {
  const piece = fc.oneof(fc.constantFrom(...specials), fc.string({ maxLength: 4 }), fc.string({ unit: 'binary', maxLength: 3 }));
  const edit = fc.record({ at: fc.nat(), del: fc.integer({ min: 0, max: 4 }), ins: piece });
  return fc.tuple(fc.constantFrom(...seeds), fc.array(edit, { minLength: 1, maxLength: 4 })).map(([seed, edits]) => {
    let s = seed;
    for (const e of edits) {
      const at = s.length === 0 ? 0 : e.at % (s.length + 1);
      s = s.slice(0, at) + e.ins + s.slice(at + e.del);
    }
    return s;
  });
}
