// Storage ids and blob ids: the SHA-256 of a file's bytes or of a blob's plaintext, written as 64
// lower-case hex digits.
import { createHash, webcrypto } from 'node:crypto';

/** The SHA-256 of `bytes`, in hex. */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * sha256(), on the thread pool (WebCrypto's digest) for inputs past 64 KiB: a restore verifies every blob
 * it reads, and a large blob's hash then runs beside the main thread's work. Smaller inputs are hashed
 * here (a thread-pool job costs more than hashing them).
 */
export async function sha256Async(bytes: Uint8Array): Promise<string> {
  if (bytes.length <= 64 * 1024) return sha256(bytes);
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', bytes)).toString('hex');
}

/** Whether `name` is an id: 64 lower-case hex digits. */
export function isId(name: string): boolean {
  return name.length === 64 && /^[0-9a-f]{64}$/.test(name);
}
