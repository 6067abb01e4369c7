// Reading a backup archive (Velero format 1.x, docs/formats/archive.md) as a stream of items. Memory
// holds one entry and the set of paths seen (to refuse duplicates), never the archive. Every kind of
// damage is an ArchiveCorruptError; it can surface after earlier items were yielded, so a caller that
// must not act on a damaged archive reads it through once first (`indexArchive`).
import { Transform, pipeline } from 'node:stream';
import type { Readable, TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { ArchiveCorruptError, ArchiveItemTooLargeError } from './errors.ts';
import { DEFAULT_MAX_ITEM_BYTES, VERSION_PATH, checkFormatVersion, parseItemPath } from './layout.ts';
import type { ItemLocation } from './layout.ts';

export type { ItemLocation } from './layout.ts';

export interface ReadArchiveOptions {
  /** Aborting stops the read; the iteration rejects with the abort reason. */
  signal?: AbortSignal;
  /** Refuse entries bigger than this (ArchiveItemTooLargeError). Default 32 MiB. */
  maxItemBytes?: number;
}

/** One item of the archive. A preferred-version item appears twice: legacy path and `-preferredversion`. */
export interface ArchiveItem extends ItemLocation {
  /** The entry path, e.g. `resources/deployments.apps/namespaces/shop/web.json`. */
  path: string;
  /** The parsed JSON object. */
  object: unknown;
}

export interface ArchiveReader {
  /** The content of `metadata/version` without its newline, e.g. `1.1.0` (older Velero wrote `1`). */
  readonly formatVersion: string;
  /** The items in archive order. Iterate once; stopping early destroys the source. */
  items(): AsyncGenerator<ArchiveItem, void, undefined>;
  /** Stops reading and destroys the source (when not iterating to the end). */
  close(): Promise<void>;
}

interface RawEntry {
  path: string;
  content: Buffer;
}

/**
 * Opens an archive: reads up to `metadata/version` and checks it (major version 1, else
 * UnsupportedArchiveVersionError). The items follow from `items()`.
 */
export async function openArchive(
  source: Readable,
  options: ReadArchiveOptions = {},
): Promise<ArchiveReader> {
  const entries = readEntries(source, options);
  let formatVersion: string | undefined;
  try {
    while (formatVersion === undefined) {
      const next = await entries.next();
      if (next.done === true) throw new ArchiveCorruptError(undefined, `no ${VERSION_PATH} entry`);
      const { path, content } = next.value;
      if (path === VERSION_PATH) {
        formatVersion = checkFormatVersion(content.toString('utf8'));
      } else if (!path.startsWith('metadata/')) {
        throw new ArchiveCorruptError(path, `${VERSION_PATH} must come before the first item`);
      }
    }
  } catch (error) {
    await entries.return();
    throw error;
  }
  return {
    formatVersion,
    items: () => parseItems(entries),
    close: async () => {
      await entries.return();
    },
  };
}

/** Opens the archive (checking its version) and yields its items: `openArchive(...).items()` in one step. */
export async function* readArchive(
  source: Readable,
  options: ReadArchiveOptions = {},
): AsyncGenerator<ArchiveItem, void, undefined> {
  const archive = await openArchive(source, options);
  yield* archive.items();
}

/** What a restore plans with: which items an archive holds, and in which API versions. */
export interface ArchiveIndex {
  formatVersion: string;
  /** groupResource → namespace (`''` for cluster-scoped) → item names, sorted. */
  items: Map<string, Map<string, string[]>>;
  /** groupResource → the versions that have their own directory (`<ver>/` or `<ver>-preferredversion/`). */
  versions: Map<string, Set<string>>;
  /** groupResource → the version of its `<ver>-preferredversion/` directory, when there is one. */
  preferredVersions: Map<string, string>;
  /** Distinct items (groupResource, namespace, name), whatever the number of copies. */
  itemCount: number;
}

/** Reads a whole archive, checking every entry, and returns what it holds. Nothing but names stays in memory. */
export async function indexArchive(
  source: Readable,
  options: ReadArchiveOptions = {},
): Promise<ArchiveIndex> {
  const archive = await openArchive(source, options);
  const names = new Map<string, Map<string, Set<string>>>();
  const versions = new Map<string, Set<string>>();
  const preferredVersions = new Map<string, string>();
  let itemCount = 0;
  for await (const item of archive.items()) {
    const { groupResource: gr, namespace = '', name, version } = item;
    const byNamespace = names.get(gr) ?? new Map<string, Set<string>>();
    names.set(gr, byNamespace);
    const set = byNamespace.get(namespace) ?? new Set<string>();
    byNamespace.set(namespace, set);
    if (!set.has(name)) itemCount += 1;
    set.add(name);
    if (version === undefined) continue;
    versions.set(gr, (versions.get(gr) ?? new Set<string>()).add(version));
    if (item.preferred) preferredVersions.set(gr, version);
  }
  const items = new Map<string, Map<string, string[]>>();
  for (const [gr, byNamespace] of names) {
    items.set(gr, new Map([...byNamespace].map(([namespace, set]) => [namespace, [...set].sort()])));
  }
  return { formatVersion: archive.formatVersion, items, versions, preferredVersions, itemCount };
}

async function* parseItems(entries: AsyncGenerator<RawEntry, void, undefined>) {
  for await (const { path, content } of entries) {
    if (path.startsWith('metadata/')) continue; // metadata beyond the version file is not items
    const location = parseItemPath(path);
    let object: unknown;
    try {
      object = JSON.parse(content.toString('utf8'));
    } catch (error) {
      throw new ArchiveCorruptError(path, 'item is not valid JSON', { cause: error });
    }
    if (typeof object !== 'object' || object === null || Array.isArray(object)) {
      throw new ArchiveCorruptError(path, 'item is not a JSON object');
    }
    yield { path, ...location, object };
  }
}

/**
 * The regular-file entries of the tar.gz, with their content. Checks: gzip and tar integrity, the
 * end-of-archive marker, safe and unique paths under resources/ or metadata/, the size limit.
 */
async function* readEntries(source: Readable, options: ReadArchiveOptions) {
  const maxItemBytes = options.maxItemBytes ?? DEFAULT_MAX_ITEM_BYTES;
  const { signal } = options;
  const gunzip = createGunzip();
  const tail = new ZeroTail();
  const extract = tar.extract();
  let sourceError: Error | undefined;
  source.once('error', (error: Error) => (sourceError ??= error));
  const stage = new Map<unknown, string>();
  const origin = (name: string) => (error: unknown) => {
    if (!stage.has(error)) stage.set(error, name);
  };
  gunzip.once('error', origin('gzip'));
  extract.once('error', origin('tar'));
  const done = new Promise<Error | undefined>((resolve) => {
    pipeline(source, gunzip, tail, extract, (error) => resolve(error ?? undefined));
  });
  const abortError = () =>
    signal?.reason instanceof Error
      ? signal.reason
      : new Error('archive read aborted', { cause: signal?.reason });
  const abort = () => extract.destroy(abortError());
  signal?.addEventListener('abort', abort, { once: true });

  const seen = new Set<string>();
  let current: string | undefined;
  let last: string | undefined;
  let lastEnd = 0;
  let complete = false;
  try {
    if (signal?.aborted === true) abort();
    for await (const entry of extract) {
      const { header } = entry;
      current = header.name.startsWith('./') ? header.name.slice(2) : header.name;
      const size = header.size ?? 0;
      const offset = 'byteOffset' in header && typeof header.byteOffset === 'number' ? header.byteOffset : 0;
      lastEnd = offset + Math.ceil(size / 512) * 512;
      if (header.type === 'directory') {
        entry.resume();
      } else {
        checkEntry(current, header.type, seen);
        if (size > maxItemBytes) throw new ArchiveItemTooLargeError(current, size, maxItemBytes);
        const chunks: Buffer[] = [];
        for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
        yield { path: current, content: Buffer.concat(chunks) };
      }
      last = current;
      current = undefined;
    }
    const error = await done;
    if (error !== undefined) throw error;
    if (tail.total - lastEnd < 1024 || tail.zeros < tail.total - lastEnd) {
      throw new ArchiveCorruptError(
        last,
        'the tar stream ends without its end-of-archive marker (truncated)',
        {
          position: 'after',
        },
      );
    }
    complete = true;
  } catch (error) {
    if (signal?.aborted === true) throw abortError();
    if (error instanceof ArchiveCorruptError || error instanceof ArchiveItemTooLargeError) throw error;
    if (sourceError !== undefined) throw sourceError; // the store failed, not the archive
    // The stream error came from the pipeline, which has failed and resolves `done` with its first error
    // (the one that caused the rest), once every stage is destroyed.
    const first = (await done) ?? error;
    const where = stage.get(first) ?? 'tar';
    const message = first instanceof Error ? first.message : String(first);
    // Gzip damage names no entry: the decompressor runs ahead of the tar reader by however much the
    // streams buffered, so the entry the reader had reached when the damage showed depends on timing.
    if (where === 'gzip')
      throw new ArchiveCorruptError(undefined, `gzip stream: ${message}`, { cause: first });
    const position = current === undefined ? 'after' : 'at';
    throw new ArchiveCorruptError(current ?? last, `${where} stream: ${message}`, { cause: first, position });
  } finally {
    signal?.removeEventListener('abort', abort);
    if (!complete) {
      extract.destroy();
      source.destroy();
    }
  }
}

function checkEntry(path: string, type: string | null | undefined, seen: Set<string>): void {
  if (type !== 'file' && type !== 'contiguous-file') {
    throw new ArchiveCorruptError(path, `entry of type ${String(type)} is not a regular file`);
  }
  if (path.startsWith('/') || path.split('/').some((segment) => segment === '..')) {
    throw new ArchiveCorruptError(path, 'unsafe path (absolute or with "..")');
  }
  if (!path.startsWith('resources/') && !path.startsWith('metadata/')) {
    throw new ArchiveCorruptError(path, 'entry outside resources/ and metadata/');
  }
  if (seen.has(path)) throw new ArchiveCorruptError(path, 'duplicate entry');
  seen.add(path);
}

/** Passes bytes through, counting them and the run of zero bytes at the end (the end-of-archive marker). */
class ZeroTail extends Transform {
  total = 0;
  zeros = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.total += chunk.length;
    let i = chunk.length;
    while (i > 0 && chunk[i - 1] === 0) i -= 1;
    this.zeros = i === 0 ? this.zeros + chunk.length : chunk.length - i;
    callback(null, chunk);
  }
}
