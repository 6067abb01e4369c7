// Zstandard, as the repository uses it for blobs and unpacked files: Node's built-in zlib bindings,
// run on the thread pool so compression overlaps with hashing and encryption on the main thread. The
// output buffer is sized to hold the whole result (zlib's default is 16 KiB): with the default, a 1 MiB
// blob takes 64 round trips to the thread pool and a concat on the main thread, which costs more main-
// thread time than the compression itself (2.4 times slower on incompressible data, measured). Small
// inputs (up to 64 KiB) are done synchronously: setting up a thread-pool job costs about 160 µs of CPU,
// five times what compressing 2 KiB takes, and a small file's blob is the common case.
import { promisify } from 'node:util';
import {
  constants,
  zstdCompress,
  zstdCompressSync,
  zstdDecompress,
  zstdDecompressSync,
  type ZstdOptions,
} from 'node:zlib';

const compressAsync = promisify(zstdCompress);
const decompressAsync = promisify(zstdDecompress);

/** Default level 3, as restic's "auto" (klauspost's SpeedDefault is about level 3). */
export const DEFAULT_ZSTD_LEVEL = 3;

/** Inputs up to this size are (de)compressed synchronously. */
const SYNC_LIMIT = 64 * 1024;

function compressOptions(data: Uint8Array, level: number): ZstdOptions {
  return {
    params: { [constants.ZSTD_c_compressionLevel]: level },
    // Records the size in the frame header, as restic's EncodeAll does.
    pledgedSrcSize: data.length,
    // ZSTD_compressBound, with room for the frame header.
    chunkSize: data.length + (data.length >> 8) + 1024,
  };
}

export function compress(data: Uint8Array, level = DEFAULT_ZSTD_LEVEL): Promise<Buffer> {
  const options = compressOptions(data, level);
  if (data.length > SYNC_LIMIT) return compressAsync(data, options);
  return new Promise((resolve) => resolve(zstdCompressSync(data, options)));
}

/** compress() on the calling thread whatever the size: for worker threads (src/repo/chunk-worker.ts). */
export function compressSync(data: Uint8Array, level = DEFAULT_ZSTD_LEVEL): Buffer {
  return zstdCompressSync(data, compressOptions(data, level));
}

function decompressOptions(maxLength: number): ZstdOptions {
  const bound = Math.max(1, maxLength);
  return { maxOutputLength: bound, chunkSize: Math.max(64, bound) };
}

/** Decompresses one or more frames; `maxLength` bounds the output (a corrupt or hostile frame). */
export function decompress(data: Uint8Array, maxLength?: number): Promise<Buffer> {
  if (maxLength === undefined) return decompressAsync(data);
  const options = decompressOptions(maxLength);
  if (maxLength > SYNC_LIMIT) return decompressAsync(data, options);
  return new Promise((resolve) => resolve(zstdDecompressSync(data, options)));
}

/** decompress() on the calling thread whatever the size: for worker threads (src/repo/blob-worker.ts). */
export function decompressSync(data: Uint8Array, maxLength: number): Buffer {
  return zstdDecompressSync(data, decompressOptions(maxLength));
}
