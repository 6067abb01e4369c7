// Pack files (`data/<2 hex>/<id>`): blobs, each encrypted on its own (zstd-compressed first when
// compressed), then the encrypted header listing them, then the header's length as uint32 LE. The
// pack's id is the SHA-256 of the whole file. Header entries: type (0 data, 1 tree, 2 compressed
// data, 3 compressed tree), encrypted length (uint32 LE), for compressed blobs the plaintext length
// (uint32 LE), and the blob id (32 bytes, the SHA-256 of the plaintext).
import { webcrypto } from 'node:crypto';
import { handlePath, type Backend } from './backend.ts';
import { CIPHERTEXT_OVERHEAD, decrypt, encrypt, type MasterKey } from './crypto.ts';
import type { RandomBytes, SignalOptions } from './environment.ts';
import { BlobIdMismatchError, CorruptDataError, FileNotFoundError, PackerBrokenError } from './errors.ts';
import { isId, sha256, sha256Async } from './ids.ts';
import { compress, compressSync, decompress, decompressSync } from './zstd.ts';

export type BlobType = 'data' | 'tree';

/** A blob's place in a pack, as the pack header and the index record it. */
export interface PackBlob {
  type: BlobType;
  id: string;
  offset: number;
  /** The encrypted length: what the blob occupies in the pack. */
  length: number;
  /** The plaintext length, for compressed blobs only. */
  uncompressedLength?: number | undefined;
}

/** A blob ready for a pack: encrypted (and maybe compressed), with what its header entry needs. */
export interface SealedBlob {
  type: BlobType;
  id: string;
  ciphertext: Buffer;
  uncompressedLength?: number | undefined;
}

const LENGTH_BYTES = 4;
const ID_BYTES = 32;
const PLAIN_ENTRY_BYTES = 1 + LENGTH_BYTES + ID_BYTES;
const COMPRESSED_ENTRY_BYTES = PLAIN_ENTRY_BYTES + LENGTH_BYTES;
/** The largest header (with its length field) restic reads. */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024 + LENGTH_BYTES;
/** The most blobs one pack holds, so that its header stays readable. */
export const MAX_PACK_BLOBS = Math.floor(
  (MAX_HEADER_BYTES - LENGTH_BYTES - CIPHERTEXT_OVERHEAD) / COMPRESSED_ENTRY_BYTES,
);
/** Header entries read along with the header length, to save a second request for small packs. */
const EAGER_ENTRIES = 15;
const UINT32_MAX = 2 ** 32 - 1;

export interface SealOptions {
  /** zstd before encrypting; an empty blob is never compressed (restic marks compression by length). */
  compress: boolean;
  random?: RandomBytes | undefined;
}

/** Encrypts (and maybe compresses) a blob whose id the caller computed from `plaintext`. */
export async function sealBlob(
  key: MasterKey,
  blob: { type: BlobType; id: string; plaintext: Uint8Array },
  options: SealOptions,
): Promise<SealedBlob> {
  const { type, id, plaintext } = blob;
  if (!options.compress || plaintext.length === 0)
    return { type, id, ciphertext: encrypt(key, plaintext, { random: options.random }) };
  const compressed = await compress(plaintext);
  const ciphertext = encrypt(key, compressed, { random: options.random });
  return { type, id, ciphertext, uncompressedLength: plaintext.length };
}

/** sealBlob on the calling thread (zstd included): for worker threads (src/repo/chunk-worker.ts). */
export function sealBlobSync(
  key: MasterKey,
  blob: { type: BlobType; id: string; plaintext: Uint8Array },
  options: SealOptions,
): SealedBlob {
  const { type, id, plaintext } = blob;
  if (!options.compress || plaintext.length === 0)
    return { type, id, ciphertext: encrypt(key, plaintext, { random: options.random }) };
  const ciphertext = encrypt(key, compressSync(plaintext), { random: options.random });
  return { type, id, ciphertext, uncompressedLength: plaintext.length };
}

/**
 * The plaintext of a blob read from a pack, verified: MacError when it fails authentication,
 * CorruptDataError when it does not decompress to its recorded length, BlobIdMismatchError when its
 * SHA-256 is not its id. Nothing is returned unless all checks pass.
 */
