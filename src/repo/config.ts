// The repository config (`config`): version, id and the chunker polynomial, encrypted with the master
// key and never compressed (restic reads it before it knows the version).
import { decrypt, encrypt, type MasterKey } from './crypto.ts';
import { systemRandomBytes, type RandomBytes } from './environment.ts';
import { CorruptDataError } from './errors.ts';

/** The repository format version Cairn writes; it reads 1 and 2. */
export const REPO_VERSION = 2;

export interface RepoConfig {
  /** 1 (no compression) or 2. */
  version: 1 | 2;
  /** 64 hex digits: 32 random bytes naming the repository. */
  id: string;
  /** The chunker's irreducible polynomial of degree 53, in hex without `0x` (restic's encoding). */
  chunkerPolynomial: string;
}

export interface NewConfigOptions {
  /** Hex; the caller draws a random irreducible polynomial (the chunker's job). */
  polynomial: string;
  random?: RandomBytes | undefined;
}

export function newConfig(options: NewConfigOptions): RepoConfig {
  const problem = polynomialProblem(options.polynomial);
  if (problem)
    throw new RangeError(`invalid chunker polynomial ${JSON.stringify(options.polynomial)}: ${problem}`);
  const id = (options.random ?? systemRandomBytes)(32).toString('hex');
  return { version: REPO_VERSION, id, chunkerPolynomial: options.polynomial };
}

/** The config file's bytes: IV || AES-256-CTR(JSON) || MAC, uncompressed. */
export function encodeConfig(config: RepoConfig, key: MasterKey, random?: RandomBytes): Buffer {
  const json = { version: config.version, id: config.id, chunker_polynomial: config.chunkerPolynomial };
  return encrypt(key, Buffer.from(JSON.stringify(json)), { random });
}

/** Decrypts and checks a config file. MacError with the wrong key; CorruptDataError for a bad document. */
export function decodeConfig(bytes: Buffer, key: MasterKey): RepoConfig {
  const plaintext = decrypt(key, bytes, 'config');
  let json: { version?: unknown; id?: unknown; chunker_polynomial?: unknown } | null;
  try {
    json = JSON.parse(plaintext.toString('utf8')) as typeof json;
  } catch (error) {
    throw new CorruptDataError('config', 'it is not JSON', { cause: error });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new CorruptDataError('config', 'it is not a JSON object');
  if (json.version !== 1 && json.version !== 2)
    throw new CorruptDataError(
      'config',
      `repository version ${String(json.version)} is not supported (1 and 2 are)`,
    );
  if (typeof json.id !== 'string' || json.id === '') throw new CorruptDataError('config', 'it has no id');
  const polynomial = json.chunker_polynomial;
  const problem = typeof polynomial === 'string' ? polynomialProblem(polynomial) : 'it is not a string';
  if (problem) throw new CorruptDataError('config', `the chunker polynomial is invalid: ${problem}`);
  return { version: json.version, id: json.id, chunkerPolynomial: polynomial as string };
}

/** Shape only (hex, non-zero, fits 64 bits): irreducibility is the chunker's to check. */
function polynomialProblem(hex: string): string | undefined {
  if (!/^[0-9a-f]{1,16}$/.test(hex)) return 'not 1 to 16 lower-case hex digits';
  if (BigInt(`0x${hex}`) === 0n) return 'it is zero';
  return undefined;
}
