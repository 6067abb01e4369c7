// Go's math/rand (v1) generator, bit for bit: rand.New(rand.NewSource(seed)).Uint32(). restic/chunker's
// published chunk vectors are over data from it (seed 23). The generator is an additive lagged Fibonacci
// one, x[n] = x[n-607] + x[n-273] mod 2^64, seeded from a fixed table (test/fixtures/go-math-rand/) mixed
// with a Lehmer generator; the 64-bit sums are done on 32-bit halves.
import { readFileSync } from 'node:fs';

const LENGTH = 607;
const TAP = 273;
const INT32_MAX = 2 ** 31 - 1;

const cooked = (
  JSON.parse(
    readFileSync(new URL('../fixtures/go-math-rand/rng-cooked.json', import.meta.url), 'utf8'),
  ) as string[]
).map((s) => BigInt(s));

/** Go's seedrand: x[n+1] = 48271 * x[n] mod (2^31 - 1), by Schrage's method as Go computes it. */
function seedrand(x: number): number {
  const hi = Math.trunc(x / 44488);
  const lo = x % 44488;
  x = 48271 * lo - 3399 * hi;
  return x < 0 ? x + INT32_MAX : x;
}

export class GoRand {
  readonly #hi = new Uint32Array(LENGTH);
  readonly #lo = new Uint32Array(LENGTH);
  #tap = 0;
  #feed = LENGTH - TAP;

  constructor(seed: number) {
    seed %= INT32_MAX;
    if (seed < 0) seed += INT32_MAX;
    if (seed === 0) seed = 89482311;
    let x = seed;
    for (let i = -20; i < LENGTH; i++) {
      x = seedrand(x);
      if (i >= 0) {
        let u = BigInt(x) << 40n;
        x = seedrand(x);
        u ^= BigInt(x) << 20n;
        x = seedrand(x);
        u ^= BigInt(x);
        u = BigInt.asUintN(64, u ^ (cooked[i] as bigint));
        this.#hi[i] = Number(u >> 32n);
        this.#lo[i] = Number(u & 0xffffffffn);
      }
    }
  }

  /** Go's Rand.Uint32: bits 31 to 62 of the next 64-bit value. */
  uint32(): number {
    if (--this.#tap < 0) this.#tap += LENGTH;
    if (--this.#feed < 0) this.#feed += LENGTH;
    const feed = this.#feed;
    const tap = this.#tap;
    const lo = (this.#lo[feed] as number) + (this.#lo[tap] as number);
    const hi = ((this.#hi[feed] as number) + (this.#hi[tap] as number) + (lo > 0xffffffff ? 1 : 0)) >>> 0;
    this.#lo[feed] = lo;
    this.#hi[feed] = hi;
    return (((hi & 0x7fffffff) << 1) | ((lo >>> 0) >>> 31)) >>> 0;
  }

  /** restic/chunker's getRandom: `count` bytes, each Uint32 written little-endian. */
  bytes(count: number): Buffer {
    const out = Buffer.alloc(count);
    for (let i = 0; i < count; i += 4) out.writeUInt32LE(this.uint32(), i);
    return out;
  }
}
