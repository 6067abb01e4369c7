// Repositories for the maintenance tests (check, forget, prune): in memory, with snapshots built by
// hand from a description of files (one data blob per 1 KiB of content), and the fault-injecting
// backend an interrupted prune needs.
import {
  MemoryBackend,
  Repository,
  type Backend,
  type Clock,
  type FileInfo,
  type FileType,
  type Handle,
  type LoadOptions,
  type RepositoryOptions,
  type SignalOptions,
} from '../../src/repo/index.ts';
import { decodeTree, encodeTree, type Node } from '../../src/repo/tree.ts';

export const PASSWORD = 'cairn-maint-test';
const POLYNOMIAL = '3da3358b4dc173';
const CHUNK = 1024;

/**
 * A clock whose short sleeps (the lock's settle wait) end at once, and whose long ones (the lock's
 * refresh interval) last until aborted, so locking costs nothing and refreshing never runs.
 */
export const quickClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (ms <= 1000 || signal?.aborted) return resolve();
      signal?.addEventListener('abort', () => resolve(), { once: true });
    }),
};

export const repoOptions = (more: RepositoryOptions = {}): RepositoryOptions & { password: string } => ({
  password: PASSWORD,
  clock: quickClock,
  ...more,
});

/** A new repository in memory (cheap key derivation). */
export async function memoryRepo(
  more: RepositoryOptions & { backend?: Backend } = {},
): Promise<{ repo: Repository; backend: Backend }> {
  const backend = more.backend ?? new MemoryBackend();
  const repo = await Repository.init(backend, {
    ...repoOptions(more),
    polynomial: POLYNOMIAL,
    keyParams: { N: 1024, r: 8, p: 1 },
  });
  return { repo, backend };
}

/** The same repository opened again: a fresh index. */
export function reopen(backend: Backend, more: RepositoryOptions = {}): Promise<Repository> {
  return Repository.open(backend, repoOptions(more));
}

/** Files (string or bytes) and directories (objects). */
export interface FileTree {
  [name: string]: string | Buffer | FileTree;
}

const TIME = { unixNano: 1_700_000_000_000_000_000n, utcOffsetMinutes: 0 };

/** Saves the blobs of a tree of files and returns its root tree id. */
export async function saveTree(repo: Repository, files: FileTree): Promise<string> {
  const nodes: Node[] = [];
  for (const [name, value] of Object.entries(files)) {
    const base = { name, mtime: TIME, atime: TIME, ctime: TIME, uid: 0, gid: 0 };
    if (typeof value === 'string' || Buffer.isBuffer(value)) {
      const bytes = Buffer.from(value);
      const content: string[] = [];
      for (let at = 0; at < bytes.length; at += CHUNK)
        content.push((await repo.saveBlob('data', bytes.subarray(at, at + CHUNK))).id);
      nodes.push({ ...base, type: 'file', mode: 0o644, size: bytes.length, content });
    } else {
      const subtree = await saveTree(repo, value);
      nodes.push({ ...base, type: 'dir', mode: 2 ** 31 + 0o755, content: null, subtree });
    }
  }
  return (await repo.saveBlob('tree', encodeTree(nodes))).id;
}

export interface SnapshotMeta {
  time?: string;
  hostname?: string;
  paths?: string[];
  tags?: string[];
}

/** Saves a snapshot of the files (flushing first, so its blobs are indexed); its id and root tree. */
export async function saveSnapshot(
  repo: Repository,
  files: FileTree,
  meta: SnapshotMeta = {},
): Promise<{ id: string; tree: string }> {
  const tree = await saveTree(repo, files);
  await repo.flush();
  const snapshot: Record<string, unknown> = {
    time: meta.time ?? '2024-05-06T07:08:09.123456789+02:00',
    tree,
    paths: meta.paths ?? ['/data'],
    hostname: meta.hostname ?? 'cairn-test',
    username: 'root',
  };
  if (meta.tags) snapshot['tags'] = meta.tags;
  return { id: await repo.saveJson('snapshots', snapshot), tree };
}

/** The blob ids below a tree (the tree itself included). */
export async function blobsOf(
  repo: Repository,
  tree: string,
): Promise<{ data: Set<string>; tree: Set<string> }> {
  const found = { data: new Set<string>(), tree: new Set<string>([tree]) };
  for (const node of decodeTree(await repo.loadBlob('tree', tree))) {
    for (const id of node.content ?? []) found.data.add(id);
    if (node.subtree) {
      const below = await blobsOf(repo, node.subtree);
      for (const id of below.data) found.data.add(id);
      for (const id of below.tree) found.tree.add(id);
    }
  }
  return found;
}

/** Loads (and so verifies) every blob of a snapshot's tree; the number of blobs. */
export async function loadAll(repo: Repository, tree: string): Promise<number> {
  const blobs = await blobsOf(repo, tree);
  for (const id of blobs.data) await repo.loadBlob('data', id);
  return blobs.data.size + blobs.tree.size;
}

/** The files of a backend: path → bytes (for "nothing changed" comparisons). */
export async function filesOf(backend: Backend): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const type of ['data', 'index', 'keys', 'snapshots', 'locks'] as const)
    for await (const { name } of backend.list(type))
      files.set(`${type}/${name}`, (await backend.load({ type, name })).toString('hex'));
  return files;
}

/** Replaces a file's bytes (a backend's files are write-once: remove, then save). */
export async function overwrite(backend: Backend, handle: Handle, bytes: Buffer): Promise<void> {
  await backend.remove(handle);
  await backend.save(handle, bytes);
}

/**
 * A backend that passes everything to another, except that the chosen operations fail once `failAfter`
 * of them have succeeded, until `heal()`: a crash of the process in the middle of a sequence.
 */
export class FaultyBackend implements Backend {
  readonly description: string;
  readonly #inner: Backend;
  readonly #fails: (op: 'save' | 'remove', handle: Handle) => boolean;
  #left: number;
  #healed = false;
  /** Operations that failed. */
  failures: string[] = [];

  constructor(
    inner: Backend,
    options: { fails: (op: 'save' | 'remove', handle: Handle) => boolean; failAfter: number },
  ) {
    this.#inner = inner;
    this.description = `faulty ${inner.description}`;
    this.#fails = options.fails;
    this.#left = options.failAfter;
  }

  heal(): void {
    this.#healed = true;
  }

  #check(op: 'save' | 'remove', handle: Handle): void {
    if (this.#healed || !this.#fails(op, handle)) return;
    if (this.#left > 0) {
      this.#left--;
      return;
    }
    this.failures.push(`${op} ${handle.type}/${handle.name}`);
    throw new Error(`injected failure: ${op} ${handle.type}/${handle.name}`);
  }

  async save(handle: Handle, bytes: Buffer, options?: SignalOptions): Promise<void> {
    this.#check('save', handle);
    return this.#inner.save(handle, bytes, options);
  }

  load(handle: Handle, options?: LoadOptions): Promise<Buffer> {
    return this.#inner.load(handle, options);
  }

  stat(handle: Handle, options?: SignalOptions): Promise<FileInfo | undefined> {
    return this.#inner.stat(handle, options);
  }

  list(type: Exclude<FileType, 'config'>, options?: SignalOptions): AsyncIterable<FileInfo> {
    return this.#inner.list(type, options);
  }

  async remove(handle: Handle, options?: SignalOptions): Promise<void> {
    this.#check('remove', handle);
    return this.#inner.remove(handle, options);
  }
}
