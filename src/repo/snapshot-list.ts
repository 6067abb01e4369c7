// Reading snapshot files (`snapshots/<id>`) for the maintenance operations: restic's Snapshot JSON
// ({"time", "parent"?, "tree", "paths", "hostname"?, "username"?, "uid"?, "gid"?, "excludes"?, "tags"?,
// "original"?, ...}) reduced to what check, forget and prune look at. Unknown fields are ignored, as
// restic ignores them.
import { handlePath } from './backend.ts';
import type { SignalOptions } from './environment.ts';
import { CorruptDataError } from './errors.ts';
import { isId } from './ids.ts';
import type { Repo } from './repo.ts';
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

/** Checks a snapshot file's JSON; CorruptDataError naming the file when it is not a snapshot. */
export function parseSnapshotInfo(id: string, value: unknown): SnapshotInfo {
  const path = handlePath({ type: 'snapshots', name: id });
  const bad = (reason: string) => new CorruptDataError(path, reason);
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw bad('it is not a JSON object');
  const json = value as Record<string, unknown>;
  if (typeof json['tree'] !== 'string' || !isId(json['tree'])) throw bad('it has no valid tree id');
  if (typeof json['time'] !== 'string') throw bad('it has no time');
  let instant: NodeTime;
  try {
    instant = parseNodeTime(json['time']);
  } catch (error) {
    throw new CorruptDataError(path, (error as Error).message, { cause: error });
  }
  const strings = (field: string): string[] => {
    const list = json[field] ?? [];
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string'))
      throw bad(`${field} is not a list of strings`);
    return list;
  };
  const text = (field: string): string => {
    const s = json[field] ?? '';
    if (typeof s !== 'string') throw bad(`${field} is not a string`);
    return s;
  };
  const info: SnapshotInfo = {
    id,
    time: json['time'],
    instant,
    tree: json['tree'],
    paths: strings('paths'),
    hostname: text('hostname'),
    username: text('username'),
    tags: strings('tags'),
  };
  if (typeof json['parent'] === 'string') info.parent = json['parent'];
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
