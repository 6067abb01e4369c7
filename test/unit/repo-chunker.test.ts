import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { Chunker, chunks, MIN_CHUNK_SIZE, type ChunkerOptions } from '../../src/repo/chunker.ts';
import { InvalidPolynomialError } from '../../src/repo/polynomial.ts';
import {
  chunks1,
  chunks3,
  chunks4,
  resticTestData,
  testPolynomial,
} from '../helpers/restic-chunker-vectors.ts';

/** `bytes` in pieces of `size` (the last one shorter), as a file reader would hand them over. */
function* pieces(bytes: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}

async function chunked(chunker: Chunker, source: Iterable<Buffer>): Promise<[number, string][]> {
  const out: [number, string][] = [];
  for await (const chunk of chunks(chunker, source)) {
    out.push([chunk.length, createHash('sha256').update(chunk).digest('hex')]);
  }
  return out;
}

/** The cut offsets `next` reports over `bytes` fed in pieces of `size`, as offsets into `bytes`. */
function cuts(chunker: Chunker, bytes: Buffer, size: number): number[] {
  const splitter = chunker.split();
  const out: number[] = [];
  for (let offset = 0; offset < bytes.length; offset += size) {
    const end = Math.min(offset + size, bytes.length);
    let position = offset;
    for (;;) {
      const cut = splitter.next(bytes, position, end);
      if (cut < 0) break;
      out.push(cut);
      position = cut;
    }
  }
  return out;
}

const data = resticTestData();

describe('the chunker', () => {
  it("cuts restic/chunker's test data where restic/chunker's tests expect", async () => {
    assert.deepEqual(await chunked(new Chunker(testPolynomial), [data]), chunks1);
  });

  it('cuts the same chunks whatever the sizes of the buffers it is fed', async () => {
    const chunker = new Chunker(testPolynomial);
    assert.deepEqual(await chunked(chunker, pieces(data, 1024 * 1024)), chunks1);
    assert.deepEqual(await chunked(chunker, pieces(data, 65_521)), chunks1);
    // Small pieces over the first three chunks: every boundary case of skipping and hashing comes up.
    const head = data.subarray(0, 4_400_000);
    const expected = cuts(chunker, head, head.length);
    assert.deepEqual(expected, [2163460, 2807163, 4336119]);
    assert.deepEqual(cuts(chunker, head, 61), expected);
    assert.deepEqual(cuts(chunker, head, 64), expected);
    assert.deepEqual(cuts(chunker, head, 1), expected);
  });

  it('cuts zeros every minimum size, even when the data is a multiple of it', async () => {
    const zeros = Buffer.alloc(4 * MIN_CHUNK_SIZE);
    const digest = '07854d2fef297a06ba81685e660c332de36d5d18d546927d30daad6d7fda1541';
    assert.deepEqual(await chunked(new Chunker(testPolynomial), [zeros]), [
      [MIN_CHUNK_SIZE, digest],
      [MIN_CHUNK_SIZE, digest],
      [MIN_CHUNK_SIZE, digest],
      [MIN_CHUNK_SIZE, digest],
    ]);
  });

  it("cuts as restic/chunker's tests expect with other average bits and boundaries", async () => {
    const options: [ChunkerOptions, [number, string][]][] = [
      [{ averageBits: 19 }, chunks3],
      [{ minSize: 16 * 1024 * 1024, maxSize: 32 * 1024 * 1024 }, chunks4],
    ];
    for (const [option, expected] of options) {
      assert.deepEqual(
        await chunked(new Chunker(testPolynomial, option), pieces(data, 1024 * 1024)),
        expected,
      );
    }
  });

  it('cuts at the maximum size when no fingerprint matches before it', () => {
    const chunker = new Chunker(testPolynomial, { minSize: 64, maxSize: 1000 });
    // 1 in 2^20 positions matches: none in these few thousand bytes.
    const random = data.subarray(0, 3500);
    assert.deepEqual(cuts(chunker, random, random.length), [1000, 2000, 3000]);
    assert.deepEqual(cuts(chunker, random, 7), [1000, 2000, 3000]);
  });

  it('cuts zeros once the initial byte has left the window', () => {
    // restic's reset slides in a 1; after 64 zero bytes the fingerprint is 0, a match.
    const chunker = new Chunker(testPolynomial, { minSize: 64, maxSize: 1000 });
    assert.deepEqual(cuts(chunker, Buffer.alloc(200), 200), [64, 128, 192]);
  });

  it('yields views of the source when a chunk lies in one buffer, and no chunk for an empty source', async () => {
    const chunker = new Chunker(testPolynomial);
    const source = data.subarray(0, 3 * 1024 * 1024);
    const got: Buffer[] = [];
    for await (const chunk of chunks(chunker, [source])) got.push(chunk);
    assert.deepEqual(
      got.map((chunk) => chunk.length),
      [2163460, 643703, 3 * 1024 * 1024 - 2163460 - 643703],
    );
    assert.equal(got[0]?.buffer, source.buffer, 'the first chunk shares the source memory');
    assert.deepEqual(Buffer.concat(got), source);
    assert.deepEqual(await chunked(chunker, []), []);
    assert.deepEqual(await chunked(chunker, [Buffer.alloc(0), Buffer.from('tiny')]), [
      [4, createHash('sha256').update('tiny').digest('hex')],
    ]);
  });

  it('stops with the abort reason when its signal is aborted', async () => {
    const controller = new AbortController();
    const reading = async () => {
      for await (const _chunk of chunks(new Chunker(testPolynomial), pieces(data, 1024 * 1024), controller)) {
        controller.abort(new Error('stop here'));
      }
    };
    await assert.rejects(reading(), /stop here/);
  });

  it('refuses polynomials of a degree it cannot use, and impossible sizes', () => {
    assert.throws(() => new Chunker(0x3n), InvalidPolynomialError);
    assert.throws(() => new Chunker(1n << 60n), InvalidPolynomialError);
    assert.throws(() => new Chunker(testPolynomial, { minSize: 32 }), /minSize 32/);
    assert.throws(() => new Chunker(testPolynomial, { minSize: 1024, maxSize: 512 }), /maxSize 512/);
    assert.throws(() => new Chunker(testPolynomial, { averageBits: 33 }), /averageBits 33/);
  });
});