export async function openBlob(
  key: MasterKey,
  pack: string,
  blob: PackBlob,
  ciphertext: Buffer,
): Promise<Buffer> {
  const what = blobWhat(pack, blob);
  let plaintext = decrypt(key, ciphertext, what);
  if (blob.uncompressedLength !== undefined)
    plaintext = checkDecompressed(
      what,
      blob,
      await decompress(plaintext, blob.uncompressedLength).catch((error: unknown) => {
        throw undecompressed(what, error);
      }),
    );
  return checkId(pack, blob, plaintext, await sha256Async(plaintext));
}

/** openBlob on the calling thread (zstd and SHA-256 included): for worker threads (blob-worker.ts). */
export function openBlobSync(key: MasterKey, pack: string, blob: PackBlob, ciphertext: Buffer): Buffer {
  const what = blobWhat(pack, blob);
  let plaintext = decrypt(key, ciphertext, what);
  if (blob.uncompressedLength !== undefined) {
    let decompressed: Buffer;
    try {
      decompressed = decompressSync(plaintext, blob.uncompressedLength);
    } catch (error) {
      throw undecompressed(what, error);
    }
    plaintext = checkDecompressed(what, blob, decompressed);
  }
  return checkId(pack, blob, plaintext, sha256(plaintext));
}

const ZEROS = Buffer.alloc(64 * 1024);

/** Whether a blob's plaintext is all zeros: a restore leaves a hole for it. */
export function allZero(bytes: Buffer): boolean {
  for (let at = 0; at < bytes.length; at += ZEROS.length) {
    const end = Math.min(bytes.length, at + ZEROS.length);
    if (bytes.compare(ZEROS, 0, end - at, at, end) !== 0) return false;
  }
  return true;
}

const blobWhat = (pack: string, blob: PackBlob): string =>
  `${blob.type} blob ${blob.id} in pack ${handlePath({ type: 'data', name: pack })}`;

const undecompressed = (what: string, error: unknown): CorruptDataError =>
  new CorruptDataError(what, 'its zstd data does not decompress', { cause: error });

function checkDecompressed(what: string, blob: PackBlob, plaintext: Buffer): Buffer {
  if (plaintext.length !== blob.uncompressedLength)
    throw new CorruptDataError(
      what,
      `it decompresses to ${plaintext.length} bytes, not ${blob.uncompressedLength}`,
    );
  return plaintext;
}

function checkId(pack: string, blob: PackBlob, plaintext: Buffer, actual: string): Buffer {
  if (actual !== blob.id)
    throw new BlobIdMismatchError(handlePath({ type: 'data', name: pack }), blob.id, actual);
  return plaintext;
}

/** A finished pack: the file's bytes, its id, and the blobs it holds. */
export interface FinishedPack {
  id: string;
  bytes: Buffer;
  blobs: PackBlob[];
}

/** Collects sealed blobs in memory and writes them out as one pack. Unusable after its first error. */
export class Packer {
  readonly #key: MasterKey;
  readonly #random: RandomBytes | undefined;
  readonly #chunks: Buffer[] = [];
  readonly #blobs: PackBlob[] = [];
  #size = 0;
  #headerSize = LENGTH_BYTES + CIPHERTEXT_OVERHEAD;
  #broken: { cause: unknown } | undefined;

  constructor(options: { key: MasterKey; random?: RandomBytes | undefined }) {
    this.#key = options.key;
    this.#random = options.random;
  }

  /** Bytes of blobs so far. */
  get size(): number {
    return this.#size;
  }

  /** The size of the file `finish` would write. */
  get fileSize(): number {
    return this.#size + this.#headerSize;
  }

  get count(): number {
    return this.#blobs.length;
  }

  /** Whether the header has room for no more blobs. */
  get full(): boolean {
    return this.#blobs.length >= MAX_PACK_BLOBS;
  }

