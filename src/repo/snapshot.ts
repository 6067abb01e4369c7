// Snapshot files (`snapshots/<id>`): one encrypted JSON document per backup, naming the root tree and
// saying when, where from and by whom. The shape is restic 0.14's Snapshot (internal/restic/snapshot.go):
// fields in its order, the optional ones left out when empty as Go's omitempty does, `time` as RFC 3339
// with nanoseconds and the zone offset. A snapshot's id is its file name (the SHA-256 of the stored bytes);
// commands take the id or an unambiguous prefix of it, as restic does.
import { handlePath } from './backend.ts';
import type { SignalOptions } from './environment.ts';
import { CorruptDataError, RepoError } from './errors.ts';
import { isId } from './ids.ts';
import type { Repo } from './repo.ts';
import { parseNodeTime } from './tree.ts';

/** A snapshot file's JSON, in restic's field order. */
export interface SnapshotJson {
  time: string;
  parent?: string;
  tree: string;
  paths: string[];
  hostname?: string;
  username?: string;
  uid?: number;
  gid?: number;
  excludes?: string[];
  tags?: string[];
  /** The snapshot this one was copied or rewritten from (restic copy); Cairn does not write it. */
  original?: string;
}

/** A snapshot as read from the repository, with its id. */
export interface Snapshot extends SnapshotJson {
  id: string;
}

export interface NewSnapshotOptions {
  /** RFC 3339 with nanoseconds and zone: formatNodeTime of the backup's start. */
  time: string;
  tree: string;
  paths: readonly string[];
  parent?: string | undefined;
  hostname?: string | undefined;
  username?: string | undefined;
  uid?: number | undefined;
  gid?: number | undefined;
  excludes?: readonly string[] | undefined;
  tags?: readonly string[] | undefined;
}

/** A snapshot's JSON as restic writes it: its field order, empty optional fields left out. */
export function newSnapshotJson(options: NewSnapshotOptions): SnapshotJson {
  // Insertion order is JSON.stringify's order: time, parent, tree, paths, ... as restic.
  const ordered = { time: options.time } as SnapshotJson;
  if (options.parent) ordered.parent = options.parent;
  ordered.tree = options.tree;
  ordered.paths = [...options.paths];
  if (options.hostname) ordered.hostname = options.hostname;
  if (options.username) ordered.username = options.username;
  if (options.uid) ordered.uid = options.uid;
  if (options.gid) ordered.gid = options.gid;
  if (options.excludes?.length) ordered.excludes = [...options.excludes];
  if (options.tags?.length) ordered.tags = [...options.tags];
  return ordered;
}

/**
 * Checks a snapshot file's JSON; `id` names it for errors (CorruptDataError). Like restic's decoding, a
 * field of the wrong type is an error and `null` is an absent field; unknown fields are dropped. The one
 * parser of snapshot files: the maintenance operations' parseSnapshotInfo builds on it.
 */
export function parseSnapshot(value: unknown, id: string): Snapshot {
  const path = handlePath({ type: 'snapshots', name: id });
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new CorruptDataError(path, 'the snapshot is not a JSON object');
  const json = value as Record<string, unknown>;
  const strings = (field: string): string[] | undefined => {
    const v = json[field];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string'))
      throw new CorruptDataError(path, `${field} is not a list of strings`);
    return v;
  };
  const optionalId = (field: string): string | undefined => {
    const v = json[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || !isId(v)) throw new CorruptDataError(path, `${field} is not an id`);
    return v;
  };
  const time = json['time'];
  if (typeof time !== 'string') throw new CorruptDataError(path, 'it has no time');
  try {
    parseNodeTime(time);
  } catch (error) {
    throw new CorruptDataError(path, `its time ${JSON.stringify(time)} is not RFC 3339`, { cause: error });
  }
  const tree = optionalId('tree');
  if (!tree) throw new CorruptDataError(path, 'it has no tree');
  const snapshot: Snapshot = { time, tree, paths: strings('paths') ?? [], id };
  const parent = optionalId('parent');
  if (parent) snapshot.parent = parent;
  for (const field of ['hostname', 'username'] as const) {
    const v = json[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') throw new CorruptDataError(path, `${field} is not a string`);
    if (v) snapshot[field] = v;
  }
  for (const field of ['uid', 'gid'] as const) {
    const v = json[field];
    if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) snapshot[field] = v;
  }
  const excludes = strings('excludes');
  if (excludes?.length) snapshot.excludes = excludes;
  const tags = strings('tags');
  if (tags?.length) snapshot.tags = tags;
  const original = optionalId('original');
  if (original) snapshot.original = original;
  return snapshot;
}

/** Nanoseconds since the epoch of a snapshot's time, for ordering. */
export function snapshotTimeNs(snapshot: SnapshotJson): bigint {
  return parseNodeTime(snapshot.time).unixNano;
}

/** No snapshot has the id, or more than one starts with the prefix given. */
export class SnapshotNotFoundError extends RepoError {
  override readonly name = 'SnapshotNotFoundError';
  readonly repo: string;
  readonly snapshot: string;
  constructor(repo: string, snapshot: string, reason: string) {
    super(`snapshot ${JSON.stringify(snapshot)} in ${repo}: ${reason}`);
    this.repo = repo;
    this.snapshot = snapshot;
  }
}

/** The full id of the snapshot whose id is `idOrPrefix` or starts with it (at least 4 hex digits). */
export async function resolveSnapshotId(
  repo: Repo,
  idOrPrefix: string,
  options: SignalOptions & { description?: string } = {},
): Promise<string> {
  const where = options.description ?? 'the repository';
  if (!/^[0-9a-f]{4,64}$/.test(idOrPrefix))
    throw new SnapshotNotFoundError(where, idOrPrefix, 'not an id or a prefix of at least 4 hex digits');
  const matches: string[] = [];
  for await (const { name } of repo.list('snapshots', options)) {
    if (name === idOrPrefix) return name;
    if (name.startsWith(idOrPrefix)) matches.push(name);
  }
  if (matches.length === 1) return matches[0] as string;
  throw new SnapshotNotFoundError(
    where,
    idOrPrefix,
    matches.length === 0 ? 'no such snapshot' : `the prefix matches ${matches.length} snapshots`,
  );
}

/** Loads and checks a snapshot by id or unambiguous id prefix. */
export async function loadSnapshot(
  repo: Repo,
  idOrPrefix: string,
  options: SignalOptions = {},
): Promise<Snapshot> {
  const id = await resolveSnapshotId(repo, idOrPrefix, options);
  return parseSnapshot(await repo.loadJson('snapshots', id, options), id);
}
