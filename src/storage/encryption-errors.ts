// Typed errors of object encryption (docs/formats/encryption.md). No message ever contains a key: keys are
// named by their key id only.

/** The common parent: any reason an object could not be encrypted or decrypted. */
export class EncryptionError extends Error {}

/** A location key that is not 32 bytes. */
export class InvalidKeyError extends EncryptionError {
  override readonly name = 'InvalidKeyError';
  readonly length: number | undefined;
  constructor(length: number | undefined) {
    super(
      `location key must be 32 bytes, got ${length === undefined ? 'a non-byte value' : `${length} bytes`}`,
    );
    this.length = length;
  }
}

/** The object was encrypted with another location key. */
export class WrongKeyError extends EncryptionError {
  override readonly name = 'WrongKeyError';
  readonly objectKeyId: string;
  readonly givenKeyId: string;
  constructor(objectKeyId: string, givenKeyId: string) {
    super(`object is encrypted with key ${objectKeyId}, not with the given key ${givenKeyId}`);
    this.objectKeyId = objectKeyId;
    this.givenKeyId = givenKeyId;
  }
}

/** The object does not start with the CAIRNENC magic: it is plaintext (a Velero object, say). */
export class NotEncryptedError extends EncryptionError {
  override readonly name = 'NotEncryptedError';
  constructor() {
    super('object is not encrypted: it does not start with the CAIRNENC header');
  }
}

/** A chunk failed authentication: the object was modified (or cut inside a chunk). */
export class TamperedObjectError extends EncryptionError {
  override readonly name = 'TamperedObjectError';
  readonly chunk: number;
  readonly reason: string;
  constructor(chunk: number, reason: string) {
    super(`encrypted object chunk ${chunk} is not authentic: ${reason}`);
    this.chunk = chunk;
    this.reason = reason;
  }
}

/** The object ended before its final chunk (or inside its header). */
export class TruncatedObjectError extends EncryptionError {
  override readonly name = 'TruncatedObjectError';
  readonly reason: string;
  constructor(reason: string) {
    super(`encrypted object is truncated: ${reason}`);
    this.reason = reason;
  }
}

/** The header names a format version, algorithm or chunk size this reader does not support. */
export class UnsupportedFormatError extends EncryptionError {
  override readonly name = 'UnsupportedFormatError';
  readonly field: 'version' | 'algorithm' | 'chunkSize';
  readonly value: number;
  constructor(field: 'version' | 'algorithm' | 'chunkSize', value: number) {
    super(`unsupported encrypted object ${field} ${value}`);
    this.field = field;
    this.value = value;
  }
}
