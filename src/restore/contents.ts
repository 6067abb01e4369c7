// Reading a backup for a restore (docs/formats/restore-reading.md). extractBackup reads the archive
// through once, every entry checked by src/archive, into one NDJSON file per (group-resource, version)
// in a directory the caller made; only then does it return, so a truncated, corrupt or tampered archive
// rejects before anything is applied. The restore then streams each file back. Memory holds one item,
// a bounded number of write streams and, per group-resource, its namespace names — never the archive.
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { openArchive } from '../archive/index.ts';
import type { ArchiveItem, ReadArchiveOptions } from '../archive/index.ts';
import type { KubeObject } from '../kube/index.ts';

/** Write streams open at once by default; the files beyond them are closed and reopened to append. */
export const DEFAULT_MAX_OPEN_FILES = 16;

export interface ExtractBackupOptions {
  /** An empty directory the caller made (and removes after `close()`); the item files go there. */
  dir: string;
  /** Aborting stops the read; extractBackup rejects with the signal's reason and removes its files. */
  signal?: AbortSignal | undefined;
  /** Refuse an archive entry bigger than this (ArchiveItemTooLargeError). Default 32 MiB. */
  maxItemBytes?: number | undefined;
  /** Write streams kept open at once. Default DEFAULT_MAX_OPEN_FILES. */
  maxOpenFiles?: number | undefined;
}

/** What a backup holds, read and checked in full; its items stay on disk until `close()`. */
export interface BackupContents {
  /** The archive's `metadata/version`: `1.1.0`, or `1` for Velero's archives from before API group versions. */
  formatVersion: string;
  /** Every group-resource of the backup, in the order the archive first names it. */
  resources: ReadonlyMap<string, ResourceContents>;
  /** The items of one group-resource in one version, in archive order. Throws ResourceVersionNotInBackupError. */
  items(
    groupResource: string,
    version: string,
    options?: { signal?: AbortSignal },
  ): AsyncGenerator<ContentItem>;
  /** Removes the files extractBackup wrote; items() fails afterwards. Safe to call twice. */
  close(): Promise<void>;
}

export interface ResourceContents {
  /** `GroupResource.String()`: `pods`, `deployments.apps`. */
  groupResource: string;
  /** The group's preferred version on the source cluster at backup time. */
  preferredVersion: string;
  /** Every version the backup holds: the preferred one first, then the others sorted. */
  versions: readonly string[];
  /** True when the items (of the preferred version) have a namespace. */
  namespaced: boolean;
  /** Items in the preferred version. */
  count: number;
  /** The namespaces of the items in the preferred version (empty for cluster-scoped resources). */
  namespaces: ReadonlySet<string>;
}

export interface ContentItem {
  groupResource: string;
  /** Undefined for cluster-scoped items. */
  namespace?: string;
  name: string;
  /** The API version the object is in (the object's own `apiVersion`'s version). */
  version: string;
  object: KubeObject;
}

/** An archive item that is valid JSON but not a Kubernetes object a restore could apply. */
export class InvalidBackupItemError extends Error {
  override readonly name = 'InvalidBackupItemError';
  readonly path: string;
  readonly field: 'apiVersion' | 'kind' | 'metadata' | 'metadata.name';
  readonly reason: string;
  constructor(path: string, field: 'apiVersion' | 'kind' | 'metadata' | 'metadata.name', reason: string) {
    super(`backup item ${path}: ${field} ${reason}`);
    this.path = path;
    this.field = field;
    this.reason = reason;
  }
}

/** A group-resource's version directories contradict each other (two preferred versions, say). */
export class ConflictingVersionsError extends Error {
  override readonly name = 'ConflictingVersionsError';
  readonly groupResource: string;
  readonly reason: string;
  constructor(groupResource: string, reason: string) {
    super(`backup archive resources/${groupResource}: ${reason}`);
    this.groupResource = groupResource;
    this.reason = reason;
  }
}

/** items() was asked for a group-resource or version the backup does not hold. */
export class ResourceVersionNotInBackupError extends Error {
  override readonly name = 'ResourceVersionNotInBackupError';
  readonly groupResource: string;
  readonly version: string;
  constructor(groupResource: string, version: string) {
    super(`backup holds no items of ${JSON.stringify(groupResource)} in version ${JSON.stringify(version)}`);
    this.groupResource = groupResource;
    this.version = version;
  }
}

