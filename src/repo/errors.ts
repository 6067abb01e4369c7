// Typed errors of the repository: one class per condition, each naming the file or blob it is about
// (a repository path such as `data/4f/4f3a…`, made by backend.ts's handlePath, and the backend's
// description; never a password or a key), with the underlying error as `cause`. Messages are
// lower-case sentences.

/** What every repository error is. */
export abstract class RepoError extends Error {
  abstract override readonly name: string;
}

/**
 * A ciphertext failed authentication: the wrong key, or bytes changed since they were written. No
 * plaintext is returned with it.
 */
export class MacError extends RepoError {
  override readonly name = 'MacError';
  /** What was being decrypted: a file path or a blob in a pack. */
  readonly what: string;
  constructor(what: string, options?: { cause?: unknown }) {
    super(`ciphertext verification failed for ${what}: wrong key or corrupted data`, options);
    this.what = what;
  }
}

/** A file or blob is not in the shape the format requires (too short, bad header, bad JSON, ...). */
export class CorruptDataError extends RepoError {
  override readonly name = 'CorruptDataError';
  readonly what: string;
  readonly reason: string;
  constructor(what: string, reason: string, options?: { cause?: unknown }) {
    super(`${what} is corrupt: ${reason}`, options);
    this.what = what;
    this.reason = reason;
  }
}

/** A blob decrypted and decompressed fine, but its SHA-256 is not the id the pack header records. */
export class BlobIdMismatchError extends RepoError {
  override readonly name = 'BlobIdMismatchError';
  readonly pack: string;
  readonly blob: string;
  readonly actual: string;
  constructor(pack: string, blob: string, actual: string) {
    super(`blob ${blob} in pack ${pack} has the content of blob ${actual}`);
    this.pack = pack;
    this.blob = blob;
    this.actual = actual;
  }
}

/** A backend has no file at the path. */
export class FileNotFoundError extends RepoError {
  override readonly name = 'FileNotFoundError';
  readonly backend: string;
  readonly path: string;
  constructor(backend: string, path: string, options?: { cause?: unknown }) {
    super(`file ${path} not found in ${backend}`, options);
    this.backend = backend;
    this.path = path;
  }
}

/** A write-once save of a path that exists; the file is unchanged. */
export class FileExistsError extends RepoError {
  override readonly name = 'FileExistsError';
  readonly backend: string;
  readonly path: string;
  constructor(backend: string, path: string, options?: { cause?: unknown }) {
    super(`file ${path} already exists in ${backend}`, options);
    this.backend = backend;
    this.path = path;
  }
}

/** A handle a backend refuses: an empty name, a `/`, a name that is not a file name. */
export class InvalidHandleError extends RepoError {
  override readonly name = 'InvalidHandleError';
  readonly type: string;
  readonly fileName: string;
  constructor(type: string, fileName: string, reason: string) {
    super(`invalid ${type} file name ${JSON.stringify(fileName)}: ${reason}`);
    this.type = type;
    this.fileName = fileName;
  }
}

/** A range read past the end of a file. */
export class ShortFileError extends RepoError {
  override readonly name = 'ShortFileError';
  readonly backend: string;
  readonly path: string;
  constructor(backend: string, path: string, wanted: number, size: number, options?: { cause?: unknown }) {
    super(
      `file ${path} in ${backend} is ${size} bytes long, shorter than the ${wanted} bytes asked for`,
      options,
    );
    this.backend = backend;
    this.path = path;
  }
}

/**
 * A range read that brought more bytes than asked for: storage that answered with another range than the
 * one requested. Nothing read is returned.
 */
export class LongReadError extends RepoError {
  override readonly name = 'LongReadError';
  readonly backend: string;
  readonly path: string;
  constructor(backend: string, path: string, offset: number, wanted: number) {
    super(
      `reading ${wanted} bytes at offset ${offset} of file ${path} in ${backend} brought more bytes than that`,
    );
    this.backend = backend;
    this.path = path;
  }
}

/** No key file of the repository opens with the password. */
export class WrongPasswordError extends RepoError {
  override readonly name = 'WrongPasswordError';
  readonly repo: string;
  readonly keysTried: number;
  constructor(repo: string, keysTried: number) {
    super(`no key in ${repo} opens with this password (${keysTried} key files tried)`);
    this.repo = repo;
    this.keysTried = keysTried;
  }
}

/** A key file that is not a valid key file (bad JSON, an unknown KDF, out-of-range parameters). */
export class KeyFileError extends RepoError {
  override readonly name = 'KeyFileError';
  readonly path: string;
  readonly reason: string;
  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super(`key file ${path} is invalid: ${reason}`, options);
    this.path = path;
    this.reason = reason;
  }
}

/** The repository's config is missing, unreadable or of a version this code does not know. */
export class ConfigError extends RepoError {
  override readonly name = 'ConfigError';
  readonly repo: string;
  readonly reason: string;
  constructor(repo: string, reason: string, options?: { cause?: unknown }) {
    super(`repository ${repo}: ${reason}`, options);
    this.repo = repo;
    this.reason = reason;
  }
}

/** A blob the index does not list. */
export class BlobNotFoundError extends RepoError {
  override readonly name = 'BlobNotFoundError';
  readonly repo: string;
  readonly type: string;
  readonly id: string;
  constructor(repo: string, type: string, id: string, indexFiles: number) {
    super(`${type} blob ${id} is not in the index of ${repo} (${indexFiles} index files loaded)`);
    this.repo = repo;
    this.type = type;
    this.id = id;
  }
}

/** An index file the backend lists could not be loaded or decoded. */
export class IndexFileError extends RepoError {
  override readonly name = 'IndexFileError';
  readonly repo: string;
  readonly path: string;
  constructor(repo: string, path: string, options: { cause: unknown }) {
    super(`cannot load index file ${path} of ${repo}: ${messageOf(options.cause)}`, options);
    this.repo = repo;
    this.path = path;
  }
}

/** A packer used after it failed or was finished. */
export class PackerBrokenError extends RepoError {
  override readonly name = 'PackerBrokenError';
  constructor(options?: { cause?: unknown }) {
    super('the packer cannot be used after an error or after it was finished', options);
  }
}

/** A background pack or index upload failed; the repository refuses further writes. */
export class RepositoryFailedError extends RepoError {
  override readonly name = 'RepositoryFailedError';
  readonly repo: string;
  constructor(repo: string, options: { cause: unknown }) {
    super(`writing to ${repo} failed earlier: ${messageOf(options.cause)}`, options);
    this.repo = repo;
  }
}

/** What a lock file says, as errors report it. */
export interface LockOwner {
  exclusive: boolean;
  hostname: string;
  username: string;
  pid: number;
  time: string;
}

/** Another process holds a lock that conflicts with the one asked for. */
export class LockConflictError extends RepoError {
  override readonly name = 'LockConflictError';
  readonly repo: string;
  readonly path: string;
  readonly owner: LockOwner;
  constructor(repo: string, path: string, owner: LockOwner) {
    super(
      `${repo} is already locked${owner.exclusive ? ' exclusively' : ''} by pid ${owner.pid} on ` +
        `${owner.hostname} (user ${owner.username}, since ${owner.time}, lock file ${path})`,
    );
    this.repo = repo;
    this.path = path;
    this.owner = owner;
  }
}

/** Removing the key file that opened the repository. */
export class CurrentKeyError extends RepoError {
  override readonly name = 'CurrentKeyError';
  readonly path: string;
  constructor(path: string) {
    super(`refusing to remove key file ${path}: the repository was opened with it`);
    this.path = path;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
