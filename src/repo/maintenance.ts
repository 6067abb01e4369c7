// What check and prune share: the repository operations they need beyond `Repo`, loading the index
// files one by one (so that a bad one is named, and so that prune knows which files it supersedes), and
// walking the trees of snapshots, each tree once.
import { handlePath, type Backend } from './backend.ts';
import type { SignalOptions } from './environment.ts';
import { BlobNotFoundError } from './errors.ts';
import { IdTable, idBytes } from './id-table.ts';
import { parseIndexFile, type IndexFile } from './index-file.ts';
import { forEachInOrder } from './limit.ts';
import { MasterIndex, type IndexEntry } from './master-index.ts';
import { packHeaderSize, type PackBlob } from './pack.ts';
import type { Repo } from './repo.ts';
import { decodeTree, type Node } from './tree.ts';

/** A repository check and prune can work on: `Repository` is one. */
export interface MaintenanceRepo extends Repo {
  readonly backend: Backend;
  /** The target pack size in bytes. */
  readonly packSize: number;
  /** The blobs the header of a whole pack file lists, and the header's size in the file. */
  parsePack(pack: string, bytes: Buffer): Promise<{ blobs: PackBlob[]; headerSize: number }>;
  /** A blob's verified plaintext from its bytes as read from a pack. */
  openPackedBlob(pack: string, blob: PackBlob, ciphertext: Buffer): Promise<Buffer>;
  /** Forgets the in-memory index and loads the index files again. */
  reloadIndex(options?: SignalOptions): Promise<void>;
}

/** Progress of a phase: `done` of `total` items (total undefined while unknown). */
export interface MaintenanceProgress {
  phase: string;
  done: number;
  total?: number | undefined;
}

/** The index files of a repository, loaded one by one. */
export interface LoadedIndex {
  /** The index files that loaded. */
  files: string[];
  /** Their entries, the same blob at the same place in the same pack once. */
  index: MasterIndex;
  /** For each pack, the index files that list it. */
  packFiles: Map<string, string[]>;
  /** The index files that did not load. */
  errors: { file: string; error: Error }[];
}

/**
 * Loads every index file, a few at a time, merged in the order of their names; the ones that fail are
 * listed with their error. With `into`, loads only the files it lacks, and adds them to it.
 */
export async function loadIndexFiles(
  repo: Pick<Repo, 'list' | 'loadJson'>,
  options: SignalOptions & {
    onFile?: ((done: number, total: number) => void) | undefined;
    into?: LoadedIndex | undefined;
  } = {},
): Promise<LoadedIndex> {
  const loaded: LoadedIndex = options.into ?? {
    files: [],
    index: new MasterIndex(),
    packFiles: new Map(),
    errors: [],
  };
  const known = new Set(loaded.files);
  const names: string[] = [];
  for await (const { name } of repo.list('index', options)) if (!known.has(name)) names.push(name);
  names.sort();
  // Loaded a few at a time, merged in the order of their names: the index's order of entries (which
  // copy of a duplicated blob comes first, which prune keeps) does not depend on which load finished first.
  let done = 0;
  await forEachInOrder(
    names,
    4,
    async (name): Promise<{ file: IndexFile } | { error: Error }> => {
      try {
        return {
          file: parseIndexFile(
            await repo.loadJson('index', name, options),
            handlePath({ type: 'index', name: name }),
          ),
        };
      } catch (error) {
        options.signal?.throwIfAborted();
        return { error: error instanceof Error ? error : new Error(String(error)) };
      }
    },
    (result, name) => {
      if ('error' in result) loaded.errors.push({ file: name, error: result.error });
      else {
        for (const pack of result.file.packs) {
          loaded.index.addPack(pack.id, pack.blobs);
          const files = loaded.packFiles.get(pack.id);
          if (files) files.push(name);
          else loaded.packFiles.set(pack.id, [name]);
        }
        loaded.files.push(name);
      }
      options.onFile?.(++done, names.length);
    },
  );
  loaded.files.sort();
  loaded.index.trim();
  return loaded;
}