  add(blob: SealedBlob): void {
    this.#guard(() => {
      if (this.full) throw new RangeError(`a pack holds at most ${MAX_PACK_BLOBS} blobs`);
      if (!isId(blob.id)) throw new RangeError(`blob id ${JSON.stringify(blob.id)} is not 64 hex digits`);
      if (blob.ciphertext.length < CIPHERTEXT_OVERHEAD)
        throw new RangeError('a sealed blob has at least 32 bytes');
      if (blob.ciphertext.length > UINT32_MAX || this.#size + blob.ciphertext.length > UINT32_MAX)
        throw new RangeError('a pack is smaller than 4 GiB');
      const u = blob.uncompressedLength;
      if (u !== undefined && (!Number.isSafeInteger(u) || u <= 0 || u > UINT32_MAX))
        throw new RangeError(`invalid uncompressed length ${u}`);
      this.#blobs.push({
        type: blob.type,
        id: blob.id,
        offset: this.#size,
        length: blob.ciphertext.length,
        ...(u === undefined ? {} : { uncompressedLength: u }),
      });
      this.#chunks.push(blob.ciphertext);
      this.#size += blob.ciphertext.length;
      this.#headerSize += u === undefined ? PLAIN_ENTRY_BYTES : COMPRESSED_ENTRY_BYTES;
    });
  }

  /** The pack file (its bytes and id). The packer cannot be used afterwards. */
  finish(): FinishedPack {
    const { bytes, blobs } = this.#finish();
    return { id: sha256(bytes), bytes, blobs };
  }

  /**
   * finish(), with the pack's SHA-256 (its id) computed on the thread pool (WebCrypto's digest): 16 MiB
   * of hashing per pack is not then the main thread's, which a backup keeps busy.
   */
  async finishAsync(): Promise<FinishedPack> {
    const { bytes, blobs } = this.#finish();
    const digest = await webcrypto.subtle.digest('SHA-256', bytes);
    return { id: Buffer.from(digest).toString('hex'), bytes, blobs };
  }

  #finish(): { bytes: Buffer; blobs: PackBlob[] } {
    return this.#guard(() => {
      if (this.#blobs.length === 0) throw new RangeError('a pack holds at least one blob');
      const header = encrypt(this.#key, encodeHeader(this.#blobs), { random: this.#random });
      const length = Buffer.alloc(LENGTH_BYTES);
      length.writeUInt32LE(header.length);
      const bytes = Buffer.concat([...this.#chunks, header, length]);
      this.#broken = { cause: new Error('the pack was finished') };
      this.#chunks.length = 0;
      return { bytes, blobs: [...this.#blobs] };
    });
  }

  #guard<T>(fn: () => T): T {
    if (this.#broken) throw new PackerBrokenError(this.#broken);
    try {
      return fn();
    } catch (error) {
      this.#broken = { cause: error };
      throw error;
    }
  }
}

function encodeHeader(blobs: PackBlob[]): Buffer {
  const size = blobs.reduce(
    (n, b) => n + (b.uncompressedLength === undefined ? PLAIN_ENTRY_BYTES : COMPRESSED_ENTRY_BYTES),
    0,
  );
  const header = Buffer.alloc(size);
  let at = 0;
  for (const blob of blobs) {
    const compressed = blob.uncompressedLength !== undefined;
    at = header.writeUInt8((blob.type === 'tree' ? 1 : 0) + (compressed ? 2 : 0), at);
    at = header.writeUInt32LE(blob.length, at);
    if (compressed) at = header.writeUInt32LE(blob.uncompressedLength ?? 0, at);
    at += header.write(blob.id, at, 'hex');
  }
  return header;
}

/** The blobs a decrypted pack header lists, with their offsets. */
export function decodeHeader(header: Buffer, what: string): PackBlob[] {
  const blobs: PackBlob[] = [];
  let at = 0;
  let offset = 0;
  while (at < header.length) {
    const kind = header.readUInt8(at);
    if (kind > 3)
      throw new CorruptDataError(what, `header entry ${blobs.length} has the unknown type ${kind}`);
    const compressed = kind >= 2;
    if (at + (compressed ? COMPRESSED_ENTRY_BYTES : PLAIN_ENTRY_BYTES) > header.length)
      throw new CorruptDataError(what, `header entry ${blobs.length} is cut short`);
    const length = header.readUInt32LE(at + 1);
    const uncompressedLength = compressed ? header.readUInt32LE(at + 5) : undefined;
    at += compressed ? 9 : 5;
    const id = header.toString('hex', at, at + ID_BYTES);
    at += ID_BYTES;
    blobs.push({
      type: kind % 2 === 1 ? 'tree' : 'data',
      id,
      offset,
      length,
      ...(compressed ? { uncompressedLength } : {}),
    });
    offset += length;
  }
  return blobs;
}

/** The blobs a pack's header lists: one range read of the tail (two for packs of many blobs). */
export async function readPackHeader(
  backend: Backend,
  key: MasterKey,
  pack: string,
  options: SignalOptions & { size?: number | undefined } = {},
): Promise<PackBlob[]> {
  const handle = { type: 'data', name: pack } as const;
  const size = options.size ?? (await backend.stat(handle, options))?.size;
  if (size === undefined)
    throw new FileNotFoundError(backend.description, handlePath({ type: 'data', name: pack }));
  const read = (offset: number, length: number) => backend.load(handle, { ...options, offset, length });
  return (await headerOf(key, pack, size, read)).blobs;
}

/**
 * The blobs the header of a whole pack file lists, and the header's size in the file (with its length
 * field). CorruptDataError or MacError when the tail is not a header this key opens.
 */
export async function parsePack(
  key: MasterKey,
  pack: string,
  bytes: Buffer,
): Promise<{ blobs: PackBlob[]; headerSize: number }> {
  const read = (offset: number, length: number) => Promise.resolve(bytes.subarray(offset, offset + length));
  return headerOf(key, pack, bytes.length, read);
}

async function headerOf(
  key: MasterKey,
  pack: string,
  size: number,
  read: (offset: number, length: number) => Promise<Buffer>,
): Promise<{ blobs: PackBlob[]; headerSize: number }> {
  const what = `pack ${handlePath({ type: 'data', name: pack })}`;
  if (size < PLAIN_ENTRY_BYTES + CIPHERTEXT_OVERHEAD + LENGTH_BYTES)
    throw new CorruptDataError(what, `${size} bytes is too short for a pack`);
  const eager = Math.min(size, EAGER_ENTRIES * COMPRESSED_ENTRY_BYTES + CIPHERTEXT_OVERHEAD + LENGTH_BYTES);
  let tail = await read(size - eager, eager);
  const headerLength = tail.readUInt32LE(tail.length - LENGTH_BYTES);
  if (
    headerLength < CIPHERTEXT_OVERHEAD ||
    headerLength + LENGTH_BYTES > size ||
    headerLength + LENGTH_BYTES > MAX_HEADER_BYTES
  )
    throw new CorruptDataError(what, `the header length ${headerLength} does not fit a ${size}-byte pack`);
  if (headerLength + LENGTH_BYTES > eager)
    tail = await read(size - LENGTH_BYTES - headerLength, headerLength + LENGTH_BYTES);
  const encrypted = tail.subarray(tail.length - LENGTH_BYTES - headerLength, tail.length - LENGTH_BYTES);
  const blobs = decodeHeader(decrypt(key, encrypted, `the header of ${what}`), what);
  const end = blobs.reduce((n, b) => n + b.length, 0);
  if (end + headerLength + LENGTH_BYTES > size)
    throw new CorruptDataError(what, `its header lists ${end} bytes of blobs, more than the pack holds`);
  return { blobs, headerSize: headerLength + LENGTH_BYTES };
}

/**
 * The size of a pack's header in the file (encrypted, with its length field) for these blobs, as
 * restic computes it from the index (pack.CalculateHeaderSize).
 */
export function packHeaderSize(blobs: readonly PackBlob[]): number {
  let size = LENGTH_BYTES + CIPHERTEXT_OVERHEAD;
  for (const blob of blobs)
    size += blob.uncompressedLength === undefined ? PLAIN_ENTRY_BYTES : COMPRESSED_ENTRY_BYTES;
  return size;
}

/** Reads one blob from a pack by range and returns its verified plaintext (see openBlob). */
export async function loadPackedBlob(
  backend: Backend,
  key: MasterKey,
  pack: string,
  blob: PackBlob,
  options: SignalOptions = {},
): Promise<Buffer> {
  const ciphertext = await backend.load(
    { type: 'data', name: pack },
    { ...options, offset: blob.offset, length: blob.length },
  );
  return openBlob(key, pack, blob, ciphertext);
}
