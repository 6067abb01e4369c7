// restic's content-defined chunker (chunker.ts) with its per-byte loop in WebAssembly: the same cuts for
// the same polynomial, options and bytes, bit for bit, about 1.5 times as fast. In WebAssembly the 53-bit
// fingerprint is one i64, where the JS chunker carries it in two int32 halves; but what bounds both is
// the chain from one byte's fingerprint to the next through a table load, and the gain comes mostly from
// shortening that chain (see `dataLoop`). The chunk workers (chunk-worker.ts) use it: the chunker was
// most of their CPU.
//
// The module is assembled here, byte by byte, from the few opcodes it uses: there is no WebAssembly
// toolchain on the build machines (no wat2wasm, clang or Rust wasm target), and a library for writing
// modules would be heavier than the one function of about a hundred instructions it would write. The
// function is `scan` below; each opcode is named where it is emitted.
//
// Linear memory: restic's two tables as i64 (out at 0, mod at 2 KiB; mod with restic's bits above the
// degree, so that the xor cancels them and no mask is needed), the top byte of each mod entry (4 KiB),
// the 64-byte window (6 KiB), and from 64 KiB on the bytes to hash: first the chunker's `buffer`, which a
// caller may read file data into and hand to `next` without a copy, then a scratch area that other data
// is copied through in pieces (at memcpy speed). Lengths, counts and the skip stay in JS numbers; the
// loop gets addresses in memory.
import { Chunker, WINDOW_SIZE, tablesFor, type ChunkerOptions } from './chunker.ts';
import { polynomialDegree } from './polynomial.ts';

// TypeScript declares WebAssembly only in lib.dom, which this project does not load: the part used here.
interface WasmGlobal<T> {
  value: T;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (
    module: object,
    imports: Record<string, Record<string, unknown>>,
  ) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
  Global: new <T>(descriptor: { value: 'i32' | 'i64'; mutable: boolean }, value: T) => WasmGlobal<T>;
};

const OUT_TABLE = 0;
const MOD_TABLE = 256 * 8;
const TOP_TABLE = 2 * 256 * 8;
const WINDOW = 3 * 256 * 8;
const DATA = 65536;
const PAGE = 65536;
/** Other callers' data is copied in pieces of this size: small enough to stay in the CPU's cache. */
const SCRATCH_SIZE = 64 * 1024;
/** A limit on `bufferSize` far below WebAssembly's 4 GiB of 32-bit addresses. */
const MAX_BUFFER_SIZE = 1024 * 1024 * 1024;

export interface WasmChunkerOptions extends ChunkerOptions {
  /** Bytes of `buffer`, the memory `next` reads without a copy. Default 0 (every call copies). */
  bufferSize?: number;
}

// ---- The module's bytes ----------------------------------------------------------------------------

/** Unsigned LEB128, as WebAssembly encodes sizes, counts, indices and memory offsets. */
function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

