// The in-memory reference store: the simplest correct implementation of the contract, which the
// conformance suite runs first and the other drivers must match. Useful in tests of the layers above.
import { Readable, addAbortSignal } from 'node:stream';
import { ObjectExistsError, ObjectNotFoundError } from './errors.ts';
import {
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

export interface MemoryStoreOptions {
  /** Shown in messages as `memory://<name>`. Default: `memory`. */
  name?: string | undefined;
  /** The clock for lastModified. Default: the system clock. */
  now?: (() => Date) | undefined;
}

/** A real store never answers in the same turn of the event loop; neither does the reference. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Stored {
  data: Buffer;
  lastModified: Date;
}

export class MemoryStore implements ObjectStore {
  readonly description: string;
  readonly #objects = new Map<string, Stored>();
  readonly #now: () => Date;

  constructor(options: MemoryStoreOptions = {}) {
    this.description = `memory://${options.name ?? 'memory'}`;
    this.#now = options.now ?? (() => new Date());
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<void> {
    checkKey(this.description, key);
    options.signal?.throwIfAborted();
    let data: Buffer;
    if (Buffer.isBuffer(body)) {
      checkBufferLength(this.description, key, body, options.contentLength);
      data = Buffer.from(body);
    } else {
      const chunks: Buffer[] = [];
      const checked = checkLength(this.description, key, body, options.contentLength);
      if (options.signal) addAbortSignal(options.signal, checked);
      try {
        for await (const chunk of checked) {
          chunks.push(Buffer.from(chunk as Uint8Array));
          options.onProgress?.();
        }
      } catch (error) {
        options.signal?.throwIfAborted();
        throw error;
      }
      data = Buffer.concat(chunks);
    }
    options.signal?.throwIfAborted();
    // The check and the write happen in one turn of the event loop: atomic.
    if (options.ifAbsent && this.#objects.has(key)) throw new ObjectExistsError(this.description, key);
    this.#objects.set(key, { data, lastModified: this.#now() });
    if (Buffer.isBuffer(body)) options.onProgress?.();
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    checkKey(this.description, key);
    const { range } = options;
    checkRange(range);
    await tick();
    options.signal?.throwIfAborted();
    const stored = this.#objects.get(key);
    if (!stored) throw new ObjectNotFoundError(this.description, key);
    if (range === undefined) return Readable.from([stored.data], { objectMode: false });
    checkRangeFits(this.description, key, range, stored.data.length);
    const bytes = stored.data.subarray(range.offset, rangeEnd(range, stored.data.length));
    return Readable.from([bytes], { objectMode: false });
  }

  async head(key: string, options: SignalOptions = {}): Promise<ObjectInfo | undefined> {
    checkKey(this.description, key);
    await tick();
    options.signal?.throwIfAborted();
    const stored = this.#objects.get(key);
    return stored && { key, size: stored.data.length, lastModified: stored.lastModified };
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncGenerator<ListEntry> {
    checkPrefix(this.description, prefix);
    options.signal?.throwIfAborted();
    const keys = [...this.#objects.keys()].filter((k) => k.startsWith(prefix)).sort(compareKeys);
    const objects = keys.flatMap((key): ListEntry[] => {
      const stored = this.#objects.get(key);
      return stored
        ? [{ type: 'object', key, size: stored.data.length, lastModified: stored.lastModified }]
        : [];
    });
    for await (const entry of rollUp(objects, prefix, options.delimiter)) {
      options.signal?.throwIfAborted();
      yield entry;
    }
  }

  async delete(key: string, options: SignalOptions = {}): Promise<void> {
    checkKey(this.description, key);
    await tick();
    options.signal?.throwIfAborted();
    this.#objects.delete(key);
  }
}
