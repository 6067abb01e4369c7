import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { Chunker, chunks, MIN_CHUNK_SIZE, type ChunkerOptions } from '../../src/repo/chunker.ts';
import { InvalidPolynomialError } from '../../src/repo/polynomial.ts';
import { GoRand } from '../helpers/go-math-rand.ts';

// restic/chunker's chunker_test.go: its polynomial, 32 MiB from Go's math/rand seeded with 23, and the
// chunks it expects (length, SHA-256).
const testPolynomial = 0x3da3358b4dc173n;
const data = new GoRand(23).bytes(32 * 1024 * 1024);

const chunks1: [number, string][] = [
  [2163460, '4b94cb2cf293855ea43bf766731c74969b91aa6bf3c078719aabdd19860d590d'],
  [643703, '5727a63c0964f365ab8ed2ccf604912f2ea7be29759a2b53ede4d6841e397407'],
  [1528956, 'a73759636a1e7a2758767791c69e81b69fb49236c6929e5d1b654e06e37674ba'],
  [1955808, 'c955fb059409b25f07e5ae09defbbc2aadf117c97a3724e06ad4abd2787e6824'],
  [2222372, '6ba5e9f7e1b310722be3627716cf469be941f7f3e39a4c3bcefea492ec31ee56'],
  [2538687, '8687937412f654b5cfe4a82b08f28393a0c040f77c6f95e26742c2fc4254bfde'],
  [609606, '5da820742ff5feb3369112938d3095785487456f65a8efc4b96dac4be7ebb259'],
  [1205738, 'cc70d8fad5472beb031b1aca356bcab86c7368f40faa24fe5f8922c6c268c299'],
  [959742, '4065bdd778f95676c92b38ac265d361f81bff17d76e5d9452cf985a2ea5a4e39'],
  [4036109, 'b9cf166e75200eb4993fc9b6e22300a6790c75e6b0fc8f3f29b68a752d42f275'],
  [1525894, '2f238180e4ca1f7520a05f3d6059233926341090f9236ce677690c1823eccab3'],
  [1352720, 'afd12f13286a3901430de816e62b85cc62468c059295ce5888b76b3af9028d84'],
  [811884, '42d0cdb1ee7c48e552705d18e061abb70ae7957027db8ae8db37ec756472a70a'],
  [1282314, '819721c2457426eb4f4c7565050c44c32076a56fa9b4515a1c7796441730eb58'],
  [1318021, '842eb53543db55bacac5e25cb91e43cc2e310fe5f9acc1aee86bdf5e91389374'],
  [948640, 'b8e36bf7019bb96ac3fb7867659d2167d9d3b3148c09fe0de45850b8fe577185'],
  [645464, '5584bd27982191c3329f01ed846bfd266e96548dfa87018f745c33cfc240211d'],
  [533758, '4da778a25b72a9a0d53529eccfe2e5865a789116cb1800f470d8df685a8ab05d'],
  [1128303, '08c6b0b38095b348d80300f0be4c5184d2744a17147c2cba5cc4315abf4c048f'],
  [800374, '820284d2c8fd243429674c996d8eb8d3450cbc32421f43113e980f516282c7bf'],
  [2453512, '5fa870ed107c67704258e5e50abe67509fb73562caf77caa843b5f243425d853'],
  [2651975, '181347d2bbec32bef77ad5e9001e6af80f6abcf3576549384d334ee00c1988d8'],
  [237392, 'fcd567f5d866357a8e299fd5b2359bb2c8157c30395229c4e9b0a353944a7978'],
];