/** Signed LEB128, as WebAssembly encodes the constants of i32.const and i64.const (small ones here). */
function sleb(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const vector = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const text = (name: string): number[] => vector([...Buffer.from(name)].map((byte) => [byte]));
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

const I32 = 0x7f;
const I64 = 0x7e;

// The instructions used, by their names in the WebAssembly text format. A memory access takes its
// alignment (log2 of bytes) and a constant offset added to the address on the stack.
const local = {
  get: (index: number) => [0x20, ...uleb(index)],
  set: (index: number) => [0x21, ...uleb(index)],
  tee: (index: number) => [0x22, ...uleb(index)],
};
const global = {
  get: (index: number) => [0x23, ...uleb(index)],
  set: (index: number) => [0x24, ...uleb(index)],
};
const i32 = {
  const: (value: number) => [0x41, ...sleb(value)],
  load: (offset: number) => [0x28, 2, ...uleb(offset)],
  load8_u: (offset: number) => [0x2d, 0, ...uleb(offset)],
  store8: (offset: number) => [0x3a, 0, ...uleb(offset)],
  lt_u: [0x49],
  ge_u: [0x4f],
  add: [0x6a],
  sub: [0x6b],
  and: [0x71],
  xor: [0x73],
  shl: [0x74],
  wrap_i64: [0xa7],
};
const i64 = {
  const: (value: number) => [0x42, ...sleb(value)],
  load: (offset: number) => [0x29, 3, ...uleb(offset)],
  eqz: [0x50],
  sub: [0x7d],
  and: [0x83],
  or: [0x84],
  xor: [0x85],
  shl: [0x86],
  shr_u: [0x88],
  extend_i32_u: [0xad],
};
const EMPTY = 0x40; // a block's type: takes and leaves nothing
const block = (...body: number[][]) => [0x02, EMPTY, ...body.flat(), 0x0b];
const loop = (...body: number[][]) => [0x03, EMPTY, ...body.flat(), 0x0b];
/** Branches to the `depth`-th enclosing block (0: the innermost); to a loop, that is its start. */
const br = (depth: number) => [0x0c, ...uleb(depth)];
const brIf = (depth: number) => [0x0d, ...uleb(depth)];
const RETURN = [0x0f];

// scan(i, quiet, windowed, limit) → the address just past the byte that made a cut, or -1 with every
// byte up to `limit` hashed. Addresses, as chunker.ts's `next` indices: up to `quiet` hash only; up to
// `windowed` hash and cut; up to `limit` hash and cut, reading the byte leaving the window at i − 64.
const [P_I, P_QUIET, P_WINDOWED, P_LIMIT] = [0, 1, 2, 3];
const [L_DIGEST, L_BYTE, L_OUT, L_WPOS, L_MASK, L_SHIFT] = [4, 5, 6, 7, 8, 9];
const [L_SLID, L_INDEX, L_OUTGOING, L_SHIFT_TOP, L_SHIFT_NEXT] = [10, 11, 12, 13, 14];
const LOCALS = [I64, I32, I32, I32, I64, I64, I64, I32, I64, I64, I64];
// Imported globals, in import order: the cut mask and the shift to the top byte (deg − 8) of the
// chunker, and the splitter state the caller puts in before and takes out after.
const [G_MASK, G_SHIFT, G_DIGEST, G_WPOS] = [0, 1, 2, 3];

/** Slides byte `i` into the window: byte ← mem[i], out ← window[wpos], window[wpos] ← byte, wpos + 1. */
// prettier-ignore
const slideThroughWindow = [
  ...local.get(P_I), ...i32.load8_u(0), ...local.set(L_BYTE),
  ...local.get(L_WPOS), ...i32.load8_u(WINDOW), ...local.set(L_OUT),
  ...local.get(L_WPOS), ...local.get(L_BYTE), ...i32.store8(WINDOW),
  ...local.get(L_WPOS), ...i32.const(1), ...i32.add, ...i32.const(WINDOW_SIZE - 1), ...i32.and,
  ...local.set(L_WPOS),
];

/** digest ^= out[out]; digest = ((digest << 8) | byte) ^ mod[digest >> shift] (restic's updateDigest). */
// prettier-ignore
const updateDigest = [
  ...local.get(L_DIGEST), ...local.get(L_OUT), ...i32.const(3), ...i32.shl, ...i64.load(OUT_TABLE),
  ...i64.xor, ...local.tee(L_DIGEST),
  ...local.get(L_SHIFT), ...i64.shr_u, ...i32.wrap_i64, ...i32.const(3), ...i32.shl, ...i64.load(MOD_TABLE),
  ...local.get(L_DIGEST), ...i64.const(8), ...i64.shl, ...local.get(L_BYTE), ...i64.extend_i32_u, ...i64.or,
  ...i64.xor, ...local.set(L_DIGEST),
];

/** Leaves the loop (its block is `depth` 1 by default) once i reaches `bound`. */
// prettier-ignore
const until = (bound: number, depth = 1) => [
  ...local.get(P_I), ...local.get(bound), ...i32.ge_u, ...brIf(depth),
];
/** Goes to the cut (the outermost block, `depth` out) when the digest's low bits under the mask are 0. */
// prettier-ignore
const cutIfZero = (depth: number) => [
  ...local.get(L_DIGEST), ...local.get(L_MASK), ...i64.and, ...i64.eqz, ...brIf(depth),
];
const nextByte = [...local.get(P_I), ...i32.const(1), ...i32.add, ...local.set(P_I), ...br(0)];

// Once 64 bytes of this call are hashed, the byte leaving the window is the data's at i − 64, and the loop
// is the one that matters for speed. There the next mod-table index is computed from the previous one,
// not from the new digest: the top byte of the next digest (before the mod) is the 8 bits below the
// current digest's top byte, xor the top byte of the mod entry just used (top[index], a table), xor the
// outgoing byte's (from its out entry). The chain from one byte to the next is then one load and a xor
// (about 5 cycles), where through the digest it is a xor, two shifts, the load and a xor (about 8).
// `slid` is the digest with the outgoing byte already slid out; `index` its top byte times 8.
// prettier-ignore
const dataLoop = [
  // The first byte's outgoing one and index, from the digest.
  ...local.get(P_I), ...i32.const(WINDOW_SIZE), ...i32.sub, ...i32.load8_u(0), ...i32.const(3), ...i32.shl,
  ...i64.load(OUT_TABLE), ...local.get(L_DIGEST), ...i64.xor, ...local.tee(L_SLID),
  ...local.get(L_SHIFT_TOP), ...i64.shr_u, ...i32.wrap_i64, ...i32.const(0x7f8), ...i32.and,
  ...local.set(L_INDEX),
  ...loop(
    // digest = ((slid << 8) | byte) ^ mod[index]
    [...local.get(L_SLID), ...i64.const(8), ...i64.shl, ...local.get(P_I), ...i32.load8_u(0),
      ...i64.extend_i32_u, ...i64.or, ...local.get(L_INDEX), ...i64.load(MOD_TABLE), ...i64.xor,
      ...local.set(L_DIGEST)],
    cutIfZero(2),
    [...local.get(P_I), ...i32.const(1), ...i32.add, ...local.set(P_I)],
    // The next byte's outgoing entry; its index; then slide the outgoing byte out.
    [...local.get(P_I), ...i32.const(WINDOW_SIZE), ...i32.sub, ...i32.load8_u(0), ...i32.const(3), ...i32.shl,
      ...i64.load(OUT_TABLE), ...local.set(L_OUTGOING)],
    [...local.get(L_INDEX), ...i32.load(TOP_TABLE),
      ...local.get(L_SLID), ...local.get(L_SHIFT_NEXT), ...i64.shr_u,
      ...local.get(L_OUTGOING), ...local.get(L_SHIFT_TOP), ...i64.shr_u, ...i64.xor,
      ...i32.wrap_i64, ...i32.const(0x7f8), ...i32.and, ...i32.xor, ...local.set(L_INDEX)],
    [...local.get(L_DIGEST), ...local.get(L_OUTGOING), ...i64.xor, ...local.set(L_SLID)],
    [...local.get(P_I), ...local.get(P_LIMIT), ...i32.lt_u, ...brIf(0)],
  ),
];

// prettier-ignore
const scanBody = [
  ...global.get(G_DIGEST), ...local.set(L_DIGEST),
  ...global.get(G_WPOS), ...local.set(L_WPOS),
  ...global.get(G_MASK), ...local.set(L_MASK),
  ...global.get(G_SHIFT), ...local.tee(L_SHIFT),
  ...i64.const(3), ...i64.sub, ...local.set(L_SHIFT_TOP), // the top byte, times 8
  ...local.get(L_SHIFT), ...i64.const(11), ...i64.sub, ...local.set(L_SHIFT_NEXT), // the byte below, times 8
  ...block(
    block(loop(until(P_QUIET), slideThroughWindow, updateDigest, nextByte)),
    block(loop(until(P_WINDOWED), slideThroughWindow, updateDigest, cutIfZero(2), nextByte)),
    block(until(P_LIMIT, 0), dataLoop),
    // No cut: keep the state for the next call.
    [...local.get(L_DIGEST), ...global.set(G_DIGEST), ...local.get(L_WPOS), ...global.set(G_WPOS)],
    [...i32.const(-1), ...RETURN],
  ),
  // The cut: after byte i.
  ...local.get(P_I), ...i32.const(1), ...i32.add,
];

function moduleBytes(): Uint8Array {
  const globalImport = (name: string, type: number, mutable: boolean) => [
    ...text('env'),
    ...text(name),
    0x03, // a global
    type,
    mutable ? 1 : 0,
  ];
  const code = [...vector(LOCALS.map((type) => [1, type])), ...scanBody, 0x0b];
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, vector([[0x60, ...vector([[I32], [I32], [I32], [I32]]), ...vector([[I32]])]])), // types
    ...section(
      2, // imports
      vector([
        [...text('env'), ...text('memory'), 0x02, 0x00, 1], // a memory of at least 1 page
        globalImport('mask', I64, false),
        globalImport('shift', I64, false),
        globalImport('digest', I64, true),
        globalImport('wpos', I32, true),
      ]),
    ),
    ...section(3, vector([[0]])), // functions: one, of type 0
    ...section(7, vector([[...text('scan'), 0x00, 0]])), // exports: function 0 as "scan"
    ...section(10, vector([[...uleb(code.length), ...code]])), // code
  ]);
}

