// Key files (`keys/<id>`): the repository's master key, encrypted with a key derived from a password by
// scrypt, in restic's JSON shape. Every key file holds the same master key, so adding a password is
// adding a key file and changing one (`rotate-key`) is adding the new file and removing the old. Key
// files are the only files stored as plain JSON; the name is the SHA-256 of the file's bytes.
import { scrypt } from 'node:crypto';
import { handlePath, type Backend } from './backend.ts';
import {
  decrypt,
  encrypt,
  keyFromBytes,
  masterKeyFromJson,
  masterKeyToJson,
  type MasterKey,
} from './crypto.ts';
import {
  systemClock,
  systemIdentity,
  systemRandomBytes,
  type Clock,
  type Identity,
  type RandomBytes,
  type SignalOptions,
} from './environment.ts';
import { CurrentKeyError, KeyFileError, MacError, WrongPasswordError } from './errors.ts';
import { isId, sha256 } from './ids.ts';

/** scrypt's cost parameters. */
export interface KdfParams {
  N: number;
  r: number;
  p: number;
}

/**
 * What new key files use. restic calibrates N on the machine at hand (16384 and up, 60 MiB at most);
 * this fixed choice costs 32 MiB and ~0.1 s per open on a current core. Tests pass cheaper ones.
 */
export const DEFAULT_KDF_PARAMS: Readonly<KdfParams> = { N: 32768, r: 8, p: 1 };

/** The most memory a key file may make scrypt use (restic's own calibration stays far below). */
const MAX_KDF_MEMORY = 2 ** 31;
const SALT_BYTES = 64;

/** A key file as stored (restic's field order). */
export interface KeyFileJson {
  created: string;
  username: string;
  hostname: string;
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  /** base64 */
  salt: string;
  /** base64: IV || AES-256-CTR(master key JSON) || MAC under the password's key */
  data: string;
}

/** What a key file says about itself, without the password. */
export interface KeyInfo {
  name: string;
  created: string;
  username: string;
  hostname: string;
  params: KdfParams;
}

export interface NewKeyOptions extends SignalOptions {
  /** Default DEFAULT_KDF_PARAMS. */
  params?: KdfParams | undefined;
  /** Recorded as username and hostname. Default systemIdentity(). */
  identity?: Identity | undefined;
  /** The `created` time. Default the system clock. */
  clock?: Clock | undefined;
  random?: RandomBytes | undefined;
}

