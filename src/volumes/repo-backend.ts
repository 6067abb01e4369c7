// The volume-data repository's storage on a backup location: the repo layer's Backend over an ObjectStore,
// so one repository format works on every driver (filesystem, S3, Azure Blob, GCS). Each namespace's
// repository is under `restic/<namespace>/` of the location (inside its prefix), where Velero keeps its
// restic repositories. The store's own wrappers (retry, read-only) apply underneath.
import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import {
  FileExistsError,
  FileNotFoundError,
  handlePath,
  LongReadError,
  ShortFileError,
  type Backend,
  type FileInfo,
  type FileType,
  type Handle,
  type LoadOptions,
} from '../repo/index.ts';
import {
  ObjectExistsError,
  ObjectNotFoundError,
  RangeNotSatisfiableError,
  withPrefix,
  type ObjectStore,
  type SignalOptions,
} from '../storage/index.ts';

/** The top-level directory of a location that holds the volume-data repositories. */
export const REPOSITORIES_PREFIX = 'restic/';

/** The key prefix of a namespace's repository inside a location. */
export function repositoryPrefix(namespace: string): string {
  return `${REPOSITORIES_PREFIX}${namespace}/`;
}

export class StoreBackend implements Backend {
  readonly description: string;
  readonly #store: ObjectStore;

  /** The repository of `namespace` in `store` (a location's store, its prefix already applied). */
  constructor(store: ObjectStore, namespace: string) {
    this.#store = withPrefix(store, repositoryPrefix(namespace));
    this.description = `${store.description} ${repositoryPrefix(namespace)}`;
  }

  async save(handle: Handle, bytes: Buffer, options?: SignalOptions): Promise<void> {
    const key = handlePath(handle);
    try {
      await this.#store.put(key, bytes, {
        ifAbsent: true,
        contentLength: bytes.length,
        signal: options?.signal,
      });
    } catch (error) {
      if (error instanceof ObjectExistsError)
        throw new FileExistsError(this.description, key, { cause: error });
      throw error;
    }
  }

  async load(handle: Handle, options?: LoadOptions): Promise<Buffer> {
    const key = handlePath(handle);
    const offset = options?.offset ?? 0;
    const length = options?.length;
    if (length === 0) return this.#loadNothing(key, offset, options);
    try {
      const range = offset === 0 && length === undefined ? undefined : { offset, length };
      const body = await this.#store.get(key, { signal: options?.signal, range });
      if (length === undefined) return await buffer(body);
      return await this.#readExactly(body, key, offset, length, options?.into);
    } catch (error) {
      if (error instanceof ObjectNotFoundError)
        throw new FileNotFoundError(this.description, key, { cause: error });
      if (error instanceof RangeNotSatisfiableError)
        throw new ShortFileError(this.description, key, offset + (length ?? 0), error.size, { cause: error });
      throw error;
    }
  }

  /** An empty range: the stores refuse one, so the object's size says whether it lies inside. */
  async #loadNothing(key: string, offset: number, options?: SignalOptions): Promise<Buffer> {
    const info = await this.#store.head(key, options);
    if (!info) throw new FileNotFoundError(this.description, key);
    if (offset > info.size) throw new ShortFileError(this.description, key, offset, info.size);
    return Buffer.alloc(0);
  }

  /**
   * A body of known length, read straight into one buffer that owns its memory (allocUnsafeSlow), so a
   * blob worker takes it without a copy (BlobWorkers.open). stream/consumers' buffer() collects the
   * chunks into a Blob and copies them out again, which cost a restore's main thread about 5%. Into
   * `into` when it is long enough.
   */
  async #readExactly(
    body: Readable,
    key: string,
    offset: number,
    length: number,
    into: Buffer | undefined,
  ): Promise<Buffer> {
    const bytes = into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafeSlow(length);
    let done = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      // Leaving the loop by throwing destroys the body (and frees its connection).
      if (chunk.length > length - done) throw new LongReadError(this.description, key, offset, length);
      bytes.set(chunk, done);
      done += chunk.length;
    }
    if (done < length) throw new ShortFileError(this.description, key, offset + length, offset + done);
    return bytes;
  }

  async stat(handle: Handle, options?: SignalOptions): Promise<FileInfo | undefined> {
    const info = await this.#store.head(handlePath(handle), options);
    return info && { name: handle.type === 'config' ? 'config' : handle.name, size: info.size };
  }

  async *list(type: Exclude<FileType, 'config'>, options?: SignalOptions): AsyncGenerator<FileInfo> {
    for await (const entry of this.#store.list(`${type}/`, { signal: options?.signal })) {
      if (entry.type !== 'object') continue;
      const name = entry.key.slice(entry.key.lastIndexOf('/') + 1);
      // data/ holds data/<2 hex>/<id>; other types have no subdirectories.
      if (type !== 'data' && entry.key !== `${type}/${name}`) continue;
      yield { name, size: entry.size };
    }
  }

  async remove(handle: Handle, options?: SignalOptions): Promise<void> {
    await this.#store.delete(handlePath(handle), options);
  }
}
