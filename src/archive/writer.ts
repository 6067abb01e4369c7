// ArchiveWriter: streams a backup archive (Velero format 1.1.0, docs/formats/archive.md) as .tar.gz
// bytes, one item at a time. Memory holds one item's JSON, the tar and gzip buffers, and the set of
// paths written so far (to refuse duplicates) — never the archive.
import { Transform, pipeline } from 'node:stream';
import type { Readable, TransformCallback } from 'node:stream';
import {
  ArchiveItemTooLargeError,
  ArchiveWriterClosedError,
  DuplicateArchiveItemError,
  InvalidArchiveItemError,
} from './errors.ts';
import { ARCHIVE_FORMAT_VERSION, DEFAULT_MAX_ITEM_BYTES, VERSION_PATH } from './layout.ts';
import { parallelGzip } from './parallel-gzip.ts';
import { ENTRY_MODE, TarBuilder, itemPaths, worstCaseEntryBytes, type ItemPlace } from './tar-builder.ts';
import { END_OF_TAR, tarFileEntry } from './tar-entry.ts';

export interface ArchiveWriterOptions {
  /** The clock for tar header modification times. */
  now: () => Date;
  /** Aborting destroys the stream; pending and later `addItem` calls reject with the abort reason. */
  signal?: AbortSignal;
  /** Refuse items whose JSON is bigger than this. Default 32 MiB, the reader's default limit. */
  maxItemBytes?: number;
  /**
   * Refuse an item whose path was already written (default true). The check keeps every path in memory;
   * a caller that guarantees unique items itself (the backup engine does) can turn it off.
   */
  checkDuplicates?: boolean;
  /** gzip level, 0-9. Default 6 (the level Velero's Go writer uses). */
  gzipLevel?: number;
}

export interface ArchiveItemInput {
  /** `GroupResource.String()`: `pods`, `deployments.apps`, `customresourcedefinitions.apiextensions.k8s.io`. */
  groupResource: string;
  /** Omit for cluster-scoped items. */
  namespace?: string;
  name: string;
  /** The API version the object was read in, e.g. `v1`. */
  version: string;
  /** The group's preferred version on the source cluster. */
  preferredVersion: string;
  /** The object as read from the API server; written as compact JSON. */
  object: unknown;
}

export interface ArchiveWriterStats {
  /** `addItem` calls that succeeded. */
  items: number;
  /** Tar entries written, `metadata/version` included. */
  entries: number;
  /** Bytes of entry content written (JSON of every copy, plus the version file). */
  contentBytes: number;
  /** Bytes of .tar.gz that `stream` has produced so far. */
  archiveBytes: number;
}

/**
 * Entries are built straight into blocks of this many bytes (or a little more) and each block goes to the
 * compressor whole: no buffer per item, no stream write per item. Also the compressor's block size.
 */
const BLOCK_BYTES = 1024 * 1024;
/** Items whose entries may need more than this (worst case) are written as their own chunks. */
const INLINE_MAX_BYTES = BLOCK_BYTES;
const BLOCK_CAPACITY = BLOCK_BYTES + INLINE_MAX_BYTES;

export class ArchiveWriter {
  /** The .tar.gz bytes. Read it (or pipe it) while adding items: `addItem` waits when it is not read. */
  readonly stream: Readable;
  /** Tar bytes go in here; it compresses them (parallelGzip) on the way to `stream`. */
  readonly #tar: Transform;
  readonly #now: () => Date;
  readonly #maxItemBytes: number;
  /** Paths written so far, for the duplicate check; undefined when the check is off. */
  readonly #paths: Set<string> | undefined;
  readonly #stats: ArchiveWriterStats = { items: 0, entries: 0, contentBytes: 0, archiveBytes: 0 };
  readonly #done: Promise<void>;
  /** The block being filled. */
  readonly #block: TarBuilder;
  /** Takes back a block the compressor is done with. */
  readonly #release: (buffer: Buffer) => void;
  /** Resolves when the compressor has room again; undefined while it has. */
  #backpressure: Promise<void> | undefined;
  #failure: unknown;
  #aborted = false;
  #finished = false;

