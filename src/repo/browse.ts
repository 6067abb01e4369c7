// Reading snapshots without restoring them: which snapshots there are (newest first, filtered by tags,
// host or paths), the entries of a directory in one (restic ls), and one file's bytes as a stream
// (restic dump). Paths within a snapshot are `/`-separated from its root tree, `/` being the root (the
// backed-up directory's contents).
import { Readable } from 'node:stream';
import type { SignalOptions } from './environment.ts';
import { RepoError } from './errors.ts';
import type { Repo } from './repo.ts';
import { loadSnapshot, parseSnapshot, snapshotTimeNs, type Snapshot } from './snapshot.ts';
import { decodeTree, type Node } from './tree.ts';

/** A path that names nothing in a snapshot, or names the wrong kind of entry. */
export class SnapshotPathError extends RepoError {
  override readonly name = 'SnapshotPathError';
  readonly path: string;
  constructor(path: string, reason: string) {
    super(`${JSON.stringify(path)} in the snapshot: ${reason}`);
    this.path = path;
  }
}

/** A path's names: `/a/b/`, `a/b` and `./a//b` are ["a", "b"]; `/` is []. `..` is refused. */
export function splitSnapshotPath(path: string): string[] {
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw new SnapshotPathError(path, 'paths within a snapshot may not use ".."');
  return parts;
}

/** A tree blob's nodes (sorted by name, as stored). */
export async function loadTree(repo: Repo, id: string, options: SignalOptions = {}): Promise<Node[]> {
  return decodeTree(await repo.loadBlob('tree', id, options));
}

/** What a path names: the root or a directory (with its tree id), or another node. */
export interface PathTarget {
  /** Absent for the root. */
  node?: Node;
  /** The tree of the root or of a directory. */
  tree?: string;
}

/** Follows `path` from the tree `root`; SnapshotPathError when it names nothing. */
export async function lookupPath(
  repo: Repo,
  root: string,
  path: string,
  options: SignalOptions = {},
): Promise<PathTarget> {
  let target: PathTarget = { tree: root };
  const parts = splitSnapshotPath(path);
  for (const [i, name] of parts.entries()) {
    if (!target.tree) throw new SnapshotPathError(path, `${parts.slice(0, i).join('/')} is not a directory`);
    const node = (await loadTree(repo, target.tree, options)).find((n) => n.name === name);
    if (!node) throw new SnapshotPathError(path, 'no such file or directory');
    if (node.type === 'dir' && !node.subtree)
      throw new SnapshotPathError(path, `directory ${parts.slice(0, i + 1).join('/')} has no subtree`);
    target = node.type === 'dir' ? { node, tree: node.subtree as string } : { node };
  }
  return target;
}

export interface ListEntry {
  /** `/`-separated from the snapshot's root, starting with `/`. */
  path: string;
  node: Node;
}

/**
 * The entries of the directory at `path` in a snapshot (id or prefix), in name order; with `recursive`,
 * each directory followed by its entries (restic ls). A path naming a file lists that file.
 */
export async function* listSnapshot(
  repo: Repo,
  snapshotId: string,
  path = '/',
  options: SignalOptions & { recursive?: boolean } = {},
): AsyncGenerator<ListEntry> {
  const snapshot = await loadSnapshot(repo, snapshotId, options);
  const target = await lookupPath(repo, snapshot.tree, path, options);
  const prefix = splitSnapshotPath(path)
    .map((part) => `/${part}`)
    .join('');
  if (!target.tree) {
    yield { path: prefix, node: target.node as Node };
    return;
  }
  async function* walk(tree: string, at: string): AsyncGenerator<ListEntry> {
    for (const node of await loadTree(repo, tree, options)) {
      const entryPath = `${at}/${node.name}`;
      yield { path: entryPath, node };
      if (options.recursive && node.type === 'dir' && node.subtree) yield* walk(node.subtree, entryPath);
    }
  }
  yield* walk(target.tree, prefix);
}

export interface SnapshotFilter extends SignalOptions {
  /** Snapshots with every one of these tags. */
  tags?: readonly string[] | undefined;
  hostname?: string | undefined;
  /** Snapshots whose paths include every one of these. */
  paths?: readonly string[] | undefined;
}

/** The repository's snapshots that pass the filter, newest first. */
export async function findSnapshots(repo: Repo, filter: SnapshotFilter = {}): Promise<Snapshot[]> {
  const { signal } = filter;
  const ids: string[] = [];
  for await (const { name } of repo.list('snapshots', { signal })) ids.push(name);
  const snapshots: Snapshot[] = [];
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++] as string;
      snapshots.push(parseSnapshot(await repo.loadJson('snapshots', id, { signal }), id));
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, ids.length) }, worker));
  const wanted = snapshots.filter(
    (s) =>
      (filter.hostname === undefined || s.hostname === filter.hostname) &&
      (filter.tags ?? []).every((tag) => s.tags?.includes(tag)) &&
      (filter.paths ?? []).every((path) => s.paths.includes(path)),
  );
  const time = new Map(wanted.map((s) => [s.id, snapshotTimeNs(s)]));
  return wanted.sort((a, b) => {
    const d = (time.get(b.id) as bigint) - (time.get(a.id) as bigint);
    return d > 0n ? 1 : d < 0n ? -1 : a.id < b.id ? -1 : 1;
  });
}

/**
 * The bytes of the regular file at `path` in a snapshot (id or prefix), blob by blob, each verified as
 * it is read (a failed blob errors the stream). SnapshotPathError, before any byte, for a path that is
 * missing or not a regular file.
 */
export async function readFile(
  repo: Repo,
  snapshotId: string,
  path: string,
  options: SignalOptions = {},
): Promise<Readable> {
  const snapshot = await loadSnapshot(repo, snapshotId, options);
  const { node } = await lookupPath(repo, snapshot.tree, path, options);
  if (node?.type !== 'file') throw new SnapshotPathError(path, 'not a regular file');
  const content = node.content ?? [];
  async function* blobs(): AsyncGenerator<Buffer> {
    for (const id of content) yield await repo.loadBlob('data', id, options);
  }
  return Readable.from(blobs(), { objectMode: false, highWaterMark: 1 });
}
