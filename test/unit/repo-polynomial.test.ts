import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  InvalidPolynomialError,
  isIrreducible,
  polynomialFromHex,
  polynomialGcd,
  polynomialMod,
  polynomialMulMod,
  polynomialToHex,
  randomPolynomial,
} from '../../src/repo/polynomial.ts';

/** SHA-256 of an 8-byte little-endian counter, block after block: a byte stream Go can reproduce. */
function counterStream(): (n: number) => Buffer {
  let counter = 0n;
  let pending = Buffer.alloc(0);
  return (n) => {
    while (pending.length < n) {
      const block = Buffer.alloc(8);
      block.writeBigUInt64LE(counter++);
      pending = Buffer.concat([pending, createHash('sha256').update(block).digest()]);
    }
    const out = pending.subarray(0, n);
    pending = pending.subarray(n);
    return out;
  };
}

const bin = (s: string) => BigInt(`0b${s}`);

describe('chunker polynomials', () => {
  it("tells irreducible polynomials from reducible ones as restic/chunker's tests expect", () => {
    // polynomials_test.go, polIrredTests
    const known: [bigint, boolean][] = [
      [0x38f1e565e288dfn, false],
      [0x3da3358b4dc173n, true],
      [0x30a8295b9d5c91n, false],
      [0x255f4350b962cbn, false],
      [0x267f776110a235n, false],
      [0x2f4dae10d41227n, false],
      [0x2482734cacca49n, true],
      [0x312daf4b284899n, false],
      [0x29dfb6553d01d1n, false],
      [0x3548245eb26257n, false],
      [0x3199e7ef4211b3n, false],
      [0x362f39017dae8bn, false],
      [0x200d57aa6fdacbn, false],
      [0x35e0a4efa1d275n, false],
      [0x2ced55b026577fn, false],
      [0x260b012010893dn, false],
      [0x2df29cbcd59e9dn, false],
      [0x3f2ac7488bd429n, false],
      [0x3e5cb1711669fbn, false],
      [0x226d8de57a9959n, false],
      [0x3c8de80aaf5835n, false],
      [0x2026a59efb219bn, false],
      [0x39dfa4d13fb231n, false],
      [0x3143d0464b3299n, false],
    ];
    for (const [f, irreducible] of known) assert.equal(isIrreducible(f), irreducible, f.toString(16));
  });

  it("computes remainders, gcds and products modulo as restic/chunker's tests expect", () => {
    assert.equal(polynomialMod(10n, 50n), 10n);
    assert.equal(polynomialMod(bin('101101001'), bin('1010')), 1n);
    assert.equal(polynomialMod(bin('1100001111'), bin('10011')), 0n);
    assert.equal(polynomialMod(0x8000000000000000n, 0x8000000000000000n), 0n);
    assert.equal(polynomialGcd(10n, 50n), 2n);
    assert.equal(polynomialGcd(bin('1100'), bin('101')), bin('11'));
    assert.equal(polynomialGcd(0x3da3358b4dc173n, 0x230d2259defdn), 1n);
    assert.equal(polynomialGcd(0x230d2259defdn, 0x51b492b3eff2n), bin('10011'));
    assert.equal(polynomialGcd(0x51b492b3eff2n, 0x230d2259defdn), bin('10011'));
    assert.equal(polynomialMulMod(0x1230n, 0x230n, 0x55n), 0x22n);
    assert.equal(
      polynomialMulMod(0x0eae8c07dbbb3026n, 0xd5d6db9de04771den, 0xdd2bda3b77c9n),
      0x425ae8595b7an,
    );
  });

  it("draws the same random polynomials as restic's DerivePolynomial from the same bytes", () => {
    // Go: chunker.DerivePolynomial three times on the counter stream prints these.
    const random = counterStream();
    assert.deepEqual(
      [randomPolynomial(random), randomPolynomial(random), randomPolynomial(random)].map(polynomialToHex),
      ['24c4f312816ed9', '2c650aac8141c3', '31a71f3a84f70b'],
    );
  });

  it('draws irreducible polynomials of degree 53 from injected randomness', () => {
    const random = counterStream();
    random(1000); // another stretch of the stream
    const p = randomPolynomial(random);
    assert.equal(p >> 53n, 1n);
    assert.equal(p & 1n, 1n);
    assert.equal(isIrreducible(p), true);
  });

  it('reads and writes the hex form of a repository config, and refuses what restic would', () => {
    assert.equal(polynomialFromHex('3da3358b4dc173'), 0x3da3358b4dc173n);
    assert.equal(polynomialFromHex('3DA3358B4DC173'), 0x3da3358b4dc173n);
    assert.equal(polynomialToHex(0x3da3358b4dc173n), '3da3358b4dc173');
    assert.equal(polynomialToHex(0x2482734cacca49n), '2482734cacca49');
    for (const bad of [
      '',
      '0x3da3358b4dc173',
      '3da3358b4dc17g',
      '38f1e565e288df',
      '3',
      '1ffffffffffffffff',
    ]) {
      assert.throws(() => polynomialFromHex(bad), InvalidPolynomialError, bad);
    }
    assert.throws(() => polynomialFromHex('38f1e565e288df'), /not irreducible/);
  });
});
