// A location's keyring (docs/formats/encryption.md, "Keyrings"): the current key, which encrypts new
// backups, and the retired keys, which only read the backups written with them. Its text is what a
// standalone key file and the server's key Secret hold and what `cairn location key-export` prints: one
// base64 key per line, the current key first; `#` lines are comments. A file of one key (every key file
// written before rotation) is a ring of one, and a ring of one is written as exactly that file.
import { generateLocationKey, keyId, LOCATION_KEY_BYTES } from './encryption.ts';

/** 32 bytes in base64: 43 characters and an optional `=`. */
const BASE64_KEY = /^[A-Za-z0-9+/_-]{43}=?$/;

/** The keyring text is not a list of 32-byte base64 keys; names where it came from and the line. */
export class KeyringFormatError extends Error {
  override readonly name = 'KeyringFormatError';
  readonly source: string;
  constructor(source: string, problem: string) {
    super(`${source} is not a location keyring: ${problem}`);
    this.source = source;
  }
}

export class LocationKeyring {
  /** Encrypts what is written from now on. */
  readonly current: Buffer;
  /** Read only: the keys older backups are encrypted with, newest first. */
  readonly retired: readonly Buffer[];

  constructor(current: Buffer, retired: readonly Buffer[] = []) {
    this.current = current;
    this.retired = retired;
  }

  get currentId(): string {
    return keyId(this.current);
  }

  get retiredIds(): string[] {
    return this.retired.map((key) => keyId(key));
  }

  /** The key whose id is `id`, current or retired; undefined when the ring does not hold it. */
  byId(id: string): Buffer | undefined {
    return [this.current, ...this.retired].find((key) => keyId(key) === id);
  }

  /** A ring with a new random current key; the current key becomes the newest retired one. */
  rotated(next: Buffer = generateLocationKey()): LocationKeyring {
    return new LocationKeyring(next, [this.current, ...this.retired]);
  }

  /** The ring without its retired keys: backups written with them can no longer be read. */
  withoutRetired(): LocationKeyring {
    return new LocationKeyring(this.current);
  }
}

/**
 * Parses a key file's or key Secret's text. `source` names it in errors ("the key file /x/nas.key"); a
 * key never appears in a message.
 */
export function parseKeyring(text: string, source: string): LocationKeyring {
  const keys: Buffer[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    // Buffer.from skips what is not base64, so the shape is checked first (base64url as the old reader took).
    const key = BASE64_KEY.test(line) ? Buffer.from(line, 'base64') : undefined;
    if (key?.length !== LOCATION_KEY_BYTES)
      throw new KeyringFormatError(source, `line ${index + 1} is not a 32-byte key in base64`);
    if (keys.some((k) => k.equals(key)))
      throw new KeyringFormatError(source, `line ${index + 1} repeats key ${keyId(key)}`);
    keys.push(key);
  }
  const [current, ...retired] = keys;
  if (!current) throw new KeyringFormatError(source, 'it holds no key');
  return new LocationKeyring(current, retired);
}

/** The ring's text: the current key's line, then (if any) a comment and the retired keys' lines. */
export function formatKeyring(ring: LocationKeyring): string {
  const lines = [ring.current.toString('base64')];
  if (ring.retired.length > 0) {
    lines.push(
      `# retired keys, newest first: they only read the backups written with them (${ring.retiredIds.join(', ')})`,
      ...ring.retired.map((key) => key.toString('base64')),
    );
  }
  return lines.join('\n') + '\n';
}
