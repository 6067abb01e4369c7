// The WebAssembly chunker (src/repo/chunker-wasm.ts) against restic/chunker's own vectors and against the
// JS chunker (src/repo/chunker.ts, the reference): the same cuts for the same bytes, whatever the
// polynomial, the options, the sizes of the buffers fed and whether the bytes lie in the chunker's own
// memory or are copied in.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Chunker, MIN_CHUNK_SIZE, type ChunkerOptions } from '../../src/repo/chunker.ts';
import { WasmChunker } from '../../src/repo/chunker-wasm.ts';
import { randomPolynomial } from '../../src/repo/polynomial.ts';
import { fuzzRuns } from '../helpers/fuzz.ts';
import { GoRand } from '../helpers/go-math-rand.ts';
import {
  chunks1,
  chunks3,
  chunks4,
  resticTestData,
  testPolynomial,
} from '../helpers/restic-chunker-vectors.ts';

const data = resticTestData();

interface Splitter {
  next(data: Uint8Array, start?: number, end?: number): number;
  readonly pending: number;
}

/**
 * The cuts `next` reports over `bytes` fed in pieces of the given sizes (taken in turn), as offsets into
 * `bytes`, and the length of the last, unfinished chunk.
 */
function cuts(splitter: Splitter, bytes: Uint8Array, sizes: readonly number[]): number[] {
  const out: number[] = [];
  for (let offset = 0, turn = 0; offset < bytes.length; turn++) {
    const end = Math.min(offset + (sizes[turn % sizes.length] as number), bytes.length);
    for (let position = offset; ;) {
      const cut = splitter.next(bytes, position, end);
      if (cut < 0) break;
      out.push(cut);
      position = cut;
    }
    offset = end;
  }
  out.push(-splitter.pending); // the last chunk's length, told apart from the cuts by its sign
  return out;
}

/**
 * The cuts as the chunk workers make them: pieces of `readSize` read into the chunker's own `buffer`
 * after the current chunk's bytes, which move to its start at each cut. No copy into the module's memory.
 */
function cutsInBuffer(chunker: WasmChunker, bytes: Uint8Array, readSize: number): number[] {
  const { buffer } = chunker;
  const splitter = chunker.split();
  const out: number[] = [];
  let fill = 0;
  let consumed = 0; // the offset in `bytes` of buffer[0]
  for (let offset = 0; offset < bytes.length;) {
    const read = Math.min(readSize, buffer.length - fill, bytes.length - offset);
    buffer.set(bytes.subarray(offset, offset + read), fill);
    offset += read;
    let from = fill;
    fill += read;
    for (;;) {
      const cut = splitter.next(buffer, from, fill);
      if (cut < 0) break;
      out.push(consumed + cut);
      buffer.copyWithin(0, cut, fill);
      [consumed, fill, from] = [consumed + cut, fill - cut, 0];
    }
  }
  out.push(-splitter.pending);
  return out;
}

/** [length, SHA-256] of each chunk, given the cuts (as `cuts` reports them). */
function chunksAt(bytes: Uint8Array, cutList: number[]): [number, string][] {
  const ends = cutList.filter((cut) => cut >= 0);
  if (ends.at(-1) !== bytes.length) ends.push(bytes.length);
  return ends.map((end, index) => {
    const chunk = bytes.subarray(ends[index - 1] ?? 0, end);
    return [chunk.length, createHash('sha256').update(chunk).digest('hex')];
  });
}

/** Asserts that both chunkers cut `bytes` alike, fed in pieces of each of `feeds` and, for WASM, read into its buffer. */
function assertSameCuts(
  polynomial: bigint,
  options: ChunkerOptions,
  bytes: Uint8Array,
  feeds: readonly (readonly number[])[],
): void {
  const expected = cuts(new Chunker(polynomial, options).split(), bytes, [bytes.length || 1]);
  const wasm = new WasmChunker(polynomial, { ...options, bufferSize: options.maxSize ?? 8 * 1024 * 1024 });
  for (const sizes of feeds) {
    assert.deepEqual(cuts(wasm.split(), bytes, sizes), expected, `fed in pieces of ${sizes.join(', ')}`);
    assert.deepEqual(cutsInBuffer(wasm, bytes, sizes[0] as number), expected, `read ${sizes[0]} at a time`);
  }
}

