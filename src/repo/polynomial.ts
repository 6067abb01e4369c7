// Polynomials over GF(2) as restic's chunker uses them (github.com/restic/chunker, polynomials.go): a
// polynomial is a bigint whose bit i is the coefficient of x^i. A repository's chunker polynomial is a
// random irreducible polynomial of degree 53, stored in its config as lower-case hex without a prefix
// (`"chunker_polynomial": "3da3358b4dc173"`). Arithmetic here is for set-up only (tables, the
// irreducibility test), so bigint is fast enough; the chunker's per-byte loop never touches it.

/** The degree of every polynomial restic creates: the largest prime below 64 - 8. */
export const POLYNOMIAL_DEGREE = 53;

/** restic's bound on random tries before giving up (an irreducible one comes about every 53 tries). */
const MAX_TRIES = 1_000_000;

/** A chunker polynomial that is not a valid hex string, has the wrong degree, or is reducible. */
export class InvalidPolynomialError extends Error {
  override readonly name = 'InvalidPolynomialError';
  readonly value: string;
  readonly reason: string;
  constructor(value: string, reason: string) {
    super(`invalid chunker polynomial ${JSON.stringify(value)}: ${reason}`);
    this.value = value;
    this.reason = reason;
  }
}

/** The degree of `x`, -1 for zero. */
export function polynomialDegree(x: bigint): number {
  return x === 0n ? -1 : x.toString(2).length - 1;
}

/** The remainder of `x` divided by `d` (d ≠ 0). */
export function polynomialMod(x: bigint, d: bigint): bigint {
  if (d === 0n) throw new RangeError('polynomial division by zero');
  const degD = polynomialDegree(d);
  let degX = polynomialDegree(x);
  while (degX >= degD) {
    x ^= d << BigInt(degX - degD);
    degX = polynomialDegree(x);
  }
  return x;
}

/** The greatest common divisor of `x` and `f`. */
export function polynomialGcd(x: bigint, f: bigint): bigint {
  while (f !== 0n) [x, f] = [f, polynomialMod(x, f)];
  return x;
}

/** `x * f mod g`: shift-and-add from the highest bit of f down, reducing at every step. */
export function polynomialMulMod(x: bigint, f: bigint, g: bigint): bigint {
  x = polynomialMod(x, g);
  let result = 0n;
  for (let i = polynomialDegree(f); i >= 0; i--) {
    result = polynomialMod(result << 1n, g);
    if ((f >> BigInt(i)) & 1n) result ^= x;
  }
  return result;
}

/**
 * Whether `x` is irreducible over GF(2), by Ben-Or's test as restic does it: gcd(x, x^(2^i) - x mod x)
 * must be 1 for every i from 1 to deg(x)/2.
 */
export function isIrreducible(x: bigint): boolean {
  const degree = polynomialDegree(x);
  if (degree < 1) return false;
  let power = 2n; // the polynomial "x"; squared once per round, it is x^(2^i) mod x after round i
  for (let i = 1; i <= Math.floor(degree / 2); i++) {
    power = polynomialMulMod(power, power, x);
    if (polynomialGcd(x, power ^ 2n) !== 1n) return false;
  }
  return true;
}

/**
 * A random irreducible polynomial of degree 53, drawn as restic's DerivePolynomial does: 8 bytes per try
 * read as a little-endian uint64, bits above 53 cleared, bits 53 and 0 set, kept if irreducible. With the
 * same random bytes it picks the same polynomial as restic. `random(n)` returns n random bytes (inject
 * crypto.randomBytes in production).
 */
export function randomPolynomial(random: (n: number) => Uint8Array): bigint {
  for (let i = 0; i < MAX_TRIES; i++) {
    const bytes = random(8);
    if (bytes.length !== 8) throw new RangeError(`random(8) returned ${bytes.length} bytes`);
    let f = 0n;
    for (let j = 7; j >= 0; j--) f = (f << 8n) | BigInt(bytes[j] as number);
    f &= (1n << 54n) - 1n;
    f |= (1n << 53n) | 1n;
    if (isIrreducible(f)) return f;
  }
  throw new Error(`no irreducible polynomial found in ${MAX_TRIES} tries`);
}

/**
 * The polynomial a repository config stores (`chunker_polynomial`: hex digits, no prefix, as Go's
 * strconv.ParseUint(s, 16, 64) reads them). Refused, like restic's LoadConfig does, unless irreducible;
 * also refused unless its degree is 40 to 53 (restic only makes degree 53; the chunker needs the top 8
 * bits of the fingerprint in one 32-bit half).
 */
export function polynomialFromHex(hex: string): bigint {
  if (!/^[0-9a-fA-F]{1,16}$/.test(hex)) throw new InvalidPolynomialError(hex, 'not 1 to 16 hex digits');
  const value = BigInt(`0x${hex}`);
  const degree = polynomialDegree(value);
  if (degree < 40 || degree > POLYNOMIAL_DEGREE) {
    throw new InvalidPolynomialError(hex, `degree ${degree}, expected 40 to ${POLYNOMIAL_DEGREE}`);
  }
  if (!isIrreducible(value)) throw new InvalidPolynomialError(hex, 'not irreducible');
  return value;
}

/** The form a repository config stores: lower-case hex, no prefix, no leading zeros (Go's Pol JSON). */
export function polynomialToHex(polynomial: bigint): string {
  if (polynomial < 0n || polynomial >= 1n << 64n) throw new RangeError(`not a uint64: ${polynomial}`);
  return polynomial.toString(16);
}