let compiled: object | undefined;

// ---- The chunker ------------------------------------------------------------------------------------

/** One instance of the module, with its memory and the state globals the splitters take turns with. */
interface Engine {
  bytes: Uint8Array;
  scan: (i: number, quiet: number, windowed: number, limit: number) => number;
  digest: WasmGlobal<bigint>;
  wpos: WasmGlobal<number>;
  buffer: Buffer;
  scratch: number;
}

/**
 * restic's chunker as chunker.ts's `Chunker`, with the per-byte loop in WebAssembly: the same options and
 * cuts. `buffer` is memory its splitters read without a copy (read file data into it and pass it, or a
 * view of it, to `next`); they copy any other data in.
 */
export class WasmChunker {
  readonly polynomial: bigint;
  readonly minSize: number;
  readonly maxSize: number;
  readonly averageBits: number;
  /** `bufferSize` bytes of the module's memory: data here is hashed where it lies. */
  readonly buffer: Buffer;
  readonly #engine: Engine;

  constructor(polynomial: bigint, options: WasmChunkerOptions = {}) {
    const { bufferSize = 0, ...chunkerOptions } = options;
    // The JS chunker checks the polynomial and the options and builds the tables.
    const checked = new Chunker(polynomial, chunkerOptions);
    this.polynomial = polynomial;
    this.minSize = checked.minSize;
    this.maxSize = checked.maxSize;
    this.averageBits = checked.averageBits;
    if (!Number.isSafeInteger(bufferSize) || bufferSize < 0 || bufferSize > MAX_BUFFER_SIZE) {
      throw new RangeError(`chunker bufferSize ${bufferSize} is not an integer from 0 to ${MAX_BUFFER_SIZE}`);
    }
    const pages = Math.ceil((DATA + bufferSize + SCRATCH_SIZE) / PAGE);
    // The memory never grows: views of it (`buffer`) stay valid.
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    const bytes = new Uint8Array(memory.buffer);
    const view = new DataView(memory.buffer);
    const degree = polynomialDegree(polynomial);
    const tables = tablesFor(polynomial);
    for (let b = 0; b < 256; b++) {
      view.setInt32(OUT_TABLE + 8 * b, tables.outLo[b] as number, true);
      view.setInt32(OUT_TABLE + 8 * b + 4, tables.outHi[b] as number, true);
      view.setInt32(MOD_TABLE + 8 * b, tables.modLo[b] as number, true);
      // restic's mod entry: b · x^deg as well, which cancels the byte shifted above the degree.
      view.setInt32(MOD_TABLE + 8 * b + 4, (tables.modHi[b] as number) | (b << (degree - 32)), true);
      // The top byte of b · x^deg mod P, times 8 (an index into the tables).
      view.setInt32(TOP_TABLE + 8 * b, ((tables.modHi[b] as number) >>> (degree - 40)) << 3, true);
    }
    const mask = this.averageBits === 32 ? 0xffffffff : 2 ** this.averageBits - 1;
    const digest = new WebAssembly.Global<bigint>({ value: 'i64', mutable: true }, 0n);
    const wpos = new WebAssembly.Global<number>({ value: 'i32', mutable: true }, 0);
    compiled ??= new WebAssembly.Module(moduleBytes());
    const instance = new WebAssembly.Instance(compiled, {
      env: {
        memory,
        mask: new WebAssembly.Global<bigint>({ value: 'i64', mutable: false }, BigInt(mask)),
        shift: new WebAssembly.Global<bigint>({ value: 'i64', mutable: false }, BigInt(degree - 8)),
        digest,
        wpos,
      },
    });
    this.buffer = Buffer.from(memory.buffer, DATA, bufferSize);
    this.#engine = {
      bytes,
      scan: instance.exports['scan'] as Engine['scan'],
      digest,
      wpos,
      buffer: this.buffer,
      scratch: DATA + bufferSize,
    };
  }

  /** A fresh state for one file. Splitters of one chunker may be used in turns (not from two threads). */
  split(): WasmChunkSplitter {
    return new WasmChunkSplitter(this, this.#engine);
  }
}