  constructor(options: ArchiveWriterOptions) {
    this.#now = options.now;
    this.#paths = options.checkDuplicates === false ? undefined : new Set<string>();
    this.#maxItemBytes = options.maxItemBytes ?? DEFAULT_MAX_ITEM_BYTES;
    // Blocks are reused once compressed: a backup of 300 MB of tar then allocates a few blocks, not 150
    // (Node counts every new buffer as memory pressure, and collects garbage for it).
    const spare: Buffer[] = [];
    const ours = new WeakSet<ArrayBufferLike>();
    this.#block = new TarBuilder({
      capacity: BLOCK_CAPACITY,
      maxItemBytes: this.#maxItemBytes,
      allocate: (capacity) => {
        const reused = capacity === BLOCK_CAPACITY ? spare.pop() : undefined;
        if (reused) return reused;
        const block = Buffer.allocUnsafeSlow(capacity);
        ours.add(block.buffer);
        return block;
      },
    });
    this.#release = (buffer) => {
      if (ours.has(buffer.buffer) && spare.length < 4)
        spare.push(Buffer.from(buffer.buffer, 0, BLOCK_CAPACITY));
    };
    const stats = this.#stats;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback: TransformCallback) {
        stats.archiveBytes += chunk.length;
        callback(null, chunk);
      },
    });
    this.stream = counter;
    const { signal } = options;
    const abort = () => this.#abort(signal?.reason);
    this.#tar = parallelGzip({
      level: options.gzipLevel ?? 6,
      blockBytes: BLOCK_BYTES,
      release: (buffer) => this.#release(buffer),
    });
    this.#done = new Promise((resolve) => {
      pipeline(this.#tar, counter, (error) => {
        if (error) this.#failure ??= error;
        signal?.removeEventListener('abort', abort);
        resolve();
      });
    });
    if (signal?.aborted === true) abort();
    else signal?.addEventListener('abort', abort, { once: true });
    // A failure here is recorded in #failure and reported by the next call.
    this.#writeChunks([VERSION_PATH], Buffer.from(`${ARCHIVE_FORMAT_VERSION}\n`), this.#now()).catch(
      () => undefined,
    );
  }

  /** Counts so far; final after `finish()`. */
  get stats(): Readonly<ArchiveWriterStats> {
    const stats = this.#stats;
    // The block being filled counts too.
    return {
      ...stats,
      entries: stats.entries + this.#block.entries,
      contentBytes: stats.contentBytes + this.#block.contentBytes,
    };
  }

  /**
   * Writes one item at its legacy path and, when `version === preferredVersion`, again at
   * `<version>-preferredversion/` (same bytes); other versions go to `<version>/` only. Resolves once
   * the tar stream has taken the bytes (so awaiting each call keeps memory flat).
   */
  async addItem(item: ArchiveItemInput): Promise<void> {
    const paths = this.#pathsOf(item);
    let json: string | undefined;
    try {
      json = JSON.stringify(item.object);
    } catch (error) {
      throw new InvalidArchiveItemError(
        'object',
        paths[0] ?? item.name,
        `cannot be encoded as JSON: ${String(error)}`,
      );
    }
    if (json === undefined)
      throw new InvalidArchiveItemError('object', paths[0] ?? item.name, 'is not a JSON value');
    this.#checkUsable();
    const mtime = this.#now();
    if (worstCaseEntryBytes(paths, json.length) > INLINE_MAX_BYTES) {
      const bytes = Buffer.from(json);
      if (bytes.length > this.#maxItemBytes) {
        throw new ArchiveItemTooLargeError(paths[0] ?? item.name, bytes.length, this.#maxItemBytes);
      }
      await this.#written(paths, this.#writeChunks(paths, bytes, mtime));
    } else {
      this.#block.append(paths, json, mtime);
      await this.#written(paths, this.#blockAppended());
    }
  }

  /**
   * Like addItem, for an object already encoded: its entries' content is `pieces` one after the other,
   * which must be one compact JSON object (an item's bytes as the API server sent them, after the fields
   * the caller adds in front). The bytes are copied as they are, not parsed.
   */
  async addItemBytes(item: ItemPlace, pieces: readonly Buffer[]): Promise<void> {
    const paths = this.#pathsOf(item);
    this.#checkUsable();
    const mtime = this.#now();
    let size = 0;
    for (const piece of pieces) size += piece.length;
    if (worstCaseEntryBytes(paths, size / 3) > INLINE_MAX_BYTES) {
      if (size > this.#maxItemBytes)
        throw new ArchiveItemTooLargeError(paths[0] ?? item.name, size, this.#maxItemBytes);
      await this.#written(paths, this.#writeChunks(paths, Buffer.concat(pieces, size), mtime));
    } else {
      this.#block.appendBytes(paths, pieces, mtime);
      await this.#written(paths, this.#blockAppended());
    }
  }

  /** Books an item whose entries at `paths` went out (or into the block), once `sent` resolves. */
  async #written(paths: readonly string[], sent: Promise<void>): Promise<void> {
    for (const path of paths) this.#paths?.add(path);
    await sent;
    this.#stats.items += 1;
  }

  /** After an append to the block: a full block goes to the compressor; otherwise wait while it is busy. */
  #blockAppended(): Promise<void> {
    if (this.#block.length >= BLOCK_BYTES) return this.#submitBlock();
    return this.#backpressure ?? Promise.resolve();
  }

  /**
   * Ends the tar and the gzip stream. Resolves when the last byte has been handed to `stream` (keep
   * reading it meanwhile); rejects if the archive failed, so a resolved `finish()` means a whole archive.
   */
  async finish(): Promise<void> {
    this.#checkUsable();
    this.#finished = true;
    if (this.#failure !== undefined) throw this.#error();
    await this.#submitBlock();
    if (this.#failure !== undefined) throw this.#error();
    this.#tar.end(END_OF_TAR);
    await this.#done;
    if (this.#failure !== undefined) throw this.#error();
  }

  /** The paths of one item, in write order (legacy first); validates every field and refuses duplicates. */
  #pathsOf(item: ItemPlace): string[] {
    const paths = itemPaths(item);
    for (const path of paths) if (this.#paths?.has(path)) throw new DuplicateArchiveItemError(path);
    return paths;
  }

  #checkUsable(): void {
    if (this.#failure !== undefined) throw this.#error();
    if (this.#finished) throw new ArchiveWriterClosedError();
  }

  /** What a call on a failed writer throws: the abort reason, or the first failure as the cause. */
  #error(): Error {
    if (this.#aborted && this.#failure instanceof Error) return this.#failure;
    return new ArchiveWriterClosedError({ cause: this.#failure });
  }

  /** Hands the current block (if it holds anything) to the compressor and starts a new one. */
  #submitBlock(): Promise<void> {
    if (this.#block.length === 0) return this.#backpressure ?? Promise.resolve();
    const { entries, contentBytes } = this.#block;
    this.#stats.entries += entries;
    this.#stats.contentBytes += contentBytes;
    return this.#send(this.#block.take(BLOCK_CAPACITY));
  }

  /**
   * Writes one tar entry per path as separate chunks (the version file, and items too big to build in a
   * block), after whatever the current block holds, so the order of entries is the order of calls.
   */
  #writeChunks(paths: readonly string[], content: Buffer, mtime: Date): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#error());
    const pending = this.#block.length > 0 ? this.#submitBlock() : undefined;
    const chunks = paths.flatMap((name) =>
      tarFileEntry({ name, size: content.length, mode: ENTRY_MODE, mtime }, content),
    );
    this.#stats.entries += paths.length;
    this.#stats.contentBytes += content.length * paths.length;
    const sent = this.#send(chunks);
    return pending ? Promise.all([pending, sent]).then(() => undefined) : sent;
  }

  /** Writes to the compressor; resolves at once, or when it has room again (backpressure). */
  #send(chunk: Buffer | Buffer[]): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#error());
    if (this.#tar.write(chunk)) return this.#backpressure ?? Promise.resolve();
    this.#backpressure ??= new Promise<void>((resolve, reject) => {
      const settle = () => {
        this.#tar.off('drain', settle);
        this.#tar.off('close', settle);
        this.#backpressure = undefined;
        if (this.#failure !== undefined) reject(this.#error());
        else resolve();
      };
      this.#tar.on('drain', settle);
      this.#tar.on('close', settle);
    });
    // Awaited by the next call; a failure nobody is waiting for yet is reported by that call.
    this.#backpressure.catch(() => undefined);
    return this.#backpressure;
  }

  #abort(reason: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = reason;
    this.#aborted = true;
    // pipeline() carries the error on to `stream`.
    this.#tar.destroy(reason instanceof Error ? reason : new Error(String(reason)));
  }
}
