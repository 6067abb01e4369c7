// A store in a local directory: key `a/b/c` is the file `<root>/a/b/c`. Writes go to a temporary file
// under `<root>/.tmp/`, are flushed to disk, then renamed into place (or hard-linked, for ifAbsent, which
// fails atomically when the target exists), so readers never see half a file. `.tmp` is never listed.
// Objects are private to the user that writes them (files 0600, the directories it makes 0700): a backup
// archive or a restore record can hold Secrets (plaintext locations, restore logs).
import { randomUUID } from 'node:crypto';
import { link, lstat, mkdir, open, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import {
  InvalidKeyError,
  ObjectExistsError,
  ObjectNotFoundError,
  ObjectStoreError,
  StoreAccessDeniedError,
  StoreUnavailableError,
  messageOf,
} from './errors.ts';
import {
  bufferPieces,
  checkBufferLength,
  checkKey,
  checkLength,
  checkPrefix,
  checkRange,
  checkRangeFits,
  compareKeys,
  rangeEnd,
  rollUp,
  type GetOptions,
  type ListEntry,
  type ListOptions,
  type ObjectInfo,
  type ObjectStore,
  type PutBody,
  type PutOptions,
  type SignalOptions,
} from './object-store.ts';

export interface FilesystemStoreOptions {
  /** The directory holding the objects; created on the first put. */
  root: string;
}

const tmpDir = '.tmp';
/** The modes of the files and directories the store makes (before the umask, which can only narrow them). */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/**
 * Writes `chunks` to the new file `path` (failing if it exists), flushed to disk, telling `onProgress`
 * after each write. By hand rather than writeFile or a write stream: neither tells when bytes are written.
 */
async function writeNew(
  path: string,
  chunks: Iterable<Buffer> | AsyncIterable<Buffer>,
  signal: AbortSignal | undefined,
  onProgress: (() => void) | undefined,
): Promise<void> {
  const handle = await open(path, 'wx', FILE_MODE);
  try {
    for await (const chunk of chunks) {
      signal?.throwIfAborted();
      for (let at = 0; at < chunk.length;) at += (await handle.write(chunk, at)).bytesWritten;
      onProgress?.();
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

export class FilesystemStore implements ObjectStore {
  readonly description: string;
  readonly root: string;

  constructor(options: FilesystemStoreOptions) {
    this.root = resolve(options.root);
    this.description = pathToFileURL(this.root).href;
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<void> {
    const target = this.#path(key);
    const { signal } = options;
    signal?.throwIfAborted();
    const tmp = join(this.root, tmpDir, randomUUID());
    try {
      await mkdir(dirname(tmp), { recursive: true, mode: DIR_MODE });
      if (Buffer.isBuffer(body)) {
        checkBufferLength(this.description, key, body, options.contentLength);
        await writeNew(tmp, bufferPieces(body, 1024 * 1024), signal, options.onProgress);
      } else {
        const checked = checkLength(this.description, key, body, options.contentLength);
        if (signal) addAbortSignal(signal, checked); // a stalled body ends with the call
        await writeNew(tmp, checked, signal, options.onProgress);
      }
      signal?.throwIfAborted();
      await this.#commit(key, tmp, target, options.ifAbsent ?? false);
    } catch (error) {
      await rm(tmp, { force: true });
      signal?.throwIfAborted();
      throw this.#mapError(error, key, 'write');
    }
  }

  /** Moves the finished temporary file to `target`; only a link (never a rename) can refuse to overwrite. */
  async #commit(key: string, tmp: string, target: string, ifAbsent: boolean): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await mkdir(dirname(target), { recursive: true, mode: DIR_MODE });
        if (ifAbsent) {
          await link(tmp, target);
          await rm(tmp, { force: true });
        } else {
          await rename(tmp, target);
        }
        return;
      } catch (error) {
        const code = codeOf(error);
        // A concurrent delete pruned the parent directory just after we made it: make it again.
        if (code === 'ENOENT' && attempt < 5) continue;
        if (code === 'EEXIST' && ifAbsent) {
          const existing = await lstat(target).catch(() => undefined);
          if (existing?.isFile()) throw new ObjectExistsError(this.description, key, { cause: error });
        }
        if (code === 'EEXIST' || code === 'EISDIR' || code === 'ENOTEMPTY')
          throw new InvalidKeyError(this.description, key, 'other objects are stored under it as a prefix', {
            cause: error,
          });
        if (code === 'ENOTDIR')
          throw new InvalidKeyError(this.description, key, 'one of its parent paths is an object', {
            cause: error,
          });
        throw error;
      }
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    const path = this.#path(key);
    const { range } = options;
    checkRange(range);
    options.signal?.throwIfAborted();
    let handle, size;
    try {
      handle = await open(path, 'r');
      const info = await handle.stat();
      if (!info.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
      // The opened file's size: the check and the bytes read are of the same object.
      size = info.size;
      if (range) checkRangeFits(this.description, key, range, size);
    } catch (error) {
      await handle?.close();
      throw this.#mapError(error, key);
    }
    // `end` is inclusive.
    const stream = handle.createReadStream(range && { start: range.offset, end: rangeEnd(range, size) - 1 });
    if (options.signal) addAbortSignal(options.signal, stream);
    return stream;
  }

  async head(key: string, options: SignalOptions = {}): Promise<ObjectInfo | undefined> {
    const path = this.#path(key);
    options.signal?.throwIfAborted();
    try {
      const info = await stat(path);
      return info.isFile() ? { key, size: info.size, lastModified: info.mtime } : undefined;
    } catch (error) {
      if (this.#isMissing(error)) return undefined;
      throw this.#mapError(error, key);
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncGenerator<ListEntry> {
    checkPrefix(this.description, prefix);
    const slash = prefix.lastIndexOf('/');
    const dir = prefix.slice(0, slash + 1);
    const namePrefix = prefix.slice(slash + 1);
    try {
      if (options.delimiter === '/') yield* this.#walk(dir, namePrefix, true, options.signal);
      else yield* rollUp(this.#walk(dir, namePrefix, false, options.signal), prefix, options.delimiter);
    } catch (error) {
      options.signal?.throwIfAborted();
      throw this.#mapError(error, undefined);
    }
  }

  /**
   * Yields the objects under the key directory `dir` (`''` or ending in `/`) whose names start with
   * `namePrefix`, in key order. A directory sorts as its name plus `/`, which is where its keys sort.
   * With `shallow`, a directory holding at least one object is one `prefix` entry instead.
   */
  async *#walk(
    dir: string,
    namePrefix: string,
    shallow: boolean,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<ListEntry> {
    signal?.throwIfAborted();
    let entries;
    try {
      entries = await readdir(join(this.root, dir), { withFileTypes: true });
    } catch (error) {
      if (this.#isMissing(error)) return;
      throw error;
    }
    const named = entries
      .filter((e) => e.name.startsWith(namePrefix) && (e.isFile() || e.isDirectory()))
      .filter((e) => !(dir === '' && e.name === tmpDir))
      .map((e) => ({ name: e.isDirectory() ? `${e.name}/` : e.name, isDirectory: e.isDirectory() }))
      .sort((a, b) => compareKeys(a.name, b.name));
    for (const entry of named) {
      signal?.throwIfAborted();
      const key = dir + entry.name;
      if (!entry.isDirectory) {
        const info = await stat(join(this.root, key)).catch((error: unknown) => {
          if (this.#isMissing(error)) return undefined; // deleted since readdir
          throw error;
        });
        if (info?.isFile()) yield { type: 'object', key, size: info.size, lastModified: info.mtime };
      } else if (!shallow) {
        yield* this.#walk(key, '', false, signal);
      } else if (!(await this.#walk(key, '', false, signal).next()).done) {
        yield { type: 'prefix', prefix: key };
      }
    }
  }

  async delete(key: string, options: SignalOptions = {}): Promise<void> {
    const path = this.#path(key);
    options.signal?.throwIfAborted();
    try {
      await unlink(path);
    } catch (error) {
      // EISDIR/EPERM: a directory of other keys, so no object under this key.
      if (this.#isMissing(error) || codeOf(error) === 'EISDIR' || codeOf(error) === 'EPERM') return;
      throw this.#mapError(error, key);
    }
    // Prune the directories the delete left empty, so listings show no empty prefixes.
    for (
      let dir = dirname(path);
      dir.length > this.root.length && dir.startsWith(this.root);
      dir = dirname(dir)
    ) {
      const removed = await rmdir(dir).then(
        () => true,
        () => false,
      );
      if (!removed) break;
    }
  }

  #path(key: string): string {
    checkKey(this.description, key);
    if (key === tmpDir || key.startsWith(`${tmpDir}/`))
      throw new InvalidKeyError(this.description, key, `"${tmpDir}/" is reserved for temporary files`);
    return join(this.root, ...key.split('/'));
  }

  #isMissing(error: unknown): boolean {
    return codeOf(error) === 'ENOENT' || codeOf(error) === 'ENOTDIR';
  }

  #mapError(error: unknown, key: string | undefined, operation: 'read' | 'write' = 'read'): unknown {
    if (error instanceof ObjectStoreError || (error instanceof Error && error.name === 'AbortError'))
      return error;
    const code = codeOf(error);
    if (key !== undefined && operation === 'read' && this.#isMissing(error))
      return new ObjectNotFoundError(this.description, key, { cause: error });
    if (key !== undefined && code === 'ENAMETOOLONG')
      return new InvalidKeyError(this.description, key, 'a path segment is too long for the filesystem', {
        cause: error,
      });
    if (code === 'EACCES' || code === 'EPERM')
      return new StoreAccessDeniedError(this.description, key, messageOf(error), { cause: error });
    // Said in words: "ENOSPC" alone does not tell a user what to do about it.
    if (code === 'ENOSPC' || code === 'EDQUOT')
      return new StoreUnavailableError(this.description, `out of space (${messageOf(error)})`, false, key, {
        cause: error,
      });
    if (code !== undefined && code.startsWith('E'))
      return new StoreUnavailableError(this.description, messageOf(error), false, key, { cause: error });
    return error;
  }
}
