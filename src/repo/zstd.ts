// Zstandard, as the repository uses it for blobs and unpacked files: Node's built-in zlib bindings,
// run on the thread pool so compression overlaps with hashing and encryption on the main thread.
import { promisify } from 'node:util';
import { constants, zstdCompress, zstdDecompress } from 'node:zlib';

const compressAsync = promisify(zstdCompress);
const decompressAsync = promisify(zstdDecompress);

/** Default level 3, as restic's "auto" (klauspost's SpeedDefault is about level 3). */
export const DEFAULT_ZSTD_LEVEL = 3;

export function compress(data: Uint8Array, level = DEFAULT_ZSTD_LEVEL): Promise<Buffer> {
  return compressAsync(data, {
    params: { [constants.ZSTD_c_compressionLevel]: level },
    // Records the size in the frame header, as restic's EncodeAll does.
    pledgedSrcSize: data.length,
  });
}

/** Decompresses one or more frames; `maxLength` bounds the output (a corrupt or hostile frame). */
export function decompress(data: Uint8Array, maxLength?: number): Promise<Buffer> {
  return decompressAsync(data, maxLength === undefined ? {} : { maxOutputLength: Math.max(1, maxLength) });
}
