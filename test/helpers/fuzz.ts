// Property-based bad-input checks (fast-check) for the parsers of untrusted bytes (test/fuzz/): random
// inputs and mutations of valid ones (bits flipped, bytes set, inserted, deleted or repeated, the input cut
// short, a 32-bit field overwritten with a huge length). The property of every parser: it accepts, or it
// refuses with one of the project's typed errors; never a bare TypeError/RangeError/SyntaxError from deep
// inside, never a hang. Each case runs under a time guard (a hang shows as a failure naming the input,
// not as a slow test); the whole test also has node:test's timeout.
//
// CAIRN_FUZZ_RUNS sets the cases per property (default: each test's modest number, so test/fuzz runs in
// well under a minute on a loaded CI machine); CAIRN_FUZZ_SEED replays a run fast-check reported.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Outcomes } from './reliability.ts';

/** Cases per property: CAIRN_FUZZ_RUNS, else `defaultRuns`. */
export function fuzzRuns(defaultRuns: number): number {
  const raw = process.env['CAIRN_FUZZ_RUNS'];
  if (raw === undefined || raw === '') return defaultRuns;
  const runs = Number(raw);
  if (!Number.isSafeInteger(runs) || runs < 1)
    throw new RangeError(`CAIRN_FUZZ_RUNS ${JSON.stringify(raw)} is not a positive integer`);
  return runs;
}

/** The guard per case: far above what any parser here takes on any input, so only a hang reaches it. */
export const CASE_GUARD_MS = 20_000;

/** The node:test timeout of a fuzz test: room for a long run (CAIRN_FUZZ_RUNS) on a loaded machine. */
export const FUZZ_TEST_TIMEOUT_MS = 60 * 60 * 1000;

/** Lengths a hostile header claims: 4 GiB less one, 2 GiB, 2 GiB less one, 16 MiB and one, 1 GiB. */
const HUGE = [0xffffffff, 0x80000000, 0x7fffffff, 0x01000001, 0x40000000];

type Edit =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'repeat'; at: number; count: number }
  | { kind: 'huge'; at: number; value: number; littleEndian: boolean };

const edit = (lengthFields: readonly number[]): fc.Arbitrary<Edit> =>
  fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 64 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({
      kind: fc.constant('repeat' as const),
      at: fc.nat(),
      count: fc.integer({ min: 1, max: 600 }),
    }),
    fc.record({
      kind: fc.constant('huge' as const),
      // Known length fields half the time, anywhere else otherwise.
      at: lengthFields.length > 0 ? fc.oneof(fc.constantFrom(...lengthFields), fc.nat()) : fc.nat(),
      value: fc.constantFrom(...HUGE),
      littleEndian: fc.boolean(),
    }),
  );

function apply(input: Buffer, e: Edit): Buffer {
  if (input.length === 0) return e.kind === 'insert' ? Buffer.from(e.bytes) : input;
  const at = e.at % input.length;
  switch (e.kind) {
    case 'flip': {
      const out = Buffer.from(input);
      out[at] = (out[at] as number) ^ (1 << e.bit);
      return out;
    }
    case 'set': {
      const out = Buffer.from(input);
      out[at] = e.value;
      return out;
    }
    case 'insert':
      return Buffer.concat([input.subarray(0, at), e.bytes, input.subarray(at)]);
    case 'delete':
      return Buffer.concat([input.subarray(0, at), input.subarray(at + e.count)]);
    case 'truncate':
      return input.subarray(0, at);
    case 'repeat':
      return Buffer.concat([input.subarray(0, at + e.count), input.subarray(at)]);
    case 'huge': {
      const out = Buffer.from(input);
      const start = Math.min(at, Math.max(0, out.length - 4));
      if (out.length < 4) return out;
      if (e.littleEndian) out.writeUInt32LE(e.value, start);
      else out.writeUInt32BE(e.value, start);
      return out;
    }
  }
}

/**
 * Mutations of `valid`: one to four edits. `lengthFields` are offsets of 32-bit length or count fields
 * (negative: from the end) that the huge-length edit aims at half the time.
 */
export function mutationOf(valid: Buffer, lengthFields: readonly number[] = []): fc.Arbitrary<Buffer> {
  const fields = lengthFields.map((at) => (at < 0 ? valid.length + at : at)).filter((at) => at >= 0);
  return fc
    .array(edit(fields), { minLength: 1, maxLength: 4 })
    .map((edits) => edits.reduce((bytes, e) => apply(bytes, e), valid));
}

/** Random bytes, and the same with a valid prefix (a magic, a header) so the parser goes past its first check. */
export function randomBytesAfter(prefixes: readonly Buffer[] = []): fc.Arbitrary<Buffer> {
  const random = fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes));
  if (prefixes.length === 0) return random;
  return fc.oneof(
    random,
    fc
      .tuple(fc.constantFrom(...prefixes), fc.uint8Array({ maxLength: 2048 }))
      .map(([prefix, rest]) => Buffer.concat([prefix, rest])),
  );
}

/** Resolves with `work`'s outcome, or rejects when it takes longer than CASE_GUARD_MS (a hang). */
async function guarded<T>(work: () => T | Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HangError()), CASE_GUARD_MS);
  });
  try {
    return await Promise.race([Promise.resolve().then(work), hang]);
  } finally {
    clearTimeout(timer);
  }
}

class HangError extends Error {
  override readonly name = 'HangError';
  constructor() {
    super(`no answer within ${CASE_GUARD_MS} ms: the parser hangs on this input`);
  }
}

/** Error classes a parser may refuse with (`instanceof`). */
export type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * Checks one parser's property over `inputs`: each case is accepted or refused with an instance of one of
 * `typed`. Returns what it did, counted by error class name.
 */
export async function checkParser<T>(options: {
  inputs: fc.Arbitrary<T>;
  parse: (input: T) => unknown;
  typed: readonly ErrorClass[];
  runs: number;
  outcomes?: Outcomes;
}): Promise<Outcomes> {
  const outcomes = options.outcomes ?? new Outcomes();
  const seed = process.env['CAIRN_FUZZ_SEED'];
  await fc.assert(
    fc.asyncProperty(options.inputs, async (input) => {
      let outcome = 'accepted';
      try {
        await guarded(() => options.parse(input));
      } catch (error) {
        assertTyped(error, options.typed);
        outcome = (error as Error).name;
      }
      outcomes.add(outcome);
    }),
    { numRuns: options.runs, ...(seed ? { seed: Number(seed) } : {}) },
  );
  return outcomes;
}

/** Fails unless `error` is an instance of one of `typed`, showing what it was instead. */
export function assertTyped(error: unknown, typed: readonly ErrorClass[]): void {
  if (typed.some((type) => error instanceof type)) return;
  const shown =
    error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error);
  assert.fail(`not one of ${typed.map((t) => t.name).join(', ')}: ${shown}`);
}
