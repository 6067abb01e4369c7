// Reading snapshot files (`snapshots/<id>`) for the maintenance operations: snapshot.ts's parseSnapshot
// (restic's Snapshot JSON, checked as restic decodes it) reduced to what check, forget and prune look
// at, with the time parsed and absent host, user and tags as '' and [].
import type { SignalOptions } from './environment.ts';
import type { Repo } from './repo.ts';
import { parseSnapshot } from './snapshot.ts';
import { parseNodeTime, type NodeTime } from './tree.ts';

/** A snapshot as the maintenance operations see it. */
export interface SnapshotInfo {
  /** The snapshot file's name. */
  id: string;
  /** The time as stored (RFC 3339 with the offset it was taken in). */
  time: string;
  /** The time parsed: nanoseconds since the epoch and the stored offset. */
  instant: NodeTime;
  /** The root tree blob. */
  tree: string;
  paths: string[];
  hostname: string;
  username: string;
  tags: string[];
  parent?: string | undefined;
}

/** A snapshot file that does not load or parse. */
export interface SnapshotLoadError {
  id: string;
  error: Error;
}

/**
 * Checks a snapshot file's JSON with parseSnapshot, as the maintenance operations see it; CorruptDataError
 * naming the file when it is not a snapshot.
 */
export function parseSnapshotInfo(id: string, value: unknown): SnapshotInfo {
  const snapshot = parseSnapshot(value, id);
  const info: SnapshotInfo = {
    id,
    time: snapshot.time,
    instant: parseNodeTime(snapshot.time),
    tree: snapshot.tree,
    paths: snapshot.paths,
    hostname: snapshot.hostname ?? '',
    username: snapshot.username ?? '',
    tags: snapshot.tags ?? [],
  };
  if (snapshot.parent) info.parent = snapshot.parent;
  return info;
}

/** The names of the snapshot files, sorted. */
export async function listSnapshots(
  repo: Pick<Repo, 'list'>,
  options: SignalOptions = {},
): Promise<string[]> {
  const ids: string[] = [];
  for await (const { name } of repo.list('snapshots', options)) ids.push(name);
  return ids.sort();
}

/**
 * Every snapshot of the repository (or those named by `ids`), and the snapshot files that fail to load
 * or parse.
 */
export async function loadSnapshots(
  repo: Pick<Repo, 'list' | 'loadJson'>,
  options: SignalOptions & { ids?: readonly string[] | undefined } = {},
): Promise<{ snapshots: SnapshotInfo[]; errors: SnapshotLoadError[] }> {
  const ids = options.ids ?? (await listSnapshots(repo, options));
  const snapshots: SnapshotInfo[] = [];
  const errors: SnapshotLoadError[] = [];
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++] as string;
      try {
        snapshots.push(parseSnapshotInfo(id, await repo.loadJson('snapshots', id, options)));
      } catch (error) {
        options.signal?.throwIfAborted();
        errors.push({ id, error: error instanceof Error ? error : new Error(String(error)) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, ids.length) }, worker));
  const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  return { snapshots: snapshots.sort(byId), errors: errors.sort(byId) };
}
