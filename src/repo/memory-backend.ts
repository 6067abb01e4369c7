// The reference Backend: files in a Map, copied in and out so callers cannot change what is stored.
import {
  handlePath,
  rangeOf,
  type Backend,
  type FileInfo,
  type FileType,
  type Handle,
  type LoadOptions,
} from './backend.ts';
import type { SignalOptions } from './environment.ts';
import { FileExistsError, FileNotFoundError, ShortFileError } from './errors.ts';

export class MemoryBackend implements Backend {
  readonly description: string;
  readonly #files = new Map<string, Buffer>();

  constructor(options: { description?: string } = {}) {
    this.description = options.description ?? 'memory';
  }

  save(handle: Handle, bytes: Buffer, options?: SignalOptions): Promise<void> {
    return settled(options, () => {
      const path = handlePath(handle);
      if (this.#files.has(path)) throw new FileExistsError(this.description, path);
      this.#files.set(path, Buffer.from(bytes));
    });
  }

  load(handle: Handle, options?: LoadOptions): Promise<Buffer> {
    return settled(options, () => {
      const path = handlePath(handle);
      const file = this.#files.get(path);
      if (!file) throw new FileNotFoundError(this.description, path);
      const range = rangeOf(file.length, options);
      if (!range) {
        const wanted = (options?.offset ?? 0) + (options?.length ?? 0);
        throw new ShortFileError(this.description, path, wanted, file.length);
      }
      return Buffer.from(file.subarray(range.start, range.end));
    });
  }

  stat(handle: Handle, options?: SignalOptions): Promise<FileInfo | undefined> {
    return settled(options, () => {
      const file = this.#files.get(handlePath(handle));
      return file && { name: handle.type === 'config' ? 'config' : handle.name, size: file.length };
    });
  }

  async *list(type: Exclude<FileType, 'config'>, options?: SignalOptions): AsyncGenerator<FileInfo> {
    const prefix = `${type}/`;
    // A copy of the entries, so removing files while listing is safe.
    for (const [path, file] of [...this.#files]) {
      await settled(options, () => {});
      if (path.startsWith(prefix)) yield { name: path.slice(path.lastIndexOf('/') + 1), size: file.length };
    }
  }

  remove(handle: Handle, options?: SignalOptions): Promise<void> {
    return settled(options, () => {
      this.#files.delete(handlePath(handle));
    });
  }
}

/** Runs `fn` unless the signal has aborted, turning a throw into a rejection. */
function settled<T>(options: SignalOptions | undefined, fn: () => T): Promise<T> {
  return new Promise<T>((resolve) => {
    options?.signal?.throwIfAborted();
    resolve(fn());
  });
}