/** The index's entries grouped by pack, each pack's blobs in the order of their offsets. */
export function blobsByPack(index: MasterIndex): Map<string, IndexEntry[]> {
  const packs = new Map<string, IndexEntry[]>();
  for (const entry of index.entries()) {
    const blobs = packs.get(entry.pack);
    if (blobs) blobs.push(entry);
    else packs.set(entry.pack, [entry]);
  }
  for (const blobs of packs.values()) blobs.sort((a, b) => a.offset - b.offset);
  return packs;
}

/** The size of a pack file as its index entries describe it: the blobs, then the header. */
export function packSizeOf(blobs: readonly PackBlob[]): number {
  return blobs.reduce((n, b) => n + b.length, 0) + packHeaderSize(blobs);
}

/** A set of blob ids of one type, compact (32 bytes an id and some slots). */
export class BlobSet {
  readonly #table = new IdTable();

  get size(): number {
    return this.#table.size;
  }

  has(id: string): boolean {
    return this.#table.first(idBytes(id)) >= 0;
  }

  /** The ids, in the order they were added. */
  *values(): Generator<string> {
    for (let entry = 0; entry < this.#table.size; entry++) yield this.#table.hex(entry);
  }

  /** Adds the id; false when it was there already. */
  add(id: string): boolean {
    const bytes = idBytes(id);
    if (this.#table.first(bytes) >= 0) return false;
    this.#table.add(bytes);
    return true;
  }
}

/** Where a tree was found: the snapshot whose root it is, or the directory node of a parent tree. */
export interface TreeRef {
  tree: string;
  snapshot?: string | undefined;
  parent?: string | undefined;
  name?: string | undefined;
}

export interface TreeWalkHandlers {
  /** A tree that loaded and decoded. */
  tree(ref: TreeRef, nodes: Node[]): void;
  /** A tree not in the index (`missing`), or that failed to load or decode. Throw to stop the walk. */
  error(ref: TreeRef, error: Error, missing: boolean): void;
}

/**
 * Loads the trees below `roots`, each once, a few at a time, level by level, and hands each to the
 * handlers in a fixed order (level by level, each level in the order its trees were met). `seen`
 * collects the tree ids met (loaded or not). A handler that throws stops the walk, once the loads
 * under way have settled.
 */
export async function walkTrees(
  repo: Pick<Repo, 'loadBlob'>,
  roots: TreeRef[],
  handlers: TreeWalkHandlers,
  options: SignalOptions & {
    seen?: BlobSet | undefined;
    concurrency?: number | undefined;
    onTree?: ((done: number) => void) | undefined;
  } = {},
): Promise<BlobSet> {
  const seen = options.seen ?? new BlobSet();
  let level = roots.filter((ref) => seen.add(ref.tree));
  let done = 0;
  while (level.length > 0) {
    const nextLevel: TreeRef[] = [];
    // Loaded a few at a time, handed to the handlers in the level's order: which parent names a tree
    // first, and the order of the problems reported, do not depend on which load finished first.
    await forEachInOrder(
      level,
      options.concurrency ?? 4,
      async (ref): Promise<{ nodes: Node[] } | { error: Error }> => {
        try {
          return { nodes: decodeTree(await repo.loadBlob('tree', ref.tree, options)) };
        } catch (error) {
          options.signal?.throwIfAborted();
          return { error: error instanceof Error ? error : new Error(String(error)) };
        }
      },
      (result, ref) => {
        if ('error' in result) handlers.error(ref, result.error, result.error instanceof BlobNotFoundError);
        else {
          handlers.tree(ref, result.nodes);
          for (const node of result.nodes)
            if (node.type === 'dir' && node.subtree && seen.add(node.subtree))
              nextLevel.push({ tree: node.subtree, parent: ref.tree, name: node.name });
        }
        options.onTree?.(++done);
      },
    );
    level = nextLevel;
  }
  return seen;
}
