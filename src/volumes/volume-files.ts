// Single-file restore: one path of a pod volume's snapshot (a file, or a directory with everything in it)
// written into a local directory, where it lands under its own name (as `cp -a` puts it), with its
// contents, modes and times. Nothing already there is replaced unless asked: the entries that would be
// are found before anything is written.
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  loadSnapshot,
  loadTree,
  lookupPath,
  restoreSnapshot,
  splitSnapshotPath,
  type Node,
  type Repo,
  type RestoreProgress,
  type RestoreResult,
} from '../repo/index.ts';

/** The target holds entries the restore would replace. */
export class RestoreTargetExistsError extends Error {
  override readonly name = 'RestoreTargetExistsError';
  /** The first of them (local paths). */
  readonly paths: string[];
  /** How many there are. */
  readonly count: number;
  constructor(paths: string[], count: number) {
    super(
      `${count === 1 ? `${paths[0] ?? ''} exists` : `${count} entries exist already (${paths.join(', ')}${count > paths.length ? ', …' : ''})`}: ` +
        'nothing was written; pass --overwrite to replace them',
    );
    this.paths = paths;
    this.count = count;
  }
}

export interface RestoreVolumePathInput {
  repo: Repo;
  snapshotId: string;
  /** The path within the snapshot; `/` is the whole volume (its entries land in `target`). */
  path: string;
  /** The local directory the entry lands in; made when missing. */
  target: string;
  /** Replace entries that exist in the target. */
  overwrite: boolean;
  /** Hold a non-exclusive repository lock while restoring (default true; false for a read-only location). */
  lock?: boolean | undefined;
  onProgress?: ((progress: RestoreProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** At most this many existing entries are named in RestoreTargetExistsError. */
const CONFLICTS_NAMED = 5;

/** Restores one path of a snapshot into `target` (see the top of this file). */
export async function restoreVolumePath(input: RestoreVolumePathInput): Promise<RestoreResult> {
  const { repo, signal } = input;
  const snapshot = await loadSnapshot(repo, input.snapshotId, { signal });
  const parts = splitSnapshotPath(input.path);
  const name = parts.at(-1);
  // The tree holding the entry, so that it lands at target/<name> rather than under its parents' names.
  const target = await lookupPath(repo, snapshot.tree, input.path, { signal }); // SnapshotPathError if missing
  const parentTree =
    name === undefined
      ? snapshot.tree
      : ((await lookupPath(repo, snapshot.tree, parts.slice(0, -1).join('/'), { signal })).tree as string);
  const conflicts = { paths: [] as string[], count: 0 };
  if (!input.overwrite) {
    const found = (path: string) => {
      if (conflicts.paths.length < CONFLICTS_NAMED) conflicts.paths.push(path);
      conflicts.count++;
    };
    if (name === undefined) await findExisting(repo, snapshot.tree, input.target, found, signal);
    else await existing(repo, target.node as Node, join(input.target, name), found, signal);
    if (conflicts.count > 0) throw new RestoreTargetExistsError(conflicts.paths, conflicts.count);
  }
  return restoreSnapshot(repo, {
    treeId: parentTree,
    ...(name === undefined ? {} : { include: name }),
    target: input.target,
    // Without --overwrite, an entry that appeared since the look above is left alone (and counted).
    overwrite: input.overwrite ? 'always' : 'never',
    lock: input.lock,
    onProgress: input.onProgress,
    signal,
  });
}

/** Reports the entries of `tree` that exist under `dir` and would be replaced. */
async function findExisting(
  repo: Repo,
  tree: string,
  dir: string,
  found: (path: string) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
  for (const node of await loadTree(repo, tree, { signal }))
    await existing(repo, node, join(dir, node.name), found, signal);
}

/** Whether restoring `node` at `path` replaces something; a directory over a directory merges into it. */
async function existing(
  repo: Repo,
  node: Node,
  path: string,
  found: (path: string) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (node.type === 'socket') return; // not restored
  const stat = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!stat) return;
  if (node.type === 'dir' && stat.isDirectory()) {
    if (node.subtree) await findExisting(repo, node.subtree, path, found, signal);
    return;
  }
  found(path);
}
