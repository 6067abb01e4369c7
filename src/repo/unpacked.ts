// Unpacked files (index, snapshots, locks): one JSON document each, encrypted, named by the SHA-256 of
// the stored bytes. In a version 2 repository the plaintext is 0x02 || zstd(JSON); a plaintext that
// starts with `{` or `[` is the JSON itself (version 1, and what restic accepts in version 2 too).
import { decrypt, encrypt, type MasterKey } from './crypto.ts';
import type { RandomBytes } from './environment.ts';
import { CorruptDataError } from './errors.ts';
import { sha256 } from './ids.ts';
import { compress, decompress } from './zstd.ts';

const COMPRESSED_JSON = 2;

export interface EncodeUnpackedOptions {
  key: MasterKey;
  /** The repository version: 1 stores plain JSON, 2 compresses. */
  version: 1 | 2;
  random?: RandomBytes | undefined;
}

/** The stored bytes of a JSON document, and their name. */
export async function encodeUnpacked(
  value: unknown,
  options: EncodeUnpackedOptions,
): Promise<{ id: string; bytes: Buffer }> {
  const json = Buffer.from(JSON.stringify(value));
  if (json[0] !== 0x7b && json[0] !== 0x5b)
    throw new TypeError('an unpacked file holds a JSON object or array');
  const plaintext =
    options.version >= 2 ? Buffer.concat([Buffer.of(COMPRESSED_JSON), await compress(json)]) : json;
  const bytes = encrypt(options.key, plaintext, { random: options.random });
  return { id: sha256(bytes), bytes };
}

/**
 * The JSON document in stored bytes. `what` names the file for errors: MacError, or CorruptDataError
 * when the bytes do not match the name, the encoding is unknown, or the document is not JSON.
 */
export async function decodeUnpacked(
  bytes: Buffer,
  key: MasterKey,
  what: { path: string; id: string },
): Promise<unknown> {
  if (sha256(bytes) !== what.id) throw new CorruptDataError(what.path, 'its content does not match its name');
  const plaintext = decrypt(key, bytes, what.path);
  let json: Buffer = plaintext;
  if (plaintext[0] === COMPRESSED_JSON) {
    try {
      json = await decompress(plaintext.subarray(1));
    } catch (error) {
      throw new CorruptDataError(what.path, 'its zstd data does not decompress', { cause: error });
    }
  } else if (plaintext[0] !== 0x7b && plaintext[0] !== 0x5b) {
    throw new CorruptDataError(what.path, `unknown encoding ${plaintext[0] ?? 'of an empty file'}`);
  }
  try {
    return JSON.parse(json.toString('utf8')) as unknown;
  } catch (error) {
    throw new CorruptDataError(what.path, 'it is not JSON', { cause: error });
  }
}