/** The 64 bytes scrypt derives from the password, split into a key as restic does. */
export async function deriveKey(
  password: string,
  salt: Buffer,
  params: KdfParams,
  options: SignalOptions = {},
): Promise<MasterKey> {
  const problem = paramsProblem(params);
  if (problem) throw new RangeError(problem);
  options.signal?.throwIfAborted();
  const maxmem = kdfMemory(params) + 2 ** 20;
  const bytes = await new Promise<Buffer>((resolve, reject) =>
    scrypt(password, salt, 64, { N: params.N, r: params.r, p: params.p, maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
  options.signal?.throwIfAborted();
  return keyFromBytes(bytes);
}

/** A new key file holding `master` under `password`: its name and bytes. */
export async function encodeKeyFile(
  master: MasterKey,
  password: string,
  options: NewKeyOptions = {},
): Promise<{ name: string; bytes: Buffer }> {
  const random = options.random ?? systemRandomBytes;
  const params = options.params ?? DEFAULT_KDF_PARAMS;
  const identity = options.identity ?? systemIdentity();
  const salt = random(SALT_BYTES);
  const user = await deriveKey(password, salt, params, options);
  const data = encrypt(user, Buffer.from(JSON.stringify(masterKeyToJson(master))), { random });
  const json: KeyFileJson = {
    created: new Date((options.clock ?? systemClock).now()).toISOString(),
    username: identity.username,
    hostname: identity.hostname,
    kdf: 'scrypt',
    N: params.N,
    r: params.r,
    p: params.p,
    salt: salt.toString('base64'),
    data: data.toString('base64'),
  };
  const bytes = Buffer.from(JSON.stringify(json));
  return { name: sha256(bytes), bytes };
}

/** The master key in a key file, or undefined when the password does not open it. */
export async function decodeKeyFile(
  bytes: Buffer,
  password: string,
  name: string,
  options: SignalOptions = {},
): Promise<MasterKey | undefined> {
  const path = handlePath({ type: 'keys', name });
  const json = parseKeyFile(bytes, path);
  const user = await deriveKey(password, Buffer.from(json.salt, 'base64'), json, options);
  let plaintext: Buffer;
  try {
    plaintext = decrypt(user, Buffer.from(json.data, 'base64'), path);
  } catch (error) {
    if (error instanceof MacError) return undefined;
    throw new KeyFileError(path, 'its data is not a ciphertext', { cause: error });
  }
  try {
    return masterKeyFromJson(JSON.parse(plaintext.toString('utf8')), path);
  } catch (error) {
    throw new KeyFileError(path, 'its data is not a master key', { cause: error });
  }
}

/** Adds a key file for `password` holding `master`; returns its name. */
export async function addKey(
  backend: Backend,
  master: MasterKey,
  password: string,
  options: NewKeyOptions = {},
): Promise<string> {
  const { name, bytes } = await encodeKeyFile(master, password, options);
  await backend.save({ type: 'keys', name }, bytes, options);
  return name;
}

/** The first key file `password` opens (restic tries them in listing order), or WrongPasswordError. */
export async function findKey(
  backend: Backend,
  password: string,
  options: SignalOptions & {
    /**
     * Takes a key the password opens only when this says so (the repository's config opens with it):
     * a key file left by a concurrent init that lost its race holds another master key.
     */
    accept?: ((key: MasterKey) => boolean) | undefined;
  } = {},
): Promise<{ name: string; key: MasterKey }> {
  let tried = 0;
  for await (const { name } of backend.list('keys', options)) {
    if (!isId(name)) continue;
    tried++;
    const bytes = await backend.load({ type: 'keys', name }, options);
    checkName(bytes, name);
    const key = await decodeKeyFile(bytes, password, name, options);
    if (key && (options.accept?.(key) ?? true)) return { name, key };
  }
  throw new WrongPasswordError(backend.description, tried);
}

/** What every key file says about itself. */
export async function listKeys(backend: Backend, options: SignalOptions = {}): Promise<KeyInfo[]> {
  const keys: KeyInfo[] = [];
  for await (const { name } of backend.list('keys', options)) {
    if (!isId(name)) continue;
    const bytes = await backend.load({ type: 'keys', name }, options);
    const json = parseKeyFile(bytes, handlePath({ type: 'keys', name }));
    const { created, username, hostname, N, r, p } = json;
    keys.push({ name, created, username, hostname, params: { N, r, p } });
  }
  return keys.sort((a, b) => a.created.localeCompare(b.created) || a.name.localeCompare(b.name));
}

/** Removes a key file; CurrentKeyError for `current`, the key the caller opened the repository with. */
export async function removeKey(
  backend: Backend,
  name: string,
  options: SignalOptions & { current?: string | undefined } = {},
): Promise<void> {
  if (name === options.current) throw new CurrentKeyError(handlePath({ type: 'keys', name }));
  await backend.remove({ type: 'keys', name }, options);
}

function parseKeyFile(bytes: Buffer, path: string): KeyFileJson {
  let json: Partial<KeyFileJson>;
  try {
    json = JSON.parse(bytes.toString('utf8')) as Partial<KeyFileJson>;
  } catch (error) {
    throw new KeyFileError(path, 'it is not JSON', { cause: error });
  }
  if (typeof json !== 'object' || json === null) throw new KeyFileError(path, 'it is not a JSON object');
  if (json.kdf !== 'scrypt') throw new KeyFileError(path, `kdf ${JSON.stringify(json.kdf)} is not "scrypt"`);
  const params = { N: json.N, r: json.r, p: json.p } as KdfParams;
  const problem = paramsProblem(params);
  if (problem) throw new KeyFileError(path, problem);
  if (typeof json.salt !== 'string' || Buffer.from(json.salt, 'base64').length !== SALT_BYTES)
    throw new KeyFileError(path, `the salt is not ${SALT_BYTES} bytes`);
  if (typeof json.data !== 'string') throw new KeyFileError(path, 'it has no data');
  return {
    created: typeof json.created === 'string' ? json.created : '',
    username: typeof json.username === 'string' ? json.username : '',
    hostname: typeof json.hostname === 'string' ? json.hostname : '',
    kdf: 'scrypt',
    ...params,
    salt: json.salt,
    data: json.data,
  };
}

function paramsProblem({ N, r, p }: KdfParams): string | undefined {
  const positive = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;
  if (!positive(N) || N < 2 || !Number.isInteger(Math.log2(N)))
    return `scrypt N ${N} is not a power of 2 above 1`;
  if (!positive(r) || !positive(p)) return `scrypt r ${r} and p ${p} must be positive integers`;
  if (r * p >= 2 ** 30) return `scrypt r ${r} times p ${p} is too large`;
  const memory = kdfMemory({ N, r, p });
  if (memory > MAX_KDF_MEMORY)
    return `scrypt N ${N}, r ${r}, p ${p} need ${Math.ceil(memory / 2 ** 20)} MiB, more than the 2048 MiB allowed`;
  return undefined;
}

/** The memory scrypt needs for these parameters (OpenSSL's accounting). */
function kdfMemory({ N, r, p }: KdfParams): number {
  return 128 * r * (N + 2 + p);
}

function checkName(bytes: Buffer, name: string): void {
  if (sha256(bytes) !== name)
    throw new KeyFileError(handlePath({ type: 'keys', name }), 'its content does not match its name');
}