/** items() was called (or was still reading) after close(). */
export class BackupContentsClosedError extends Error {
  override readonly name = 'BackupContentsClosedError';
  constructor() {
    super('backup contents are closed: their files were removed');
  }
}

/** The version part of an apiVersion: `apps/v1` → `v1`, `v1` → `v1`. */
export function versionOf(apiVersion: string): string {
  return apiVersion.slice(apiVersion.lastIndexOf('/') + 1);
}

const versionPattern = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** One NDJSON file of items, and what the summary needs to know of them. */
interface ItemFile {
  path: string;
  /** Whether it was created yet (then it is ours to append to and to remove). */
  created: boolean;
  count: number;
  namespaces: Set<string>;
  namespaced: boolean;
  /** For version directories: whether it is the `-preferredversion` one. */
  preferred: boolean;
  /** For legacy paths: the version of the first item's apiVersion. */
  firstVersion?: string;
}

/** What the archive holds for one group-resource, while it is being read. */
interface GroupFiles {
  /** Items at the legacy path, kept until a `-preferredversion` directory shows the group has one. */
  legacy?: ItemFile;
  /** The version of the `-preferredversion` directory, once seen. */
  preferredDir?: string;
  /** Version directory → its file, in the order the archive names them. */
  versions: Map<string, ItemFile>;
}

/** The line stored per item: everything of a ContentItem but the group-resource (the file's own). */
interface StoredItem {
  namespace?: string;
  name: string;
  version: string;
  object: KubeObject;
}

/**
 * Reads a whole backup archive (`source`: the plaintext .tar.gz, as BackupStore.openFile gives it) into
 * `options.dir` and returns its contents. Rejects — after removing what it wrote — with the archive's
 * error (ArchiveCorruptError, UnsupportedArchiveVersionError, ArchiveItemTooLargeError), the source's
 * own error (a decryption error such as TamperedObjectError, a store error), the abort reason,
 * InvalidBackupItemError or ConflictingVersionsError.
 */
export async function extractBackup(
  source: Readable,
  options: ExtractBackupOptions,
): Promise<BackupContents> {
  const files = new ItemFiles(options.dir, options.maxOpenFiles ?? DEFAULT_MAX_OPEN_FILES);
  try {
    const readOptions: ReadArchiveOptions = {};
    if (options.signal !== undefined) readOptions.signal = options.signal;
    if (options.maxItemBytes !== undefined) readOptions.maxItemBytes = options.maxItemBytes;
    const archive = await openArchive(source, readOptions);
    const groups = new Map<string, GroupFiles>();
    for await (const item of archive.items()) {
      const object = kubeObject(item);
      const { groupResource, namespace, name, version: dirVersion } = item;
      const group = groups.get(groupResource) ?? { versions: new Map<string, ItemFile>() };
      groups.set(groupResource, group);
      let file: ItemFile;
      let version: string;
      if (dirVersion === undefined) {
        // The legacy path duplicates the -preferredversion copy (format 1.1.0); alone, it is the item.
        if (group.preferredDir !== undefined) continue;
        version = legacyVersion(item.path, object);
        file = group.legacy ??= files.newFile({ preferred: true, firstVersion: version });
      } else {
        version = dirVersion;
        if (item.preferred) {
          if (group.preferredDir !== undefined && group.preferredDir !== version) {
            throw new ConflictingVersionsError(
              groupResource,
              `two preferred versions, ${group.preferredDir} and ${version}`,
            );
          }
          group.preferredDir = version;
        }
        file = group.versions.get(version) ?? files.newFile({ preferred: item.preferred });
        group.versions.set(version, file);
        if (file.preferred !== item.preferred) {
          throw new ConflictingVersionsError(
            groupResource,
            `version ${version} has both a ${version}/ and a ${version}-preferredversion/ directory`,
          );
        }
      }
      const stored: StoredItem =
        namespace === undefined ? { name, version, object } : { namespace, name, version, object };
      await files.append(file, stored);
    }
    await files.closeAll();
    const resources = new Map<string, ResourceContents>();
    const served = new Map<string, ItemFile>();
    for (const [groupResource, group] of groups) {
      const { summary, byVersion, discarded } = summarize(groupResource, group);
      resources.set(groupResource, summary);
      for (const [version, file] of byVersion) served.set(fileKey(groupResource, version), file);
      await files.remove(discarded);
    }
    return new ExtractedContents(archive.formatVersion, resources, served, files);
  } catch (error) {
    await files.removeAll();
    throw error;
  }
}

