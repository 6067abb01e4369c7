// Client-side encryption of stored objects: a streaming, authenticated format (docs/formats/encryption.md).
// AES-256-GCM over fixed-size chunks with a per-object key (HKDF from the location key and a random
// salt) and the STREAM construction (chunk counter in the nonce, final-chunk flag in the AAD), so that
// modified, reordered, dropped, truncated or appended chunks are all detected. Imports nothing of ours.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  hkdfSync,
  randomBytes as cryptoRandomBytes,
} from 'node:crypto';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import {
  InvalidKeyError,
  NotEncryptedError,
  TamperedObjectError,
  TruncatedObjectError,
  UnsupportedFormatError,
  WrongKeyError,
} from './encryption-errors.ts';

export {
  EncryptionError,
  InvalidKeyError,
  NotEncryptedError,
  TamperedObjectError,
  TruncatedObjectError,
  UnsupportedFormatError,
  WrongKeyError,
} from './encryption-errors.ts';

export const ENCRYPTION_MAGIC = 'CAIRNENC';
export const ENCRYPTION_FORMAT_VERSION = 1;
export const ALGORITHM_AES_256_GCM = 1;
export const DEFAULT_CHUNK_SIZE = 65536;
/** The largest chunk size a reader accepts (it buffers one chunk). */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
export const LOCATION_KEY_BYTES = 32;
/** magic 8 + version 1 + algorithm 1 + chunk size 4 + key id 8 + salt 32. */
export const HEADER_BYTES = 54;

const MAGIC = Buffer.from(ENCRYPTION_MAGIC, 'ascii');
const SALT_BYTES = 32;
const TAG_BYTES = 16;
const KEY_ID_BYTES = 8;
const HKDF_INFO = 'cairn object v1';

export interface EncryptOptions {
  /** Plaintext bytes per chunk, 1 to 16 MiB. Default 65536. */
  chunkSize?: number;
  /** The source of the salt. Default node:crypto's randomBytes; tests inject fixed bytes. */
  randomBytes?: (size: number) => Buffer;
}

/** A new random 32-byte location key. */
export function generateLocationKey(): Buffer {
  return cryptoRandomBytes(LOCATION_KEY_BYTES);
}

/** The key's id (hex of the first 8 bytes of its SHA-256): safe to show, it names the key without revealing it. */
export function keyId(key: Uint8Array): string {
  return keyIdBytes(checkKey(key)).toString('hex');
}

/** A Transform from plaintext to the encrypted format. */
export function encryptStream(key: Uint8Array, options: EncryptOptions = {}): Transform {
  const encryptor = new Encryptor(key, options);
  return chunkTransform(
    (data, emit) => encryptor.update(data, emit),
    (emit) => encryptor.final(emit),
  );
}

/**
 * A Transform from the encrypted format to plaintext. Each chunk's plaintext is pushed only after its
 * tag verified. Errors: NotEncryptedError, UnsupportedFormatError, WrongKeyError, TamperedObjectError,
 * TruncatedObjectError.
 */
export function decryptStream(key: Uint8Array): Transform {
  const decryptor = new Decryptor(key);
  return chunkTransform(
    (data, emit) => decryptor.update(data, emit),
    (emit) => decryptor.final(emit),
  );
}

/** Encrypts a small object in one call (same format as `encryptStream`). */
export function encryptBuffer(key: Uint8Array, plaintext: Uint8Array, options: EncryptOptions = {}): Buffer {
  const encryptor = new Encryptor(key, options);
  const out: Buffer[] = [];
  const emit = (chunk: Buffer) => out.push(chunk);
  encryptor.update(Buffer.from(plaintext), emit);
  encryptor.final(emit);
  return Buffer.concat(out);
}

/** Decrypts a small object in one call; the same checks and errors as `decryptStream`. */
export function decryptBuffer(key: Uint8Array, data: Uint8Array): Buffer {
  const decryptor = new Decryptor(key);
  const out: Buffer[] = [];
  const emit = (chunk: Buffer) => out.push(chunk);
  decryptor.update(Buffer.from(data), emit);
  decryptor.final(emit);
  return Buffer.concat(out);
}

/** Receives output as soon as it is ready (for decryption: as soon as a chunk's tag verified). */
type Emit = (chunk: Buffer) => void;

