// restic's content-defined chunker (github.com/restic/chunker v0.4.0, as restic 0.14 to 0.18 use it),
// bit for bit: the same polynomial and data give the same chunk boundaries, so our data blobs deduplicate
// with restic's. A Rabin fingerprint over GF(2) modulo the repository's polynomial runs over a 64-byte
// window; a chunk ends after the byte where the fingerprint's low `averageBits` bits (20: about 1 MiB)
// are all zero, but never before `minSize` (512 KiB) and always at `maxSize` (8 MiB). After each cut the
// window is reset and the first minSize - 64 bytes of the next chunk are skipped without hashing (restic
// does the same: no cut can come there anyway). The last chunk of a file ends where the file ends.
//
// The fingerprint has 53 bits, more than a JavaScript number's bit operations take, and bigint in the
// per-byte loop is two orders of magnitude too slow. So the fingerprint lives in two int32 halves, `hi`
// (bits 32 and up) and `lo`, and the two tables restic derives from the polynomial are split the same
// way. restic's mod table also carries the 8 bits to cancel above the degree; here a mask clears them.
import { InvalidPolynomialError, polynomialDegree, polynomialMod, polynomialToHex } from './polynomial.ts';

export const WINDOW_SIZE = 64;

export const MIN_CHUNK_SIZE = 512 * 1024;
export const MAX_CHUNK_SIZE = 8 * 1024 * 1024;
/** Chunks of 2^20 bytes (1 MiB) on average past the minimum. */
export const AVERAGE_BITS = 20;

export interface ChunkerOptions {
  /** No chunk but a file's last is shorter. Default 512 KiB (restic's); at least 64. */
  minSize?: number;
  /** No chunk is longer. Default 8 MiB (restic's). */
  maxSize?: number;
  /** A cut where the fingerprint's low bits this many are zero. Default 20 (restic's); 1 to 32 here. */
  averageBits?: number;
}

/** restic's two tables for a polynomial, each entry split into its high and low 32 bits. */
export interface Tables {
  /** The fingerprint of byte b followed by 63 zero bytes: xor it in to slide b out of the window. */
  outHi: Int32Array;
  outLo: Int32Array;
  /** b·x^deg mod polynomial: xor it in for the 8 bits that left the top when shifting a byte in. */
  modHi: Int32Array;
  modLo: Int32Array;
}

// Tables are pure functions of the polynomial; a repository has one, so this stays tiny.
const tableCache = new Map<bigint, Tables>();

export function tablesFor(polynomial: bigint): Tables {
  const cached = tableCache.get(polynomial);
  if (cached) return cached;
  const degree = BigInt(polynomialDegree(polynomial));
  const tables: Tables = {
    outHi: new Int32Array(256),
    outLo: new Int32Array(256),
    modHi: new Int32Array(256),
    modLo: new Int32Array(256),
  };
  for (let b = 0; b < 256; b++) {
    let hash = polynomialMod(BigInt(b), polynomial);
    for (let i = 0; i < WINDOW_SIZE - 1; i++) hash = polynomialMod(hash << 8n, polynomial);
    tables.outHi[b] = Number(hash >> 32n);
    tables.outLo[b] = Number(BigInt.asIntN(32, hash));
    const mod = polynomialMod(BigInt(b) << degree, polynomial);
    tables.modHi[b] = Number(mod >> 32n);
    tables.modLo[b] = Number(BigInt.asIntN(32, mod));
  }
  tableCache.set(polynomial, tables);
  return tables;
}

/**
 * A chunker for one repository polynomial. Cheap to create once its tables exist (they are computed on
 * first use of a polynomial and shared); `split()` starts the state for one file.
 */
export class Chunker {
  readonly polynomial: bigint;
  readonly minSize: number;
  readonly maxSize: number;
  readonly averageBits: number;