/** Decides a group-resource's preferred version and the file that serves each version. */
function summarize(
  groupResource: string,
  group: GroupFiles,
): { summary: ResourceContents; byVersion: Map<string, ItemFile>; discarded: ItemFile[] } {
  const byVersion = new Map(group.versions);
  const discarded: ItemFile[] = [];
  let preferredVersion: string;
  if (group.preferredDir !== undefined) {
    preferredVersion = group.preferredDir;
    if (group.legacy) discarded.push(group.legacy);
  } else if (group.legacy?.firstVersion !== undefined) {
    // Only legacy paths (format 1, or 1.1.0 written without the feature): the items' own apiVersion is
    // the preferred one. A plain version directory of that same version (never written by Velero) loses.
    preferredVersion = group.legacy.firstVersion;
    const shadowed = byVersion.get(preferredVersion);
    if (shadowed) discarded.push(shadowed);
    byVersion.set(preferredVersion, group.legacy);
  } else {
    // Only plain version directories (never written by Velero): the first one named is taken as preferred.
    preferredVersion = [...byVersion.keys()][0] ?? '';
  }
  const preferred = byVersion.get(preferredVersion);
  const others = [...byVersion.keys()].filter((version) => version !== preferredVersion).sort();
  return {
    summary: {
      groupResource,
      preferredVersion,
      versions: [preferredVersion, ...others],
      namespaced: preferred?.namespaced ?? false,
      count: preferred?.count ?? 0,
      namespaces: preferred?.namespaces ?? new Set(),
    },
    byVersion,
    discarded,
  };
}

/** Checks that an item is a Kubernetes object: apiVersion, kind and metadata.name. */
function kubeObject(item: ArchiveItem): KubeObject {
  const object = item.object as Record<string, unknown>;
  const invalid = (field: InvalidBackupItemError['field'], reason: string) =>
    new InvalidBackupItemError(item.path, field, reason);
  if (typeof object['apiVersion'] !== 'string' || object['apiVersion'] === '') {
    throw invalid('apiVersion', 'must be a non-empty string');
  }
  if (typeof object['kind'] !== 'string' || object['kind'] === '') {
    throw invalid('kind', 'must be a non-empty string');
  }
  const metadata = object['metadata'];
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw invalid('metadata', 'must be an object');
  }
  const name = (metadata as Record<string, unknown>)['name'];
  if (typeof name !== 'string' || name === '') throw invalid('metadata.name', 'must be a non-empty string');
  return object as KubeObject;
}

/** The version of an item at a legacy path: its apiVersion's, which must be usable as a version. */
function legacyVersion(path: string, object: KubeObject): string {
  const version = versionOf(object.apiVersion);
  if (!versionPattern.test(version)) {
    throw new InvalidBackupItemError(
      path,
      'apiVersion',
      `${JSON.stringify(object.apiVersion)} does not end in a version such as v1`,
    );
  }
  return version;
}

function fileKey(groupResource: string, version: string): string {
  return `${groupResource}\0${version}`;
}

/**
 * The NDJSON files under the directory: created once (`wx`, so nothing of the caller's is overwritten),
 * appended through at most `maxOpen` write streams (the least recently used one is closed for another),
 * each write waiting for the stream to drain when its buffer is full.
 */
class ItemFiles {
  readonly #dir: string;
  readonly #maxOpen: number;
  readonly #files: ItemFile[] = [];
  /** Open write streams, least recently used first. */
  readonly #open = new Map<ItemFile, Writable>();
  #failure: Error | undefined;

  constructor(dir: string, maxOpen: number) {
    this.#dir = dir;
    this.#maxOpen = Math.max(1, maxOpen);
  }

