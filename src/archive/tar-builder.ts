// Builds the tar entries of many items into one buffer: each item's JSON is encoded once, straight into
// the buffer after its first header, and copied for its other paths. No buffer per item, no stream write
// per item. The archive writer fills blocks of about a MiB with it; the backup's page encoder (a worker
// thread) builds a whole list page's entries with it. The bytes are tarFileEntry's (a test compares them
// with tar-stream's packer).
import { ArchiveItemTooLargeError, InvalidArchiveItemError } from './errors.ts';
import { checkSegment, itemPath, versionProblem } from './layout.ts';
import { paddedLength, tarHeaderLength, writeTarHeaders } from './tar-entry.ts';

/** Mode of every entry, as Velero writes it. */
export const ENTRY_MODE = 0o755;

/** Where one item goes in the archive: the fields of ArchiveItemInput without the object. */
export interface ItemPlace {
  groupResource: string;
  namespace?: string | undefined;
  name: string;
  version: string;
  preferredVersion: string;
}

/**
 * The paths of one item, in write order (legacy first, as Velero writes them): `<version>-preferredversion/`
 * too when the version is the preferred one. Validates every field, throwing InvalidArchiveItemError.
 */
export function itemPaths(item: ItemPlace): string[] {
  checkSegment('name', item.name);
  const [legacy, versioned] = directoriesOf(item);
  const file = `${item.name}.json`;
  return versioned === undefined ? [legacy + file] : [legacy + file, versioned + file];
}

/**
 * The directories an item's paths start with (validated), for the last few places: a backup writes the
 * items of one resource and namespace in a row, so each place is validated and built once, not per item.
 */
const directories = new Map<string, [string, string | undefined]>();

function directoriesOf(item: ItemPlace): [string, string | undefined] {
  const key = `${item.groupResource}\0${item.namespace ?? ''}\0${item.version}\0${item.preferredVersion}\0${item.namespace === undefined}`;
  const known = directories.get(key);
  if (known) return known;
  checkSegment('groupResource', item.groupResource);
  if (item.namespace !== undefined) checkSegment('namespace', item.namespace);
  for (const field of ['version', 'preferredVersion'] as const) {
    const problem = versionProblem(item[field]);
    if (problem !== undefined) throw new InvalidArchiveItemError(field, item[field], problem);
  }
  // itemPath with the name left empty: the directory, ending in "/" (the name must not be empty there,
  // so a placeholder is cut off again).
  const base = { groupResource: item.groupResource, name: 'x' };
  const location = item.namespace === undefined ? base : { ...base, namespace: item.namespace };
  const dir = (path: string) => path.slice(0, -'x.json'.length);
  const built: [string, string | undefined] =
    item.version === item.preferredVersion
      ? [dir(itemPath(location)), dir(itemPath({ ...location, version: item.version, preferred: true }))]
      : [dir(itemPath({ ...location, version: item.version })), undefined];
  if (directories.size >= 256) directories.clear();
  directories.set(key, built);
  return built;
}

/** The most bytes the entries of `paths` with `jsonLength` UTF-16 code units of JSON can take. */
export function worstCaseEntryBytes(paths: readonly string[], jsonLength: number): number {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit; a header at most a PAX header, record and ustar block.
  let bytes = 0;
  for (const path of paths) bytes += 3 * jsonLength + 511 + 2048 + 3 * path.length;
  return bytes;
}

export class TarBuilder {
  #buffer: Buffer;
  #used = 0;
  readonly #maxItemBytes: number;
  /** Entries and content bytes appended since the last take(). */
  entries = 0;
  contentBytes = 0;

  readonly #allocate: (capacity: number) => Buffer;

  /** `allocate` gives the buffers (default: new ones, never from the shared pool). */
  constructor(options: { capacity: number; maxItemBytes: number; allocate?: (capacity: number) => Buffer }) {
    this.#allocate = options.allocate ?? ((capacity) => Buffer.allocUnsafeSlow(capacity));
    this.#buffer = this.#allocate(options.capacity);
    this.#maxItemBytes = options.maxItemBytes;
  }

  /** Bytes built so far. */
  get length(): number {
    return this.#used;
  }

  /**
   * Appends one entry per path, all with `json` (UTF-8) as content, stamped `mtime`. Grows the buffer when
   * the worst case does not fit. Throws ArchiveItemTooLargeError (appending nothing) for content over the
   * limit.
   */
  append(paths: readonly string[], json: string, mtime: Date): void {
    const first = paths[0];
    if (first === undefined) return;
    this.#reserve(worstCaseEntryBytes(paths, json.length));
    const block = this.#buffer;
    const start = this.#used;
    const contentStart = start + tarHeaderLength(first);
    const size = block.write(json, contentStart, 'utf8');
    if (size > this.#maxItemBytes) throw new ArchiveItemTooLargeError(first, size, this.#maxItemBytes);
    let at = start;
    for (const [i, name] of paths.entries()) {
      at += writeTarHeaders(block, at, { name, size, mode: ENTRY_MODE, mtime });
      if (i > 0) block.copy(block, at, contentStart, contentStart + size);
      block.fill(0, at + size, at + paddedLength(size));
      at += paddedLength(size);
    }
    this.#used = at;
    this.entries += paths.length;
    this.contentBytes += size * paths.length;
  }

  /**
   * Appends one entry per path whose content is `pieces` one after the other (bytes already encoded: an
   * item's JSON as the API server sent it, after the fields the writer adds in front).
   */
  appendBytes(paths: readonly string[], pieces: readonly Buffer[], mtime: Date): void {
    const first = paths[0];
    if (first === undefined) return;
    let size = 0;
    for (const piece of pieces) size += piece.length;
    if (size > this.#maxItemBytes) throw new ArchiveItemTooLargeError(first, size, this.#maxItemBytes);
    let reserve = 0;
    for (const path of paths) reserve += size + 511 + 2048 + 3 * path.length;
    this.#reserve(reserve);
    const block = this.#buffer;
    let at = this.#used;
    let contentStart = 0;
    for (const [i, name] of paths.entries()) {
      at += writeTarHeaders(block, at, { name, size, mode: ENTRY_MODE, mtime });
      if (i === 0) {
        contentStart = at;
        let piecesAt = at;
        for (const piece of pieces) piecesAt += piece.copy(block, piecesAt);
      } else block.copy(block, at, contentStart, contentStart + size);
      block.fill(0, at + size, at + paddedLength(size));
      at += paddedLength(size);
    }
    this.#used = at;
    this.entries += paths.length;
    this.contentBytes += size * paths.length;
  }

  /**
   * The bytes built so far: a view of a buffer of their own (never a shared pool, so its ArrayBuffer can be
   * transferred to another thread). The builder starts over in a new buffer of `capacity`.
   */
  take(capacity: number): Buffer {
    const built = this.#buffer.subarray(0, this.#used);
    this.#buffer = this.#allocate(capacity);
    this.#used = 0;
    this.entries = 0;
    this.contentBytes = 0;
    return built;
  }

  #reserve(bytes: number): void {
    if (this.#used + bytes <= this.#buffer.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.#buffer.length, this.#used + bytes));
    this.#buffer.copy(grown, 0, 0, this.#used);
    this.#buffer = grown;
  }
}