  constructor(polynomial: bigint, options: ChunkerOptions = {}) {
    const degree = polynomialDegree(polynomial);
    if (degree < 40 || degree > 53) {
      throw new InvalidPolynomialError(polynomialToHex(polynomial), `degree ${degree}, expected 40 to 53`);
    }
    this.polynomial = polynomial;
    this.minSize = options.minSize ?? MIN_CHUNK_SIZE;
    this.maxSize = options.maxSize ?? MAX_CHUNK_SIZE;
    this.averageBits = options.averageBits ?? AVERAGE_BITS;
    if (!Number.isSafeInteger(this.minSize) || this.minSize < WINDOW_SIZE) {
      throw new RangeError(`chunker minSize ${this.minSize} is not an integer of at least ${WINDOW_SIZE}`);
    }
    if (!Number.isSafeInteger(this.maxSize) || this.maxSize < this.minSize) {
      throw new RangeError(`chunker maxSize ${this.maxSize} is not an integer of at least minSize`);
    }
    if (!Number.isInteger(this.averageBits) || this.averageBits < 1 || this.averageBits > 32) {
      throw new RangeError(`chunker averageBits ${this.averageBits} is not 1 to 32`);
    }
    tablesFor(polynomial);
  }

  /** A fresh state for one file (or any byte stream): feed it the file's bytes in order. */
  split(): ChunkSplitter {
    return new ChunkSplitter(this);
  }
}

/**
 * The chunking state of one file. Feed its bytes in order, in buffers of any size, through `next`; it
 * reports where chunks end, and the caller slices them (no copy here). The bytes after the last cut are
 * the file's last chunk (none if the file is empty or ended at a cut).
 */
export class ChunkSplitter {
  readonly #minSize: number;
  readonly #maxSize: number;
  readonly #mask: number;
  readonly #shift: number;
  readonly #hiMask: number;
  readonly #tables: Tables;
  readonly #window = new Uint8Array(WINDOW_SIZE);
  #wpos = 0;
  #hi = 0;
  #lo = 0;
  /** Bytes of the current chunk seen so far. */
  #count = 0;
  /** Bytes still to skip, unhashed, at the start of the current chunk. */
  #skip = 0;

  constructor(chunker: Chunker) {
    const degree = polynomialDegree(chunker.polynomial);
    this.#minSize = chunker.minSize;
    this.#maxSize = chunker.maxSize;
    this.#mask = chunker.averageBits === 32 ? -1 : (1 << chunker.averageBits) - 1;
    this.#shift = degree - 40; // the top 8 of the fingerprint's `degree` bits, within `hi`
    this.#hiMask = 2 ** (degree - 32) - 1;
    this.#tables = tablesFor(chunker.polynomial);
    this.#reset();
  }

  /** Bytes of the current, unfinished chunk fed so far: at the end of the file, its last chunk's length. */
  get pending(): number {
    return this.#count;
  }