  newFile(options: { preferred: boolean; firstVersion?: string }): ItemFile {
    const path = join(this.#dir, `items-${String(this.#files.length).padStart(4, '0')}.ndjson`);
    const file: ItemFile = {
      path,
      created: false,
      count: 0,
      namespaces: new Set(),
      namespaced: false,
      preferred: options.preferred,
      ...(options.firstVersion === undefined ? {} : { firstVersion: options.firstVersion }),
    };
    this.#files.push(file);
    return file;
  }

  async append(file: ItemFile, item: StoredItem): Promise<void> {
    if (this.#failure) throw this.#failure;
    let stream = this.#open.get(file);
    if (stream) {
      this.#open.delete(file);
      this.#open.set(file, stream);
    } else {
      const oldest = this.#open.keys().next();
      if (this.#open.size >= this.#maxOpen && oldest.done !== true) await this.#close(oldest.value);
      stream = await this.#openStream(file);
    }
    file.count += 1;
    if (item.namespace !== undefined) {
      file.namespaced = true;
      file.namespaces.add(item.namespace);
    }
    if (!stream.write(`${JSON.stringify(item)}\n`)) await once(stream, 'drain');
  }

  async #openStream(file: ItemFile): Promise<Writable> {
    const handle = await open(file.path, file.created ? 'a' : 'wx', 0o600);
    file.created = true;
    const stream = handle.createWriteStream();
    stream.on('error', (error: Error) => (this.#failure ??= error));
    this.#open.set(file, stream);
    return stream;
  }

  async #close(file: ItemFile): Promise<void> {
    const stream = this.#open.get(file);
    if (!stream) return;
    this.#open.delete(file);
    stream.end();
    await finished(stream);
  }

  /** Flushes and closes every write stream; the files are complete afterwards. */
  async closeAll(): Promise<void> {
    for (const file of [...this.#open.keys()]) await this.#close(file);
    if (this.#failure) throw this.#failure;
  }

  async remove(files: Iterable<ItemFile>): Promise<void> {
    for (const file of files) {
      if (file.created) await rm(file.path, { force: true });
      file.created = false;
    }
  }

  /** Closes whatever is open (ignoring its errors) and removes every file written. */
  async removeAll(): Promise<void> {
    for (const [file, stream] of [...this.#open]) {
      this.#open.delete(file);
      stream.destroy();
      await finished(stream).catch(() => undefined);
    }
    await this.remove(this.#files);
  }
}

class ExtractedContents implements BackupContents {
  readonly formatVersion: string;
  readonly resources: ReadonlyMap<string, ResourceContents>;
  readonly #served: ReadonlyMap<string, ItemFile>;
  readonly #files: ItemFiles;
  readonly #readers = new Set<Readable>();
  #closed = false;

  constructor(
    formatVersion: string,
    resources: ReadonlyMap<string, ResourceContents>,
    served: ReadonlyMap<string, ItemFile>,
    files: ItemFiles,
  ) {
    this.formatVersion = formatVersion;
    this.resources = resources;
    this.#served = served;
    this.#files = files;
  }

  async *items(
    groupResource: string,
    version: string,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<ContentItem> {
    if (this.#closed) throw new BackupContentsClosedError();
    const file = this.#served.get(fileKey(groupResource, version));
    if (!file) throw new ResourceVersionNotInBackupError(groupResource, version);
    const { signal } = options;
    signal?.throwIfAborted();
    const input = createReadStream(file.path);
    const abort = () => input.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal?.addEventListener('abort', abort, { once: true });
    this.#readers.add(input);
    try {
      for await (const line of lines(input)) {
        if (this.#closed) throw new BackupContentsClosedError();
        signal?.throwIfAborted();
        const stored = JSON.parse(line.toString('utf8')) as StoredItem;
        yield { groupResource, ...stored };
      }
      // A stream destroyed by close() may just end: that is not the end of the items.
      if (this.#closed) throw new BackupContentsClosedError();
    } catch (error) {
      if (this.#closed) throw new BackupContentsClosedError();
      signal?.throwIfAborted();
      throw error;
    } finally {
      signal?.removeEventListener('abort', abort);
      this.#readers.delete(input);
      input.destroy();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const input of this.#readers) input.destroy();
    await this.#files.removeAll();
  }
}

/** The lines of a stream, without their newline, one Buffer each (split on bytes: UTF-8 stays whole). */
async function* lines(input: Readable): AsyncGenerator<Buffer> {
  let carry: Buffer[] = [];
  for await (const chunk of input as AsyncIterable<Buffer>) {
    let start = 0;
    let end = chunk.indexOf(0x0a, start);
    while (end !== -1) {
      const piece = chunk.subarray(start, end);
      yield carry.length === 0 ? piece : Buffer.concat([...carry, piece]);
      carry = [];
      start = end + 1;
      end = chunk.indexOf(0x0a, start);
    }
    if (start < chunk.length) carry.push(chunk.subarray(start));
  }
  if (carry.length > 0) yield Buffer.concat(carry);
}