/** `n` bytes of Go's math/rand from `seed`: the same every run. */
const random = (seed: number, n: number): Buffer => new GoRand(seed).bytes(n);

const small: ChunkerOptions = { minSize: 64, maxSize: 1000, averageBits: 6 };

describe('the WebAssembly chunker', () => {
  it("cuts restic/chunker's test data where restic/chunker's tests expect", () => {
    const chunker = new WasmChunker(testPolynomial, { bufferSize: 8 * 1024 * 1024 });
    assert.deepEqual(chunksAt(data, cuts(chunker.split(), data, [data.length])), chunks1);
    assert.deepEqual(chunksAt(data, cuts(chunker.split(), data, [65_521])), chunks1);
    assert.deepEqual(chunksAt(data, cutsInBuffer(chunker, data, 1024 * 1024)), chunks1);
    const averageBits19 = new WasmChunker(testPolynomial, { averageBits: 19 });
    assert.deepEqual(chunksAt(data, cuts(averageBits19.split(), data, [1024 * 1024])), chunks3);
    const bounds = { minSize: 16 * 1024 * 1024, maxSize: 32 * 1024 * 1024 };
    const large = new WasmChunker(testPolynomial, { ...bounds, bufferSize: bounds.maxSize });
    assert.deepEqual(chunksAt(data, cutsInBuffer(large, data, 1024 * 1024)), chunks4);
  });

  it('cuts where the JS chunker cuts, for data of any length and buffers of any size', () => {
    const bytes = random(1, 3 * 1024 * 1024);
    for (const length of [0, 1, 63, 64, 65, MIN_CHUNK_SIZE - 1, MIN_CHUNK_SIZE, MIN_CHUNK_SIZE + 1]) {
      assertSameCuts(testPolynomial, {}, bytes.subarray(0, length), [[1024 * 1024], [4097]]);
    }
    assertSameCuts(testPolynomial, {}, bytes, [[1024 * 1024], [4097], [65_537, 64, 1, 63, 200_000]]);
    // Small chunks: many cuts, and pieces that end just before, at and after them.
    const head = bytes.subarray(0, 200_000);
    assertSameCuts(testPolynomial, small, head, [[1], [7], [63], [64], [65], [4097], [1000, 1, 999]]);
  });

  it('cuts at the maximum size when no fingerprint matches, and zeros where the JS chunker does', () => {
    // 32 low bits zero: about one position in 4 billion, none in these 20 MiB.
    const options = { averageBits: 32, maxSize: 8 * 1024 * 1024 };
    const bytes = random(2, 20 * 1024 * 1024);
    const wasm = new WasmChunker(testPolynomial, options);
    assert.deepEqual(cuts(wasm.split(), bytes, [1024 * 1024]), [8 * 1024 * 1024, 16 * 1024 * 1024, -4194304]);
    assertSameCuts(
      testPolynomial,
      { minSize: 64, maxSize: 5000, averageBits: 32 },
      bytes.subarray(0, 30_000),
      [[4096], [1]],
    );
    assertSameCuts(testPolynomial, {}, Buffer.alloc(20 * 1024 * 1024), [[1024 * 1024]]);
    assertSameCuts(testPolynomial, small, Buffer.alloc(5000), [[1], [100]]);
  });

  it('cuts where the JS chunker cuts with other polynomials and options', () => {
    const seeded = new GoRand(3);
    const polynomials = [
      testPolynomial,
      randomPolynomial((n) => seeded.bytes(n)),
      randomPolynomial((n) => seeded.bytes(n)),
      // Lower degrees, which the chunker takes too (any polynomial of degree 40 to 53 makes tables).
      (1n << 40n) | 0x1234567n,
      (1n << 47n) | 0xabcdef1234n,
    ];
    const bytes = random(4, 2 * 1024 * 1024);
    for (const polynomial of polynomials) {
      assertSameCuts(polynomial, {}, bytes, [[1024 * 1024], [4097]]);
      assertSameCuts(polynomial, small, bytes.subarray(0, 100_000), [[4097], [63]]);
    }
    const options: ChunkerOptions[] = [
      { averageBits: 1, minSize: 64, maxSize: 64 },
      { averageBits: 1, minSize: 100, maxSize: 300 },
      { averageBits: 12, minSize: 4096, maxSize: 65_536 },
      { averageBits: 17, minSize: 128 * 1024, maxSize: 256 * 1024 },
      { averageBits: 24 },
    ];
    for (const option of options) assertSameCuts(polynomials[1] as bigint, option, bytes, [[65_536], [333]]);
  });

  it('keeps each splitter’s state apart when several of one chunker take turns', () => {
    const chunker = new WasmChunker(testPolynomial, small);
    const [a, b] = [random(5, 50_000), random(6, 50_000)];
    const [first, second] = [chunker.split(), chunker.split()];
    const [cutsA, cutsB]: [number[], number[]] = [[], []];
    for (let offset = 0; offset < a.length; offset += 500) {
      for (const [splitter, bytes, out] of [
        [first, a, cutsA],
        [second, b, cutsB],
      ] as const) {
        for (let position = offset; ;) {
          const cut = splitter.next(bytes, position, offset + 500);
          if (cut < 0) break;
          out.push(cut);
          position = cut;
        }
      }
    }
    const reference = new Chunker(testPolynomial, small);
    assert.deepEqual([...cutsA, -first.pending], cuts(reference.split(), a, [a.length]));
    assert.deepEqual([...cutsB, -second.pending], cuts(reference.split(), b, [b.length]));
  });

  it('refuses a buffer size it cannot have, and what the JS chunker refuses', () => {
    assert.throws(() => new WasmChunker(testPolynomial, { bufferSize: -1 }), /bufferSize -1/);
    assert.throws(() => new WasmChunker(testPolynomial, { bufferSize: 2 ** 31 }), /bufferSize 2147483648/);
    assert.throws(() => new WasmChunker(testPolynomial, { minSize: 32 }), /minSize 32/);
    assert.equal(new WasmChunker(testPolynomial, { bufferSize: 4096 }).buffer.length, 4096);
  });

  it('cuts random bytes fed in random pieces where the JS chunker does (property)', () => {
    const seeded = new GoRand(7);
    const polynomials = [testPolynomial, randomPolynomial((n) => seeded.bytes(n)), (1n << 41n) | 0x3n];
    const cases = fc
      .record({
        polynomial: fc.constantFrom(...polynomials),
        minSize: fc.integer({ min: 64, max: 400 }),
        extra: fc.integer({ min: 0, max: 2000 }),
        averageBits: fc.integer({ min: 1, max: 12 }),
        bytes: fc.oneof(
          fc.uint8Array({ maxLength: 6000 }),
          // Runs of a few values, where fingerprints repeat.
          fc.array(fc.constantFrom(0, 1, 255), { maxLength: 3000 }).map((values) => Uint8Array.from(values)),
        ),
        sizes: fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 8 }),
      })
      .map(({ minSize, extra, ...rest }) => ({ ...rest, options: { minSize, maxSize: minSize + extra } }));
    fc.assert(
      fc.property(cases, ({ polynomial, options, averageBits, bytes, sizes }) => {
        assertSameCuts(polynomial, { ...options, averageBits }, bytes, [sizes]);
      }),
      { numRuns: fuzzRuns(300) },
    );
  });
});