/**
 * The chunking state of one file, as chunker.ts's `ChunkSplitter`: feed the file's bytes in order through
 * `next`, which reports where chunks end. The window lives in the module's memory while `next` runs and
 * here between calls, so that several splitters of one chunker can take turns.
 */
export class WasmChunkSplitter {
  readonly #minSize: number;
  readonly #maxSize: number;
  readonly #engine: Engine;
  readonly #window = new Uint8Array(WINDOW_SIZE);
  #wpos = 0;
  #digest = 0n;
  #count = 0;
  #skip = 0;

  constructor(chunker: WasmChunker, engine: Engine) {
    this.#minSize = chunker.minSize;
    this.#maxSize = chunker.maxSize;
    this.#engine = engine;
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
    this.#digest = 1n;
    this.#count = 0;
    this.#skip = this.#minSize - WINDOW_SIZE;
  }

  /**
   * Feeds `data[start, end)` (default: all of it) up to the end of the current chunk. Returns the index in
   * `data` just past that chunk's last byte, after which the next chunk begins (call again from there),
   * or -1 when the chunk goes on past `end` (every byte was taken; feed the next buffer). Without a copy
   * when `data` is a view of the chunker's `buffer`.
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
    const { bytes, buffer, scratch } = this.#engine;
    if (data.buffer === buffer.buffer && data.byteOffset >= buffer.byteOffset) {
      return this.#hash(data.byteOffset, i, end);
    }
    for (let from = i; from < end; from += SCRATCH_SIZE) {
      const to = Math.min(end, from + SCRATCH_SIZE);
      bytes.set(data.subarray(from, to), scratch);
      const cut = this.#hash(scratch - from, from, to);
      if (cut >= 0) return cut;
    }
    return -1;
  }

  /** Hashes `[first, end)` of data that lies in memory from address `base` on (its index 0 there). */
  #hash(base: number, first: number, end: number): number {
    const engine = this.#engine;
    const count = this.#count;
    // The bounds of chunker.ts's three loops: hash only; hash and cut; the same, reading from the data.
    const quiet = Math.min(end, first + Math.max(0, this.#minSize - 1 - count));
    const atMax = first + (this.#maxSize - count); // the index past the byte that makes maxSize
    const limit = Math.min(end, atMax);
    const windowed = Math.min(limit, first + WINDOW_SIZE);
    engine.bytes.set(this.#window, WINDOW);
    engine.digest.value = this.#digest;
    engine.wpos.value = this.#wpos;
    const cut = engine.scan(base + first, base + quiet, base + windowed, base + limit);
    if (cut >= 0) {
      this.#reset();
      return cut - base;
    }
    if (limit === atMax) {
      this.#reset();
      return limit;
    }
    if (limit - first >= WINDOW_SIZE) {
      this.#window.set(engine.bytes.subarray(base + limit - WINDOW_SIZE, base + limit));
      this.#wpos = 0;
    } else {
      this.#window.set(engine.bytes.subarray(WINDOW, WINDOW + WINDOW_SIZE));
      this.#wpos = engine.wpos.value;
    }
    this.#digest = engine.digest.value;
    this.#count = count + (limit - first);
    return -1;
  }
}
