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
import {
  ARCHIVE_FORMAT_VERSION,
  DEFAULT_MAX_ITEM_BYTES,
  VERSION_PATH,
  checkSegment,
  itemPath,
  versionProblem,
} from './layout.ts';
import { parallelGzip } from './parallel-gzip.ts';
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

/** Mode of every entry, as Velero writes it. */
const ENTRY_MODE = 0o755;

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
  #failure: unknown;
  #aborted = false;
  #finished = false;

  constructor(options: ArchiveWriterOptions) {
    this.#now = options.now;
    this.#paths = options.checkDuplicates === false ? undefined : new Set<string>();
    this.#maxItemBytes = options.maxItemBytes ?? DEFAULT_MAX_ITEM_BYTES;
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
    this.#tar = parallelGzip({ level: options.gzipLevel ?? 6 });
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
    this.#write([VERSION_PATH], Buffer.from(`${ARCHIVE_FORMAT_VERSION}\n`), this.#now()).catch(
      () => undefined,
    );
  }

  /** Counts so far; final after `finish()`. */
  get stats(): Readonly<ArchiveWriterStats> {
    return { ...this.#stats };
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
    const bytes = Buffer.from(json);
    if (bytes.length > this.#maxItemBytes) {
      throw new ArchiveItemTooLargeError(paths[0] ?? item.name, bytes.length, this.#maxItemBytes);
    }
    this.#checkUsable();
    for (const path of paths) this.#paths?.add(path);
    const mtime = this.#now();
    await this.#write(paths, bytes, mtime);
    this.#stats.items += 1;
  }

  /**
   * Ends the tar and the gzip stream. Resolves when the last byte has been handed to `stream` (keep
   * reading it meanwhile); rejects if the archive failed, so a resolved `finish()` means a whole archive.
   */
  async finish(): Promise<void> {
    this.#checkUsable();
    this.#finished = true;
    if (this.#failure !== undefined) throw this.#error();
    this.#tar.end(END_OF_TAR);
    await this.#done;
    if (this.#failure !== undefined) throw this.#error();
  }

  /** The paths of one item, in write order (legacy first, as Velero writes them); validates every field. */
  #pathsOf(item: ArchiveItemInput): string[] {
    checkSegment('groupResource', item.groupResource);
    if (item.namespace !== undefined) checkSegment('namespace', item.namespace);
    checkSegment('name', item.name);
    for (const field of ['version', 'preferredVersion'] as const) {
      const problem = versionProblem(item[field]);
      if (problem !== undefined) throw new InvalidArchiveItemError(field, item[field], problem);
    }
    const base = { groupResource: item.groupResource, name: item.name };
    const location = item.namespace === undefined ? base : { ...base, namespace: item.namespace };
    const paths =
      item.version === item.preferredVersion
        ? [itemPath(location), itemPath({ ...location, version: item.version, preferred: true })]
        : [itemPath({ ...location, version: item.version })];
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

  /**
   * Writes one tar entry per path, all with the same content, in one write (in call order: concurrent
   * calls cannot interleave). Resolves at once, or when the compressor has room again (backpressure).
   */
  #write(paths: readonly string[], content: Buffer, mtime: Date): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#error());
    const chunks = paths.flatMap((name) =>
      tarFileEntry({ name, size: content.length, mode: ENTRY_MODE, mtime }, content),
    );
    this.#stats.entries += paths.length;
    this.#stats.contentBytes += content.length * paths.length;
    if (this.#tar.write(chunks)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const settle = () => {
        this.#tar.off('drain', settle);
        this.#tar.off('close', settle);
        if (this.#failure !== undefined) reject(this.#error());
        else resolve();
      };
      this.#tar.on('drain', settle);
      this.#tar.on('close', settle);
    });
  }

  #abort(reason: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = reason;
    this.#aborted = true;
    // pipeline() carries the error on to `stream`.
    this.#tar.destroy(reason instanceof Error ? reason : new Error(String(reason)));
  }
}