// The same data with averageBits 19.
const chunks3: [number, string][] = [
  [1491586, '4c008237df602048039287427171cef568a6cb965d1b5ca28dc80504a24bb061'],
  [671874, 'fa8a42321b90c3d4ce9dd850562b2fd0c0fe4bdd26cf01a24f22046a224225d3'],
  [643703, '5727a63c0964f365ab8ed2ccf604912f2ea7be29759a2b53ede4d6841e397407'],
  [1284146, '16d04cafecbeae9eaedd49da14c7ad7cdc2b1cc8569e5c16c32c9fb045aa899a'],
  [823366, '48662c118514817825ad4761e8e2e5f28f9bd8281b07e95dcafc6d02e0aa45c3'],
  [810134, 'f629581aa05562f97f2c359890734c8574c5575da32f9289c5ba70bfd05f3f46'],
  [567118, 'd4f0797c56c60d01bac33bfd49957a4816b6c067fc155b026de8a214cab4d70a'],
  [821315, '8ebd0fd5db0293bd19140da936eb8b1bbd3cd6ffbec487385b956790014751ca'],
  [1401057, '001360af59adf4871ef138cfa2bb49007e86edaf5ac2d6f0b3d3014510991848'],
  [2311122, '8276d489b566086d9da95dc5c5fe6fc7d72646dd3308ced6b5b6ddb8595f0aa1'],
  [608723, '518db33ba6a79d4f3720946f3785c05b9611082586d47ea58390fc2f6de9449e'],
  [980456, '0121b1690738395e15fecba1410cd0bf13fde02225160cad148829f77e7b6c99'],
  [1140278, '28ca7c74804b5075d4f5eeb11f0845d99f62e8ea3a42b9a05c7bd5f2fca619dd'],
  [2015542, '6fe8291f427d48650a5f0f944305d3a2dbc649bd401d2655fc0bdd42e890ca5a'],
  [904752, '62af1f1eb3f588d18aff28473303cc4731fc3cafcc52ce818fee3c4c2820854d'],
  [713072, '4bda9dc2e3031d004d87a5cc93fe5207c4b0843186481b8f31597dc6ffa1496c'],
  [675937, '5299c8c5acec1b90bb020cd75718aab5e12abb9bf66291465fd10e6a823a8b4a'],
  [1525894, '2f238180e4ca1f7520a05f3d6059233926341090f9236ce677690c1823eccab3'],
  [1352720, 'afd12f13286a3901430de816e62b85cc62468c059295ce5888b76b3af9028d84'],
  [811884, '42d0cdb1ee7c48e552705d18e061abb70ae7957027db8ae8db37ec756472a70a'],
  [1282314, '819721c2457426eb4f4c7565050c44c32076a56fa9b4515a1c7796441730eb58'],
  [1093738, '5dddfa7a241b68f65d267744bdb082ee865f3c2f0d8b946ea0ee47868a01bbff'],
  [962003, '0cb5c9ebba196b441c715c8d805f6e7143a81cd5b0d2c65c6aacf59ca9124af9'],
  [856384, '7734b206d46f3f387e8661e81edf5b1a91ea681867beb5831c18aaa86632d7fb'],
  [533758, '4da778a25b72a9a0d53529eccfe2e5865a789116cb1800f470d8df685a8ab05d'],
  [1128303, '08c6b0b38095b348d80300f0be4c5184d2744a17147c2cba5cc4315abf4c048f'],
  [800374, '820284d2c8fd243429674c996d8eb8d3450cbc32421f43113e980f516282c7bf'],
  [2453512, '5fa870ed107c67704258e5e50abe67509fb73562caf77caa843b5f243425d853'],
  [665901, 'deceec26163842fdef6560311c69bf8a9871a56e16d719e2c4b7e4d668ceb61f'],
  [1986074, '64cd64bf3c3bc389eb20df8310f0427d1c36ab2eaaf09e346bfa7f0453fc1a18'],
  [237392, 'fcd567f5d866357a8e299fd5b2359bb2c8157c30395229c4e9b0a353944a7978'],
];

// The same data with boundaries of 16 and 32 MiB.
const chunks4: [number, string][] = [
  [17864181, '4a43d4eccaa3b88514f54d3becddc6ef5e06fbb2de8161b0129888dbae4430a7'],
  [15690251, '4ca32142da6f9130dc9a5d0df82a3c9e359cc4f1f480f4e52042ec0e8ecd3cc0'],
];

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
