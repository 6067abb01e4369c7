// The backup store: one location's backups on top of an object store, written once and committed last
// (docs/design/backup-store.md). Claim the name → write each data file (encrypted with the location's
// key unless the location is plaintext) → verify each against its SHA-256 → write the checksum manifest →
// write velero-backup.json. Nothing is ever rewritten; a backup without velero-backup.json is incomplete.
// An encrypted location records its key id at its first backup (metadata/cairn-location.json), and each key
// it rotates to at that key's first backup (metadata/keys/<keyId>.json), and refuses a writer holding a key
// it has not seen: a rotated key is accepted because its keyring holds a key the location knows. Each
// backup is read with the key its velero-backup.json names, current or retired.
import { createHash } from 'node:crypto';
import { PassThrough, Transform, pipeline, type Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { fromStoredBackup, toStoredBackup, type Backup } from '../api/index.ts';
import { decryptStream, encryptBuffer, encryptStream, keyId } from './encryption.ts';
import { TamperedObjectError, TruncatedObjectError } from './encryption-errors.ts';
import { ObjectExistsError, ObjectNotFoundError } from './errors.ts';
import {
  BACKUP_DATA_FILES,
  BACKUPS_PREFIX,
  backupKeys,
  backupNameOfPrefix,
  LOCATION_METADATA_KEY,
  fileNameOfKey,
  LOCATION_KEYS_PREFIX,
  locationKeyRecordKey,
  type BackupDataFile,
} from './layout.ts';
import type { ObjectStore, SignalOptions } from './object-store.ts';

export const ENCRYPTION_ALGORITHM = 'AES-256-GCM';

/** Backups whose metadata listBackups reads at once. */
const LIST_CONCURRENCY = 16;

export interface BackupStoreOptions {
  /** The location's name, for messages and results. */
  location: string;
  store: ObjectStore;
  /** The location's current 32-byte key, which encrypts; absent for a plaintext (Velero-compatible) location. */
  key?: Buffer | undefined;
  /** Keys the location was rotated away from (the keyring's retired keys): they only read backups. */
  retiredKeys?: readonly Buffer[] | undefined;
  /** Where the key is kept, for the message that says how to put the right one there: "the key file …". */
  keySource?: string | undefined;
}

/** The location's record (metadata/cairn-location.json, docs/formats/location.md). */
export interface LocationMetadata {
  kind: 'CairnLocation';
  version: 1;
  encryption: { algorithm: string; keyId: string };
}

/**
 * The record of a key the location was rotated to (metadata/keys/<keyId>.json, docs/formats/location.md),
 * written once, by the key's first backup; `follows` is the id of the known key its keyring retired.
 */
export interface LocationKeyRecord {
  kind: 'CairnLocationKey';
  version: 1;
  encryption: { algorithm: string; keyId: string };
  follows: string;
}

export interface StoredFile {
  file: BackupDataFile;
  key: string;
  /** SHA-256 (hex) of the stored bytes (after encryption, when encrypted). */
  sha256: string;
  size: number;
}

export interface ChecksumManifest {
  backup: string;
  algorithm: 'sha256';
  encryption?: { algorithm: string; keyId: string };
  files: Record<string, { sha256: string; size: number }>;
}

export type BackupEntry =
  | { name: string; complete: true; backup: Backup; verification?: VerificationRecord }
  | { name: string; complete: false; claim?: BackupClaim };

/** What listBackups and getEntry read besides the metadata. */
export interface EntryOptions extends SignalOptions {
  /** Also read each committed backup's last verification (one more request per backup). */
  verification?: boolean;
}

export interface BackupClaim {
  name: string;
  startedAt: string;
  /** Who writes the backup: "cairn v0.1.0". */
  client: string;
  /** The writer's host and process, to tell which one left an orphaned backup. */
  host?: string;
  pid?: number;
  /** The backup's uid (the Backup resource's, or a random one in standalone mode): which run holds the name. */
  uid?: string;
  /** Refreshed while the backup runs (src/backup/claims.ts): a stale one means the writer is gone. */
  heartbeatAt?: string;
}

/** The name is taken in this location: a backup (or an unfinished one) of that name exists. */
export class BackupExistsError extends Error {
  override readonly name = 'BackupExistsError';
  readonly location: string;
  readonly backup: string;
  constructor(location: string, backup: string, options?: { cause?: unknown }) {
    super(
      `a backup named "${backup}" already exists in location "${location}" ` +
        `(\`cairn backup get ${backup}\` shows it; \`cairn backup delete ${backup}\` clears the name, its files with it)`,
      options,
    );
    this.location = location;
    this.backup = backup;
  }
}

/**
 * The claim a writer holds is gone from the location, or another writer's: the backup was deleted while it
 * ran (as orphaned, because its writer was paused), and perhaps the name claimed again. The writer must
 * write nothing more under the name there.
 */
export class ClaimLostError extends Error {
  override readonly name = 'ClaimLostError';
  readonly location: string;
  readonly backup: string;
  constructor(location: string, backup: string) {
    super(
      `the claim on backup "${backup}" in location "${location}" was removed or taken over while the ` +
        'backup ran (was it deleted as orphaned?)',
    );
    this.location = location;
    this.backup = backup;
  }
}

/** A small record of the location's (pretty JSON, as a user reads it in a bucket browser). */
function jsonBytes(value: object): Buffer {
  return Buffer.from(JSON.stringify(value, null, 2) + '\n');
}

/**
 * The newest key of the chain of rotations from `first`: the key no record follows. When two rotations
 * forked from one key (two machines rotated apart), the later-listed tip.
 */
function newestKeyId(first: string, records: readonly LocationKeyRecord[]): string {
  const followed = new Set(records.map((r) => r.follows));
  const ids = [first, ...records.map((r) => r.encryption.keyId)];
  return ids.filter((id) => !followed.has(id)).at(-1) ?? first;
}

/** Whether two claims are the same writer's run of a backup (the heartbeat apart). */
function sameRun(a: BackupClaim, b: BackupClaim): boolean {
  return (
    a.name === b.name &&
    a.startedAt === b.startedAt &&
    a.client === b.client &&
    a.host === b.host &&
    a.pid === b.pid &&
    a.uid === b.uid
  );
}

export class BackupNotFoundError extends Error {
  override readonly name = 'BackupNotFoundError';
  readonly location: string;
  readonly backup: string;
  constructor(location: string, backup: string) {
    super(`no backup named "${backup}" in location "${location}"`);
    this.location = location;
    this.backup = backup;
  }
}

/** A stored file's bytes do not hash to what was written: the store lost or changed them. */
export class ChecksumMismatchError extends Error {
  override readonly name = 'ChecksumMismatchError';
  readonly location: string;
  readonly key: string;
  readonly expected: { sha256: string; size: number };
  readonly actual: { sha256: string; size: number };
  constructor(
    location: string,
    key: string,
    expected: { sha256: string; size: number },
    actual: { sha256: string; size: number },
  ) {
    super(
      `${key} in location "${location}" is corrupt: ` +
        (actual.size !== expected.size
          ? `${actual.size} bytes are stored, but ${expected.size} were written (truncated or damaged)`
          : `its SHA-256 is ${actual.sha256}, but ${expected.sha256} was written`),
    );
    this.location = location;
    this.key = key;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * A metadata file of the location (velero-backup.json) is not in its format: not JSON, or not the object
 * it must be. Whoever wrote it (a damaged store, a foreign tool), the backup cannot be read from it.
 */
export class CorruptMetadataError extends Error {
  override readonly name = 'CorruptMetadataError';
  readonly location: string;
  readonly key: string;
  readonly reason: string;
  constructor(location: string, key: string, reason: string, options?: { cause?: unknown }) {
    super(`${key} in location "${location}" is corrupt: ${reason}`, options);
    this.location = location;
    this.key = key;
    this.reason = reason;
  }
}

/** A stored file is damaged or cut short: decryption found it so (the error is its cause). */
/** A file the backup's checksum manifest lists is not in the location: it was written, and is gone. */
export class MissingFileError extends Error {
  override readonly name = 'MissingFileError';
  readonly location: string;
  readonly key: string;
  constructor(location: string, key: string) {
    super(
      `${key} in location "${location}" is missing: the backup's checksum manifest lists it, so it was written`,
    );
    this.location = location;
    this.key = key;
  }
}

export class UnreadableFileError extends Error {
  override readonly name = 'UnreadableFileError';
  readonly location: string;
  readonly key: string;
  constructor(location: string, key: string, cause: unknown) {
    super(
      `${key} in location "${location}" cannot be read: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.location = location;
    this.key = key;
  }
}

/** The checksum manifest a backup's status names is missing or is not the one written. */
export class ChecksumManifestError extends Error {
  override readonly name = 'ChecksumManifestError';
  readonly location: string;
  readonly key: string;
  readonly problem: string;
  constructor(location: string, key: string, problem: string) {
    super(`the checksum manifest ${key} in location "${location}" ${problem}`);
    this.location = location;
    this.key = key;
    this.problem = problem;
  }
}

/** The backup has no checksum manifest (Velero wrote it, or an older Cairn): it cannot be verified. */
export class NoChecksumsError extends Error {
  override readonly name = 'NoChecksumsError';
  readonly location: string;
  readonly backup: string;
  constructor(location: string, backup: string) {
    super(
      `backup "${backup}" in location "${location}" has no checksum manifest (it was not written by Cairn): ` +
        'its files cannot be checked',
    );
    this.location = location;
    this.backup = backup;
  }
}

/** The outcome of checking every stored file of a backup against its checksum manifest. */
export interface VerificationRecord {
  /** When the check ran (RFC 3339). */
  verifiedAt: string;
  /** What was checked: `checksums`, every stored file against the manifest. */
  method: 'checksums';
  outcome: 'Passed' | 'Failed';
  /** The files the manifest lists. */
  files: number;
  /** One line per problem (a missing file, a wrong size or checksum, a damaged manifest). */
  problems: string[];
}

/** The backup is encrypted and this location has no key (or the file cannot be read without one). */
export class MissingKeyError extends Error {
  override readonly name = 'MissingKeyError';
  readonly location: string;
  readonly backup: string;
  readonly keyId: string;
  constructor(location: string, backup: string, keyId: string) {
    super(
      `backup "${backup}" in location "${location}" is encrypted with key ${keyId}, and the location has no key`,
    );
    this.location = location;
    this.backup = backup;
    this.keyId = keyId;
  }
}

/**
 * The location (or one of its backups) is encrypted with another key than the one given, or with a key
 * this machine does not have. Names both key ids (never a key) and where the right key must go.
 */
export class LocationKeyMismatchError extends Error {
  override readonly name = 'LocationKeyMismatchError';
  readonly location: string;
  readonly expectedKeyId: string;
  readonly givenKeyId: string | undefined;
  readonly backup: string | undefined;
  constructor(details: {
    location: string;
    expectedKeyId: string;
    givenKeyId?: string | undefined;
    keySource?: string | undefined;
    backup?: string | undefined;
  }) {
    const { location, expectedKeyId, givenKeyId, keySource, backup } = details;
    const what =
      backup === undefined ? `location "${location}"` : `backup "${backup}" in location "${location}"`;
    const given =
      givenKeyId === undefined
        ? `there is no key for it${keySource ? ` in ${keySource}` : ''}`
        : `the key given is ${givenKeyId}${keySource ? ` (${keySource})` : ''}`;
    super(
      `${what} is encrypted with key ${expectedKeyId}, but ${given}. ` +
        `To fix: run \`cairn location key-export ${location}\` on the machine that has key ${expectedKeyId}, ` +
        `and put its output in ${keySource ?? "this location's key"}`,
    );
    this.location = location;
    this.expectedKeyId = expectedKeyId;
    this.givenKeyId = givenKeyId;
    this.backup = backup;
  }
}

/** Hashes and counts the bytes that flow through it. */
function digestStream(): { stream: Transform; result: () => { sha256: string; size: number } } {
  const hash = createHash('sha256');
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  return { stream, result: () => ({ sha256: hash.digest('hex'), size }) };
}

/** Passes bytes through and fails at their end, before the consumer sees it, when they are not `expected`. */
function checkingStream(
  expected: { sha256: string; size: number },
  mismatch: (actual: { sha256: string; size: number }) => Error,
): Transform {
  const hash = createHash('sha256');
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
    flush(done) {
      const actual = { sha256: hash.digest('hex'), size };
      done(actual.sha256 === expected.sha256 && actual.size === expected.size ? null : mismatch(actual));
    },
  });
}

/** The SHA-256 and size of a stored object, read to its end. */
async function digestOf(stream: Readable): Promise<{ sha256: string; size: number }> {
  const digest = digestStream();
  await new Promise<void>((resolve, reject) => {
    pipeline(stream, digest.stream, (error) => (error ? reject(error) : resolve()));
    digest.stream.resume();
  });
  return digest.result();
}

export class BackupStore {
  readonly location: string;
  readonly store: ObjectStore;
  readonly #key: Buffer | undefined;
  readonly #retiredKeys: readonly Buffer[];
  readonly #keySource: string | undefined;

  constructor(options: BackupStoreOptions) {
    this.location = options.location;
    this.store = options.store;
    this.#key = options.key;
    this.#retiredKeys = options.key ? (options.retiredKeys ?? []) : [];
    this.#keySource = options.keySource;
  }

  /** The key of this id among the current and retired keys, if this store holds it. */
  #keyOf(id: string): Buffer | undefined {
    return [...(this.#key ? [this.#key] : []), ...this.#retiredKeys].find((key) => keyId(key) === id);
  }

  /** How this location encrypts, for the backup's status; undefined for a plaintext location. */
  get encryption(): { algorithm: string; keyId: string } | undefined {
    return this.#key ? { algorithm: ENCRYPTION_ALGORITHM, keyId: keyId(this.#key) } : undefined;
  }

  /**
   * The id of the key the location's backups are encrypted with: the newest key it was rotated to, else
   * its record's, else (a location written before records, or never by an encrypted writer) the first
   * encrypted backup's; undefined when it holds no encrypted backup.
   */
  async expectedKeyId(options: SignalOptions = {}): Promise<string | undefined> {
    const first = (await this.#metadata(options))?.encryption.keyId;
    if (first === undefined) return this.#keyIdOfBackups(options);
    return newestKeyId(first, await this.#keyRecords(options));
  }

  /** The ids of every key the location has seen: its record's and those it was rotated to. */
  async knownKeyIds(options: SignalOptions = {}): Promise<string[]> {
    const first = (await this.#metadata(options))?.encryption.keyId;
    if (first === undefined) return [];
    return [first, ...(await this.#keyRecords(options)).map((r) => r.encryption.keyId)];
  }

  /**
   * How many committed backups each key id encrypts (read from their velero-backup.json): what dropping a
   * retired key would leave unreadable. Plaintext backups are not counted.
   */
  async backupsPerKeyId(options: SignalOptions = {}): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for await (const entry of this.listBackups(options)) {
      const id = entry.complete ? entry.backup.status?.encryption?.keyId : undefined;
      if (id !== undefined) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return counts;
  }

  /** The records of metadata/keys/; one that is not ours (not JSON, no key id) is no record. */
  async #keyRecords(options: SignalOptions): Promise<LocationKeyRecord[]> {
    const records: LocationKeyRecord[] = [];
    for await (const entry of this.store.list(LOCATION_KEYS_PREFIX, options)) {
      if (entry.type !== 'object') continue;
      const record = await this.#readJson<Partial<LocationKeyRecord>>(entry.key, options);
      if (typeof record?.encryption?.keyId === 'string' && typeof record.follows === 'string')
        records.push(record as LocationKeyRecord);
    }
    return records;
  }

  async #keyIdOfBackups(options: SignalOptions): Promise<string | undefined> {
    let found: string | undefined;
    for await (const entry of this.listBackups(options)) {
      const id = entry.complete ? entry.backup.status?.encryption?.keyId : undefined;
      if (id === undefined) continue;
      // A location that already holds backups under several keys takes one given, if it is one of them.
      if (this.#keyOf(id)) return id;
      found ??= id;
    }
    return found;
  }

  async #metadata(options: SignalOptions): Promise<LocationMetadata | undefined> {
    try {
      const bytes = await buffer(await this.store.get(LOCATION_METADATA_KEY, options));
      const parsed = JSON.parse(bytes.toString('utf8')) as Partial<LocationMetadata> | null;
      // A record that is not ours (not an object, no key id) is no record, as one that is not JSON.
      return typeof parsed?.encryption?.keyId === 'string' ? (parsed as LocationMetadata) : undefined;
    } catch (error) {
      if (error instanceof ObjectNotFoundError || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  /**
   * Before the first write of a backup: refuses a key the location has not seen (LocationKeyMismatchError),
   * and records the key when the location has none recorded yet (write-once: of two first writers, the
   * second reads the first one's record). A key whose keyring retired a key the location knows (a rotated
   * key) is recorded under metadata/keys/ and accepted from then on.
   */
  async #holdKey(options: SignalOptions): Promise<void> {
    if (!this.#key) return;
    const given = keyId(this.#key);
    let first = (await this.#metadata(options))?.encryption.keyId;
    if (first === undefined) {
      // A location written before records: its backups say which key it has.
      const expected = await this.#keyIdOfBackups(options);
      if (expected !== undefined && !this.#keyOf(expected)) throw this.#mismatch(expected);
      first = await this.#writeRecord(expected ?? given, options);
    }
    if (first === given) return;
    const records = await this.#keyRecords(options);
    const known = [first, ...records.map((r) => r.encryption.keyId)];
    if (known.includes(given)) return;
    const follows = this.#retiredKeys.map((key) => keyId(key)).find((id) => known.includes(id));
    if (follows === undefined) throw this.#mismatch(newestKeyId(first, records));
    const record: LocationKeyRecord = {
      kind: 'CairnLocationKey',
      version: 1,
      encryption: { algorithm: ENCRYPTION_ALGORITHM, keyId: given },
      follows,
    };
    try {
      await this.store.put(locationKeyRecordKey(given), jsonBytes(record), { ...options, ifAbsent: true });
    } catch (error) {
      // Another writer with the same key recorded it first: the same key id, so the same answer.
      if (!(error instanceof ObjectExistsError)) throw error;
    }
  }

  /** Writes the location record naming `id` unless one exists; the recorded key id either way. */
  async #writeRecord(id: string, options: SignalOptions): Promise<string> {
    const metadata: LocationMetadata = {
      kind: 'CairnLocation',
      version: 1,
      encryption: { algorithm: ENCRYPTION_ALGORITHM, keyId: id },
    };
    try {
      await this.store.put(LOCATION_METADATA_KEY, jsonBytes(metadata), { ...options, ifAbsent: true });
      return id;
    } catch (error) {
      if (!(error instanceof ObjectExistsError)) throw error;
      return (await this.#metadata(options))?.encryption.keyId ?? id;
    }
  }

  #mismatch(expectedKeyId: string, backup?: string): LocationKeyMismatchError {
    return new LocationKeyMismatchError({
      location: this.location,
      expectedKeyId,
      givenKeyId: this.#key ? keyId(this.#key) : undefined,
      keySource: this.#keySource,
      backup,
    });
  }

  /**
   * Claims the name (write-once). Throws BackupExistsError when any backup of that name is there, and
   * LocationKeyMismatchError when the location's backups are encrypted with another key; nothing is
   * written then.
   */
  async claim(claim: BackupClaim, options: SignalOptions = {}): Promise<void> {
    await this.#holdKey(options);
    const keys = backupKeys(claim.name);
    // A Velero backup has no claim: its metadata alone says the name is taken.
    if (await this.store.head(keys.metadata, options)) throw new BackupExistsError(this.location, claim.name);
    try {
      await this.store.put(keys.claim, Buffer.from(JSON.stringify(claim)), { ...options, ifAbsent: true });
    } catch (error) {
      if (error instanceof ObjectExistsError)
        throw new BackupExistsError(this.location, claim.name, { cause: error });
      throw error;
    }
  }

  /**
   * Rewrites this writer's claim with a newer heartbeat (the claim is the one file rewritten while running),
   * only while the stored claim is still this writer's: ClaimLostError when it is gone or another's, so a
   * heartbeat never brings back a deleted backup. (The stores have no compare-and-swap: a delete that lands
   * between the read and the write is not seen; the check before the commit narrows that further.)
   */
  async refreshClaim(claim: BackupClaim, options: SignalOptions = {}): Promise<void> {
    await this.checkClaim(claim, options);
    await this.store.put(backupKeys(claim.name).claim, Buffer.from(JSON.stringify(claim)), options);
  }

  /** Throws ClaimLostError unless the stored claim is `claim`'s writer's (its heartbeat may differ). */
  async checkClaim(claim: BackupClaim, options: SignalOptions = {}): Promise<void> {
    const stored = await this.#readClaim(claim.name, options);
    if (!stored || !sameRun(stored, claim)) throw new ClaimLostError(this.location, claim.name);
  }

  /** The stored claim; undefined when there is none or it is not JSON (a torn write by a foreign tool). */
  async #readClaim(name: string, options: SignalOptions): Promise<BackupClaim | undefined> {
    return this.#readJson<BackupClaim>(backupKeys(name).claim, options);
  }

  /** A small JSON object of ours; undefined when it is absent, not JSON, or not an object. */
  async #readJson<T extends object>(key: string, options: SignalOptions): Promise<T | undefined> {
    try {
      const value = JSON.parse(
        (await buffer(await this.store.get(key, options))).toString('utf8'),
      ) as unknown;
      return isRecord(value) ? (value as T) : undefined;
    } catch (error) {
      if (error instanceof ObjectNotFoundError || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  /** Gives a claim back (when another location refused the name, before anything else was written). */
  async releaseClaim(name: string, options: SignalOptions = {}): Promise<void> {
    await this.store.delete(backupKeys(name).claim, options);
  }

  /** Stores one data file of a backup, encrypted unless the location is plaintext; returns its checksum. */
  async writeFile(
    name: string,
    file: BackupDataFile,
    body: Readable | Buffer,
    options: SignalOptions & { retainUntil?: Date | undefined } = {},
  ): Promise<StoredFile> {
    const key = backupKeys(name)[file];
    if (Buffer.isBuffer(body)) {
      // Stored as a Buffer, not a stream: the store's retry (withRetry) tries a Buffer again after a
      // timeout or a 5xx, and a stream only once. Small files (logs, results, lists) come so.
      const stored = this.#key ? encryptBuffer(this.#key, body) : body;
      await this.store.put(key, stored, { ...options, ifAbsent: true });
      return { file, key, sha256: createHash('sha256').update(stored).digest('hex'), size: stored.length };
    }
    const digest = digestStream();
    const stages: NodeJS.ReadWriteStream[] = this.#key ? [encryptStream(this.#key)] : [];
    const out = new PassThrough();
    pipeline([body, ...stages, digest.stream, out], () => {
      // Errors reach `out`, which put() reads: the put fails and stores nothing.
    });
    await this.store.put(key, out, { ...options, ifAbsent: true });
    return { file, key, ...digest.result() };
  }

  /** Reads a stored file back and checks its SHA-256. */
  async verify(file: StoredFile, options: SignalOptions = {}): Promise<void> {
    const actual = await digestOf(await this.store.get(file.key, options));
    if (actual.sha256 !== file.sha256 || actual.size !== file.size) {
      throw new ChecksumMismatchError(this.location, file.key, file, actual);
    }
  }

  /**
   * The committed backup's checksum manifest, checked against the SHA-256 its status records; undefined
   * for a backup that has none (written by Velero). Throws ChecksumManifestError when it is missing or
   * not the one written.
   */
  async readManifest(backup: Backup, options: SignalOptions = {}): Promise<ChecksumManifest | undefined> {
    const key = backupKeys(backup.metadata.name).checksums;
    const recorded = backup.status?.checksums;
    let bytes: Buffer;
    try {
      bytes = await buffer(await this.store.get(key, options));
    } catch (error) {
      if (!(error instanceof ObjectNotFoundError)) throw error;
      if (recorded) throw new ChecksumManifestError(this.location, key, 'is missing');
      return undefined;
    }
    if (recorded && createHash('sha256').update(bytes).digest('hex') !== recorded)
      throw new ChecksumManifestError(this.location, key, 'is not the one written (its SHA-256 differs)');
    let manifest: unknown;
    try {
      manifest = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new ChecksumManifestError(this.location, key, 'is not valid JSON');
    }
    const problem = manifestProblem(manifest);
    if (problem)
      throw new ChecksumManifestError(this.location, key, `is not a checksum manifest: ${problem}`);
    return manifest as ChecksumManifest;
  }

  /**
   * Checks every file the backup's checksum manifest lists against its SHA-256 and size, reading the stored
   * bytes (no key is needed: the checksums are of what is stored). Problems are data, not thrown; a
   * backup without a manifest throws NoChecksumsError, a missing backup BackupNotFoundError.
   */
  async verifyChecksums(
    name: string,
    options: SignalOptions & { now: () => Date },
  ): Promise<VerificationRecord> {
    const backup = await this.getBackup(name, options);
    if (!backup) throw new BackupNotFoundError(this.location, name);
    const record = (problems: string[], files: number): VerificationRecord => ({
      verifiedAt: options.now().toISOString(),
      method: 'checksums',
      outcome: problems.length === 0 ? 'Passed' : 'Failed',
      files,
      problems,
    });
    let manifest: ChecksumManifest | undefined;
    try {
      manifest = await this.readManifest(backup, options);
    } catch (error) {
      if (error instanceof ChecksumManifestError) return record([error.message], 0);
      throw error;
    }
    if (!manifest) throw new NoChecksumsError(this.location, name);
    const dir = backupKeys(name).dir;
    const problems: string[] = [];
    const files = Object.entries(manifest.files);
    for (const [file, expected] of files) {
      const key = `${dir}${file}`;
      try {
        const actual = await digestOf(await this.store.get(key, options));
        if (actual.sha256 !== expected.sha256 || actual.size !== expected.size)
          problems.push(new ChecksumMismatchError(this.location, key, expected, actual).message);
      } catch (error) {
        if (!(error instanceof ObjectNotFoundError)) throw error;
        problems.push(`${key} in location "${this.location}" is missing`);
      }
    }
    return record(problems, files.length);
  }

  /** Records the outcome of a verification beside the backup (rewritten by each verification). */
  async recordVerification(
    name: string,
    record: VerificationRecord,
    options: SignalOptions = {},
  ): Promise<void> {
    await this.store.put(
      backupKeys(name).verification,
      Buffer.from(JSON.stringify(record, null, 2) + '\n'),
      options,
    );
  }

  /** The last verification's outcome, or undefined when the backup was never verified here. */
  async getVerification(name: string, options: SignalOptions = {}): Promise<VerificationRecord | undefined> {
    return this.#readJson<VerificationRecord>(backupKeys(name).verification, options);
  }

  /**
   * Commits a backup: the checksum manifest, then velero-backup.json (in Velero's shape), both write-once. The backup's
   * `status.checksums` should carry the manifest's SHA-256 (see manifestOf), chaining every file.
   */
  async commit(
    backup: Backup,
    manifest: ChecksumManifest,
    options: SignalOptions & { retainUntil?: Date | undefined } = {},
  ): Promise<void> {
    const keys = backupKeys(backup.metadata.name);
    await this.store.put(keys.checksums, manifestBytes(manifest), { ...options, ifAbsent: true });
    const metadata = Buffer.from(JSON.stringify(toStoredBackup(backup)));
    await this.store.put(keys.metadata, metadata, { ...options, ifAbsent: true });
  }

  /** The committed backup's metadata (selectors as text, whoever wrote it), or undefined when there is none. */
  async getBackup(name: string, options: SignalOptions = {}): Promise<Backup | undefined> {
    const key = backupKeys(name).metadata;
    let bytes: Buffer;
    try {
      bytes = await buffer(await this.store.get(key, options));
    } catch (error) {
      if (error instanceof ObjectNotFoundError) return undefined;
      throw error;
    }
    let stored: unknown;
    try {
      stored = JSON.parse(bytes.toString('utf8'));
    } catch (error) {
      throw new CorruptMetadataError(this.location, key, 'it is not JSON', { cause: error });
    }
    const problem = storedBackupProblem(stored);
    if (problem) throw new CorruptMetadataError(this.location, key, problem);
    return fromStoredBackup(stored);
  }

  /** Every backup in the location, complete or not, by name. */
  async *listBackups(options: EntryOptions = {}): AsyncGenerator<BackupEntry> {
    // Names come from one delimited listing; each backup's metadata is then read in batches of
    // LIST_CONCURRENCY at once (one request each: sequential reads are slow on remote stores).
    let batch: string[] = [];
    for await (const entry of this.store.list(BACKUPS_PREFIX, { ...options, delimiter: '/' })) {
      if (entry.type !== 'prefix') continue;
      const name = backupNameOfPrefix(entry.prefix);
      if (name === undefined) continue;
      batch.push(name);
      if (batch.length === LIST_CONCURRENCY) {
        yield* await this.#entries(batch, options);
        batch = [];
      }
    }
    yield* await this.#entries(batch, options);
  }

  async #entries(names: string[], options: EntryOptions): Promise<BackupEntry[]> {
    const entries = await Promise.all(names.map((name) => this.getEntry(name, options)));
    return entries.filter((entry) => entry !== undefined);
  }

  /**
   * One backup's catalog entry: its metadata when committed; otherwise incomplete, with its claim when
   * there is one (a Velero-style directory may hold stray files only); undefined when nothing is there.
   */
  async getEntry(name: string, options: EntryOptions = {}): Promise<BackupEntry | undefined> {
    const [backup, verification] = await Promise.all([
      this.getBackup(name, options),
      options.verification ? this.getVerification(name, options) : undefined,
    ]);
    if (backup) return { name, complete: true, backup, ...(verification ? { verification } : {}) };
    const keys = backupKeys(name);
    const claim = await this.#readClaim(name, options);
    if (claim) return { name, complete: false, claim };
    for await (const entry of this.store.list(keys.dir, options))
      if (entry.type === 'object') return { name, complete: false };
    return undefined;
  }

  /**
   * A data file's plaintext bytes (decrypted when the backup is encrypted), checked against the checksum
   * manifest as they are read: a file that is not the one written fails at its end (ChecksumMismatchError)
   * before the reader sees the end, so a consumer that writes it out can tell a whole file from a corrupt
   * one. A backup without a manifest (written by Velero) is read unchecked.
   */
  async openFile(name: string, file: BackupDataFile, options: SignalOptions = {}): Promise<Readable> {
    const backup = await this.getBackup(name, options);
    if (!backup) throw new BackupNotFoundError(this.location, name);
    const encryption = backup.status?.encryption;
    // Refused before the object is opened, so no stream is left open behind the error.
    if (encryption && !this.#key) throw new MissingKeyError(this.location, name, encryption.keyId);
    // The key the backup names, current or retired: backups written before a rotation stay readable.
    const readKey = encryption ? this.#keyOf(encryption.keyId) : undefined;
    if (encryption && !readKey) throw this.#mismatch(encryption.keyId, name);
    const key = backupKeys(name)[file];
    const expected = (await this.readManifest(backup, options))?.files[fileNameOfKey(key)];
    let stream: Readable;
    try {
      stream = await this.store.get(key, options);
    } catch (error) {
      // Written (the manifest lists it) and gone: damage, not a file the backup never had.
      if (expected && error instanceof ObjectNotFoundError) throw new MissingFileError(this.location, key);
      throw error;
    }
    const stages: NodeJS.ReadWriteStream[] = [];
    if (expected)
      stages.push(
        checkingStream(expected, (actual) => new ChecksumMismatchError(this.location, key, expected, actual)),
      );
    if (readKey) stages.push(decryptStream(readKey));
    const last = stages.at(-1);
    if (!last) return stream;
    const out = new PassThrough();
    // Checksum and decryption errors (tampering, truncation) reach whoever reads `out`, naming the file.
    pipeline([stream, ...stages], (error) => {
      if (error)
        out.destroy(
          error instanceof TamperedObjectError || error instanceof TruncatedObjectError
            ? new UnreadableFileError(this.location, key, error)
            : error,
        );
    });
    last.pipe(out);
    out.on('close', () => {
      if (!out.readableEnded) stream.destroy(); // the reader stopped early
    });
    return out;
  }

  /** Deletes a backup: its metadata first (it stops being listed), then every other file. */
  /**
   * Aborts the incomplete uploads of a backup's files: a writer killed mid-upload leaves an S3 multipart
   * upload, invisible to listings but kept (and billed) until aborted. Asked file by file, because MinIO
   * lists uploads only by their exact key.
   */
  async abortUploads(name: string, options: SignalOptions = {}): Promise<number> {
    const abort = this.store.abortIncompleteUploads;
    if (!abort) return 0;
    const keys = backupKeys(name);
    let aborted = 0;
    for (const file of BACKUP_DATA_FILES) aborted += await abort.call(this.store, keys[file], options);
    return aborted;
  }

  async deleteBackup(
    name: string,
    options: SignalOptions = {},
  ): Promise<{ deleted: number; uploadsAborted: number }> {
    const keys = backupKeys(name);
    const present: string[] = [];
    for await (const entry of this.store.list(keys.dir, options))
      if (entry.type === 'object') present.push(entry.key);
    const aborted = await this.abortUploads(name, options);
    if (present.length === 0 && aborted === 0) throw new BackupNotFoundError(this.location, name);
    if (present.includes(keys.metadata)) await this.store.delete(keys.metadata, options);
    for (const key of present) if (key !== keys.metadata) await this.store.delete(key, options);
    return { deleted: present.length, uploadsAborted: aborted };
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Why a velero-backup.json's JSON cannot be a Backup (the fields every reader relies on), or undefined. */
function storedBackupProblem(stored: unknown): string | undefined {
  if (!isRecord(stored)) return 'it is not a JSON object';
  if (!isRecord(stored['metadata']) || typeof stored['metadata']['name'] !== 'string')
    return 'it has no metadata.name';
  for (const field of ['spec', 'status'])
    if (stored[field] !== undefined && stored[field] !== null && !isRecord(stored[field]))
      return `its ${field} is not an object`;
  const encryption = (stored['status'] as Record<string, unknown> | null | undefined)?.['encryption'];
  if (
    encryption !== undefined &&
    encryption !== null &&
    (!isRecord(encryption) || typeof encryption['keyId'] !== 'string')
  )
    return 'its status.encryption has no keyId';
  return undefined;
}

/** Why a checksum manifest's JSON is not one (every file with a SHA-256 and a size), or undefined. */
function manifestProblem(manifest: unknown): string | undefined {
  if (!isRecord(manifest) || !isRecord(manifest['files'])) return 'it has no files object';
  for (const [file, sum] of Object.entries(manifest['files']))
    if (!isRecord(sum) || typeof sum['sha256'] !== 'string' || !Number.isSafeInteger(sum['size']))
      return `file ${JSON.stringify(file)} has no sha256 and size`;
  return undefined;
}

/** The manifest's stored bytes: stable JSON, so its SHA-256 can go into the backup's status. */
export function manifestBytes(manifest: ChecksumManifest): Buffer {
  return Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
}

/** The checksum manifest of a backup's stored files, and its own SHA-256. */
export function manifestOf(
  backup: string,
  files: StoredFile[],
  encryption: { algorithm: string; keyId: string } | undefined,
): { manifest: ChecksumManifest; sha256: string } {
  const manifest: ChecksumManifest = {
    backup,
    algorithm: 'sha256',
    ...(encryption ? { encryption } : {}),
    files: Object.fromEntries(files.map((f) => [fileNameOfKey(f.key), { sha256: f.sha256, size: f.size }])),
  };
  return { manifest, sha256: createHash('sha256').update(manifestBytes(manifest)).digest('hex') };
}
