// restic's authenticated encryption (docs/formats/repository.md, "Encryption"): every file and every
// blob is IV(16) || AES-256-CTR(plaintext) || MAC(16), where the MAC is Poly1305-AES over the
// ciphertext alone: Poly1305 with the key's `r` and s = AES-128-ECB(k, IV). The MAC is checked before
// anything is decrypted, so unauthenticated plaintext is never returned.
//
// Node's crypto has no raw Poly1305 (only inside ChaCha20-Poly1305, with a derived key), so the MAC
// comes from libsodium (sodium-native's crypto_onetimeauth, a native binding): about 1.8 GiB/s, where
// the pure-JS @noble/ciphers it replaced ran at 150-280 MiB/s and took half of a backup's CPU
// (docs/formats/repository.md, "Throughput").
import { createCipheriv, createDecipheriv, timingSafeEqual } from 'node:crypto';
import sodium from 'sodium-native';
import { systemRandomBytes, type RandomBytes } from './environment.ts';
import { CorruptDataError, MacError } from './errors.ts';

export const IV_BYTES = 16;
export const MAC_BYTES = 16;
/** How many bytes encryption adds: the IV and the MAC. */
export const CIPHERTEXT_OVERHEAD = IV_BYTES + MAC_BYTES;

/** A repository's master key, or a key derived from a password: AES-256 key and Poly1305-AES keys. */
export interface MasterKey {
  /** 32 bytes: the AES-256-CTR key. */
  encrypt: Buffer;
  mac: {
    /** 16 bytes: the AES-128 key that turns the IV into Poly1305's `s`. */
    k: Buffer;
    /** 16 bytes: Poly1305's `r` (clamped when used, stored unclamped as restic does). */
    r: Buffer;
  };
}

/** The master key as restic stores it in a key file's encrypted `data`: base64 fields. */
/** A master key as a worker thread receives it: structured cloning makes its Buffers Uint8Arrays. */
export interface ClonedMasterKey {
  encrypt: Uint8Array;
  mac: { k: Uint8Array; r: Uint8Array };
}

/** The master key a worker thread was given, as Buffers again. */
export function masterKeyFromClone(key: ClonedMasterKey): MasterKey {
  return { encrypt: Buffer.from(key.encrypt), mac: { k: Buffer.from(key.mac.k), r: Buffer.from(key.mac.r) } };
}

export interface MasterKeyJson {
  mac: { k: string; r: string };
  encrypt: string;
}

export interface EncryptOptions {
  /** Source of the IV. Default node:crypto's randomBytes. */
  random?: RandomBytes | undefined;
}

/** A new random master key. */
export function generateMasterKey(random: RandomBytes = systemRandomBytes): MasterKey {
  const key = { encrypt: random(32), mac: { k: random(16), r: random(16) } };
  if (!validKey(key)) throw new RangeError('the random source returned an all-zero key');
  return key;
}

/** The 64 bytes scrypt derives from a password, split as restic does: encrypt(32) || k(16) || r(16). */
export function keyFromBytes(bytes: Buffer): MasterKey {
  if (bytes.length !== 64) throw new RangeError(`a key is made of 64 bytes, not ${bytes.length}`);
  return {
    encrypt: Buffer.from(bytes.subarray(0, 32)),
    mac: { k: Buffer.from(bytes.subarray(32, 48)), r: Buffer.from(bytes.subarray(48, 64)) },
  };
}

export function masterKeyToJson(key: MasterKey): MasterKeyJson {
  return {
    mac: { k: key.mac.k.toString('base64'), r: key.mac.r.toString('base64') },
    encrypt: key.encrypt.toString('base64'),
  };
}

/** Parses the JSON of a master key; `what` names where it came from for the error. */
export function masterKeyFromJson(value: unknown, what: string): MasterKey {
  const json = value as Partial<MasterKeyJson> | null;
  const field = (v: unknown, bytes: number, name: string): Buffer => {
    const buffer = typeof v === 'string' ? Buffer.from(v, 'base64') : undefined;
    if (buffer?.length !== bytes)
      throw new CorruptDataError(what, `master key field ${name} is not ${bytes} bytes`);
    return buffer;
  };
  if (typeof json !== 'object' || json === null)
    throw new CorruptDataError(what, 'the master key is not an object');
  const key = {
    encrypt: field(json.encrypt, 32, 'encrypt'),
    mac: { k: field(json.mac?.k, 16, 'mac.k'), r: field(json.mac?.r, 16, 'mac.r') },
  };
  if (!validKey(key)) throw new CorruptDataError(what, 'the master key is all zeros');
  return key;
}

/** IV || AES-256-CTR(plaintext) || MAC, with a fresh random IV. */
export function encrypt(key: MasterKey, plaintext: Uint8Array, options: EncryptOptions = {}): Buffer {
  const iv = (options.random ?? systemRandomBytes)(IV_BYTES);
  if (iv.length !== IV_BYTES || iv.every((b) => b === 0))
    throw new RangeError('the random source returned a bad IV');
  const out = Buffer.allocUnsafe(plaintext.length + CIPHERTEXT_OVERHEAD);
  iv.copy(out, 0);
  const cipher = createCipheriv('aes-256-ctr', key.encrypt, iv);
  let at = IV_BYTES;
  at += cipher.update(plaintext).copy(out, at);
  at += cipher.final().copy(out, at);
  const ciphertext = out.subarray(IV_BYTES, at);
  mac(key, iv, ciphertext).copy(out, at);
  return out;
}

/**
 * Verifies and decrypts IV || ciphertext || MAC. `what` names the file or blob for errors:
 * MacError when verification fails, CorruptDataError when the input is too short or has a zero IV.
 */
export function decrypt(key: MasterKey, data: Uint8Array, what: string): Buffer {
  if (data.length < CIPHERTEXT_OVERHEAD)
    throw new CorruptDataError(what, `${data.length} bytes is too short for a ciphertext`);
  const iv = data.subarray(0, IV_BYTES);
  if (iv.every((b) => b === 0)) throw new CorruptDataError(what, 'the IV is all zeros');
  const ciphertext = data.subarray(IV_BYTES, data.length - MAC_BYTES);
  const expected = mac(key, iv, ciphertext);
  if (!timingSafeEqual(expected, data.subarray(data.length - MAC_BYTES))) throw new MacError(what);
  const decipher = createDecipheriv('aes-256-ctr', key.encrypt, iv);
  const head = decipher.update(ciphertext);
  const tail = decipher.final();
  return tail.length === 0 ? head : Buffer.concat([head, tail]);
}

/** Poly1305-AES: Poly1305 keyed with r || AES-128-ECB(k, nonce). */
function mac(key: MasterKey, nonce: Uint8Array, message: Uint8Array): Buffer {
  const ecb = createCipheriv('aes-128-ecb', key.mac.k, null).setAutoPadding(false);
  const s = ecb.update(nonce);
  // libsodium clamps r itself, as Poly1305-AES and restic do.
  const oneTimeKey = Buffer.concat([key.mac.r, s]);
  const tag = Buffer.allocUnsafe(MAC_BYTES);
  sodium.crypto_onetimeauth(tag, message, oneTimeKey);
  return tag;
}

function validKey(key: MasterKey): boolean {
  const nonZero = (b: Buffer) => b.some((x) => x !== 0);
  return nonZero(key.encrypt) && nonZero(key.mac.k) && nonZero(key.mac.r);
}