  // restic's reset(): an empty window, the byte 1 slid in, and the skip of minSize - 64 bytes.
  #reset(): void {
    this.#window.fill(0);
    this.#window[0] = 1;
    this.#wpos = 1;
    this.#hi = 0;
    this.#lo = 1;
    this.#count = 0;
    this.#skip = this.#minSize - WINDOW_SIZE;
  }

  /**
   * Feeds `data[start, end)` (default: all of it) up to the end of the current chunk. Returns the index in
   * `data` just past that chunk's last byte, after which the next chunk begins (call again from there),
   * or -1 when the chunk goes on past `end` (every byte was taken; feed the next buffer).
   */
  next(data: Uint8Array, start = 0, end = data.length): number {
    let i = start;
    if (this.#skip > 0) {
      const available = end - i;
      if (this.#skip >= available) {
        this.#skip -= available;
        this.#count += available;
        return -1;
      }
      i += this.#skip;
      this.#count += this.#skip;
      this.#skip = 0;
    }
    const { outHi, outLo, modHi, modLo } = this.#tables;
    const win = this.#window;
    const shift = this.#shift;
    const hiMask = this.#hiMask;
    const mask = this.#mask;
    let wpos = this.#wpos;
    let hi = this.#hi;
    let lo = this.#lo;
    const count = this.#count;
    const first = i;

    // Bytes that end before minSize cannot cut: hash them without looking.
    const quiet = Math.min(end, i + Math.max(0, this.#minSize - 1 - count));
    for (; i < quiet; i++) {
      const b = data[i] as number;
      const out = win[wpos] as number;
      win[wpos] = b;
      wpos = (wpos + 1) & (WINDOW_SIZE - 1);
      hi ^= outHi[out] as number;
      lo ^= outLo[out] as number;
      const top = hi >>> shift;
      hi = (((hi << 8) | (lo >>> 24)) & hiMask) ^ (modHi[top] as number);
      lo = ((lo << 8) | b) ^ (modLo[top] as number);
    }

    // Then a cut where the low bits are zero, or at maxSize.
    const atMax = first + (this.#maxSize - count); // the index past the byte that makes maxSize
    const limit = Math.min(end, atMax);
    const windowed = Math.min(limit, first + WINDOW_SIZE);
    for (; i < windowed; i++) {
      const b = data[i] as number;
      const out = win[wpos] as number;
      win[wpos] = b;
      wpos = (wpos + 1) & (WINDOW_SIZE - 1);
      hi ^= outHi[out] as number;
      lo ^= outLo[out] as number;
      const top = hi >>> shift;
      hi = (((hi << 8) | (lo >>> 24)) & hiMask) ^ (modHi[top] as number);
      lo = ((lo << 8) | b) ^ (modLo[top] as number);
      if ((lo & mask) === 0) {
        this.#reset();
        return i + 1;
      }
    }
    // Once 64 bytes of `data` are hashed, the byte leaving the window is in `data` too.
    for (; i < limit; i++) {
      const b = data[i] as number;
      const out = data[i - WINDOW_SIZE] as number;
      hi ^= outHi[out] as number;
      lo ^= outLo[out] as number;
      const top = hi >>> shift;
      hi = (((hi << 8) | (lo >>> 24)) & hiMask) ^ (modHi[top] as number);
      lo = ((lo << 8) | b) ^ (modLo[top] as number);
      if ((lo & mask) === 0) {
        this.#reset();
        return i + 1;
      }
    }
    if (i === atMax) {
      this.#reset();
      return i;
    }
    if (i - first >= WINDOW_SIZE) {
      win.set(data.subarray(i - WINDOW_SIZE, i));
      wpos = 0;
    }
    this.#wpos = wpos;
    this.#hi = hi;
    this.#lo = lo;
    this.#count = count + (i - first);
    return -1;
  }
}

/**
 * The chunks of a byte stream, in order: each the bytes between two cuts, the last one ending with the
 * stream (an empty stream has none). A chunk inside one source buffer is a view of it, not a copy; one
 * spanning buffers is copied into a new one. The source must not reuse a buffer once it has yielded it
 * (fs.createReadStream does not).
 */
export async function* chunks(
  chunker: Chunker,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: { signal?: AbortSignal } = {},
): AsyncGenerator<Buffer> {
  const splitter = chunker.split();
  let parts: Uint8Array[] = [];
  let partsLength = 0;
  const take = (piece: Uint8Array): Buffer => {
    const pieces = piece.length > 0 ? [...parts, piece] : parts;
    const only = pieces.length === 1 ? (pieces[0] as Uint8Array) : undefined;
    const chunk = only
      ? Buffer.from(only.buffer, only.byteOffset, only.length)
      : Buffer.concat(pieces, partsLength + piece.length);
    parts = [];
    partsLength = 0;
    return chunk;
  };
  for await (const data of source) {
    options.signal?.throwIfAborted();
    let position = 0;
    for (;;) {
      const cut = splitter.next(data, position);
      if (cut < 0) break;
      yield take(data.subarray(position, cut));
      position = cut;
    }
    if (position < data.length) {
      parts.push(data.subarray(position));
      partsLength += data.length - position;
    }
  }
  if (partsLength > 0) yield take(new Uint8Array(0));
}