function chunkTransform(update: (data: Buffer, emit: Emit) => void, final: (emit: Emit) => void): Transform {
  const run = (stream: Transform, step: (emit: Emit) => void, callback: TransformCallback) => {
    try {
      step((chunk) => stream.push(chunk));
    } catch (error) {
      callback(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    callback();
  };
  return new Transform({
    transform(data: Buffer, _encoding, callback: TransformCallback) {
      run(this, (emit) => update(data, emit), callback);
    },
    flush(callback: TransformCallback) {
      run(this, final, callback);
    },
  });
}

function checkKey(key: Uint8Array): Buffer {
  if (!(key instanceof Uint8Array) || key.length !== LOCATION_KEY_BYTES) {
    throw new InvalidKeyError(key instanceof Uint8Array ? key.length : undefined);
  }
  return Buffer.from(key);
}

function keyIdBytes(key: Buffer): Buffer {
  return createHash('sha256').update(key).digest().subarray(0, KEY_ID_BYTES);
}

/** The chunk key and the two AADs of one object, and the nonce of chunk `index`. */
class ChunkCipher {
  readonly #key: Buffer;
  readonly #aad: readonly [Buffer, Buffer];
  constructor(locationKey: Buffer, header: Buffer) {
    const salt = header.subarray(HEADER_BYTES - SALT_BYTES, HEADER_BYTES);
    this.#key = Buffer.from(hkdfSync('sha256', locationKey, salt, HKDF_INFO, 32));
    this.#aad = [Buffer.concat([header, Buffer.of(0)]), Buffer.concat([header, Buffer.of(1)])];
  }

  seal(index: number, plaintext: Buffer, final: boolean): Buffer {
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce(index));
    cipher.setAAD(this.#aad[final ? 1 : 0]);
    return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  }

  /** The plaintext, or undefined if the tag does not verify. */
  open(index: number, sealed: Buffer, final: boolean): Buffer | undefined {
    const decipher = createDecipheriv('aes-256-gcm', this.#key, nonce(index));
    decipher.setAAD(this.#aad[final ? 1 : 0]);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    try {
      return Buffer.concat([
        decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch {
      return undefined;
    }
  }
}

/** 4 zero bytes || uint64 BE chunk counter. */
function nonce(index: number): Buffer {
  const bytes = Buffer.alloc(12);
  bytes.writeBigUInt64BE(BigInt(index), 4);
  return bytes;
}

/** Collects input and cuts it into `size`-byte pieces, keeping back the last piece until more input or the end. */
class Pieces {
  #pending: Buffer[] = [];
  #length = 0;
  add(data: Buffer): void {
    this.#pending.push(data);
    this.#length += data.length;
  }
  get length(): number {
    return this.#length;
  }
  /** Every full piece that is certainly not the last one (more bytes follow it). */
  takeAllButLast(size: number): Buffer[] {
    if (this.#length <= size) return [];
    let rest = Buffer.concat(this.#pending, this.#length);
    const pieces: Buffer[] = [];
    while (rest.length > size) {
      pieces.push(rest.subarray(0, size));
      rest = rest.subarray(size);
    }
    this.#pending = [rest];
    this.#length = rest.length;
    return pieces;
  }
  takeAll(): Buffer {
    const all = Buffer.concat(this.#pending, this.#length);
    this.#pending = [];
    this.#length = 0;
    return all;
  }
}

class Encryptor {
  readonly #header: Buffer;
  readonly #cipher: ChunkCipher;
  readonly #chunkSize: number;
  readonly #input = new Pieces();
  #index = 0;
  #headerSent = false;

  constructor(key: Uint8Array, options: EncryptOptions) {
    const locationKey = checkKey(key);
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_CHUNK_SIZE) {
      throw new RangeError(`chunkSize must be an integer from 1 to ${MAX_CHUNK_SIZE}, got ${chunkSize}`);
    }
    const salt = (options.randomBytes ?? cryptoRandomBytes)(SALT_BYTES);
    if (salt.length !== SALT_BYTES)
      throw new RangeError(`randomBytes returned ${salt.length} bytes, not ${SALT_BYTES}`);
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header.writeUInt8(ENCRYPTION_FORMAT_VERSION, 8);
    header.writeUInt8(ALGORITHM_AES_256_GCM, 9);
    header.writeUInt32BE(chunkSize, 10);
    keyIdBytes(locationKey).copy(header, 14);
    salt.copy(header, 22);
    this.#header = header;
    this.#chunkSize = chunkSize;
    this.#cipher = new ChunkCipher(locationKey, header);
  }

  update(data: Buffer, emit: Emit): void {
    this.#input.add(data);
    this.#sendHeader(emit);
    for (const piece of this.#input.takeAllButLast(this.#chunkSize)) {
      emit(this.#cipher.seal(this.#index++, piece, false));
    }
  }

  /** The rest of the input (0 to chunkSize bytes) as the final chunk. */
  final(emit: Emit): void {
    this.#sendHeader(emit);
    emit(this.#cipher.seal(this.#index++, this.#input.takeAll(), true));
  }

  #sendHeader(emit: Emit): void {
    if (this.#headerSent) return;
    this.#headerSent = true;
    emit(this.#header);
  }
}

class Decryptor {
  readonly #key: Buffer;
  readonly #input = new Pieces();
  #cipher: ChunkCipher | undefined;
  #sealedSize = 0;
  #index = 0;

  constructor(key: Uint8Array) {
    this.#key = checkKey(key);
  }

  update(data: Buffer, emit: Emit): void {
    this.#input.add(data);
    const cipher = this.#cipher ?? this.#readHeader();
    if (cipher === undefined) return;
    for (const sealed of this.#input.takeAllButLast(this.#sealedSize))
      emit(this.#open(cipher, sealed, false));
  }

  final(emit: Emit): void {
    const cipher = this.#cipher ?? this.#readHeader();
    if (cipher === undefined) {
      const start = this.#input.takeAll();
      const magicPart = MAGIC.subarray(0, Math.min(start.length, MAGIC.length));
      if (start.length === 0 || !start.subarray(0, magicPart.length).equals(magicPart))
        throw new NotEncryptedError();
      throw new TruncatedObjectError(`the object ends inside its ${HEADER_BYTES}-byte header`);
    }
    const sealed = this.#input.takeAll();
    if (sealed.length === 0) throw new TruncatedObjectError('the object has a header but no chunks');
    if (sealed.length < TAG_BYTES) {
      throw new TamperedObjectError(this.#index, 'shorter than an authentication tag');
    }
    emit(this.#open(cipher, sealed, true));
  }

  /** Parses and checks the header once enough bytes are in; undefined while more are needed. */
  #readHeader(): ChunkCipher | undefined {
    if (this.#input.length < MAGIC.length) return undefined;
    const start = this.#input.takeAll();
    this.#input.add(start);
    if (!start.subarray(0, MAGIC.length).equals(MAGIC)) throw new NotEncryptedError();
    if (start.length < HEADER_BYTES) return undefined;
    const header = Buffer.from(start.subarray(0, HEADER_BYTES));
    const version = header.readUInt8(8);
    if (version !== ENCRYPTION_FORMAT_VERSION) throw new UnsupportedFormatError('version', version);
    const algorithm = header.readUInt8(9);
    if (algorithm !== ALGORITHM_AES_256_GCM) throw new UnsupportedFormatError('algorithm', algorithm);
    const chunkSize = header.readUInt32BE(10);
    if (chunkSize < 1 || chunkSize > MAX_CHUNK_SIZE) throw new UnsupportedFormatError('chunkSize', chunkSize);
    const objectKeyId = header.subarray(14, 22);
    const givenKeyId = keyIdBytes(this.#key);
    if (!objectKeyId.equals(givenKeyId)) {
      throw new WrongKeyError(objectKeyId.toString('hex'), givenKeyId.toString('hex'));
    }
    this.#cipher = new ChunkCipher(this.#key, header);
    this.#sealedSize = chunkSize + TAG_BYTES;
    this.#input.takeAll();
    this.#input.add(start.subarray(HEADER_BYTES));
    return this.#cipher;
  }

  #open(cipher: ChunkCipher, sealed: Buffer, final: boolean): Buffer {
    const index = this.#index++;
    const plaintext = cipher.open(index, sealed, final);
    if (plaintext !== undefined) return plaintext;
    // The stream ended on a full chunk sealed as not-final: chunks were cut off the end.
    if (final && sealed.length === this.#sealedSize && cipher.open(index, sealed, false) !== undefined) {
      throw new TruncatedObjectError(`the object ends after chunk ${index}, which is not its final chunk`);
    }
    throw new TamperedObjectError(index, 'authentication failed: the object was modified or cut short');
  }
}
