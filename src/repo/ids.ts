// Storage ids and blob ids: the SHA-256 of a file's bytes or of a blob's plaintext, written as 64
// lower-case hex digits.
import { createHash } from 'node:crypto';

/** The SHA-256 of `bytes`, in hex. */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Whether `name` is an id: 64 lower-case hex digits. */
export function isId(name: string): boolean {
  return name.length === 64 && /^[0-9a-f]{64}$/.test(name);
}
