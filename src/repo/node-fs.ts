// Between the filesystem and restic nodes: a node from lstat as restic 0.14's NodeFromFileInfo and its
// archiver make it, and a node's metadata put back on a restored entry as restic's RestoreMetadata does.
// Not done here (Node.js has no API for them): extended attributes (restic reads them on Linux; a caller
// may pass them in), creating device nodes and fifos (the restorer's job).
import { chmodSync, lchownSync, lutimesSync, rmSync, utimesSync, type BigIntStats } from 'node:fs';
import { lstat, readFile, readlink } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  FileMode,
  hasFileMode,
  type ExtendedAttribute,
  type Node,
  type NodeTime,
  type NodeType,
} from './tree.ts';

// The st_mode bits (POSIX's values, the same on every Unix Node.js runs on; node:fs's constants lack some).
const S_IFMT = 0o170000;
const S_IFSOCK = 0o140000;
const S_IFLNK = 0o120000;
const S_IFREG = 0o100000;
const S_IFBLK = 0o060000;
const S_IFDIR = 0o040000;
const S_IFCHR = 0o020000;
const S_IFIFO = 0o010000;
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const S_ISVTX = 0o1000;

/** uid and gid to names; "" when there is none (restic stores no name then). */
export interface AccountNames {
  user(uid: number): string;
  group(gid: number): string;
}

export interface NodeFromStatOptions {
  /** Symlinks: the target (restic reads it with readlink). */
  linkTarget?: string;
  /** Names for uid and gid. Default: none (the node has no user and group names). */
  names?: AccountNames;
  /** Keep the access time. Default false: restic's archiver sets atime to mtime unless --with-atime. */
  withAtime?: boolean;
  /** The UTC offset in minutes of the zone times are shown in, at a given time. Default: the local zone's. */
  utcOffset?: (unixMillis: number) => number;
  extendedAttributes?: ExtendedAttribute[];
}

/** The local zone's offset from UTC, in minutes east, at a given time (what Go's time.Local shows). */
export function localUtcOffset(unixMillis: number): number {
  const offset = -new Date(unixMillis).getTimezoneOffset();
  return offset === 0 ? 0 : offset;
}

/** restic's node type of a stat mode; undefined for a type restic does not know. */
export function nodeTypeOf(unixMode: number): NodeType | undefined {
  switch (unixMode & S_IFMT) {
    case S_IFREG:
      return 'file';
    case S_IFDIR:
      return 'dir';
    case S_IFLNK:
      return 'symlink';
    case S_IFBLK:
      return 'dev';
    case S_IFCHR:
      return 'chardev';
    case S_IFIFO:
      return 'fifo';
    case S_IFSOCK:
      return 'socket';
    default:
      return undefined;
  }
}

/**
 * A unix st_mode as Go's os.FileMode (os/stat_linux.go): the permission bits, the type as FileMode's high
 * bits (S_IFDIR → dir, S_IFCHR → device|charDevice, ...), S_ISUID/S_ISGID/S_ISVTX → setuid/setgid/sticky.
 */
export function goFileMode(unixMode: number): number {
  let mode = unixMode & 0o777;
  switch (unixMode & S_IFMT) {
    case S_IFBLK:
      mode += FileMode.device;
      break;
    case S_IFCHR:
      mode += FileMode.device + FileMode.charDevice;
      break;
    case S_IFDIR:
      mode += FileMode.dir;
      break;
    case S_IFIFO:
      mode += FileMode.namedPipe;
      break;
    case S_IFLNK:
      mode += FileMode.symlink;
      break;
    case S_IFSOCK:
      mode += FileMode.socket;
      break;
  }
  if (unixMode & S_ISUID) mode += FileMode.setuid;
  if (unixMode & S_ISGID) mode += FileMode.setgid;
  if (unixMode & S_ISVTX) mode += FileMode.sticky;
  return mode;
}

/** The chmod argument for a Go FileMode, as Go's os.Chmod makes it: permissions and setuid/setgid/sticky. */
export function unixPermissions(goMode: number): number {
  const bit = (flag: number) => hasFileMode(goMode, flag);
  return (
    (goMode & 0o777) |
    (bit(FileMode.setuid) ? S_ISUID : 0) |
    (bit(FileMode.setgid) ? S_ISGID : 0) |
    (bit(FileMode.sticky) ? S_ISVTX : 0)
  );
}

/** An entry whose lstat type restic has no node type for. */
export class UnsupportedFileTypeError extends Error {
  override readonly name = 'UnsupportedFileTypeError';
  readonly entry: string;
  readonly mode: number;
  constructor(entry: string, mode: number) {
    super(
      `${JSON.stringify(entry)} has file type ${(mode & S_IFMT).toString(8)}, which restic does not store`,
    );
    this.entry = entry;
    this.mode = mode;
  }
}

/**
 * The node restic 0.14 makes for a directory entry from its lstat (`fs.lstat(path, { bigint: true })`):
 * type, Go FileMode, the three times with nanoseconds (atime = mtime unless `withAtime`), uid, gid, names,
 * inode, device id; for files the size and link count; for symlinks the target and link count; for devices
 * st_rdev and the link count. `content` is [] for files (the caller adds the data blob ids) and null
 * otherwise; a directory's `subtree` is for the caller to set. restic's archiver stores no sockets: a
 * backup should skip them as it does.
 */
export function nodeFromStat(name: string, stats: BigIntStats, options: NodeFromStatOptions = {}): Node {
  const unixMode = Number(stats.mode);
  const type = nodeTypeOf(unixMode);
  if (!type) throw new UnsupportedFileTypeError(name, unixMode);
  const utcOffset = options.utcOffset ?? localUtcOffset;
  const time = (ns: bigint): NodeTime => ({
    unixNano: ns,
    utcOffsetMinutes: utcOffset(Number(ns / 1_000_000n)),
  });
  const uid = Number(stats.uid);
  const gid = Number(stats.gid);
  const node: Node = {
    name,
    type,
    mode: goFileMode(unixMode),
    mtime: time(stats.mtimeNs),
    atime: time(options.withAtime ? stats.atimeNs : stats.mtimeNs),
    ctime: time(stats.ctimeNs),
    uid,
    gid,
    content: type === 'file' ? [] : null,
  };
  const user = options.names?.user(uid);
  if (user) node.user = user;
  const group = options.names?.group(gid);
  if (group) node.group = group;
  if (stats.ino) node.inode = stats.ino;
  if (stats.dev) node.deviceId = stats.dev;
  if (type === 'file' && stats.size) node.size = Number(stats.size);
  if (type === 'file' || type === 'symlink' || type === 'dev' || type === 'chardev') {
    if (stats.nlink) node.links = Number(stats.nlink);
  }
  if (type === 'symlink' && options.linkTarget) node.linkTarget = options.linkTarget;
  if ((type === 'dev' || type === 'chardev') && stats.rdev) node.device = stats.rdev;
  if (options.extendedAttributes?.length) node.extendedAttributes = options.extendedAttributes;
  return node;
}

/** lstat, and readlink for a symlink, then nodeFromStat (the node is named after the path's last part). */
export async function readNode(
  path: string,
  options: Omit<NodeFromStatOptions, 'linkTarget'> = {},
): Promise<Node> {
  const stats = await lstat(path, { bigint: true });
  const linkTarget = stats.isSymbolicLink() ? await readlink(path) : undefined;
  return nodeFromStat(basename(path), stats, linkTarget === undefined ? options : { ...options, linkTarget });
}

/**
 * uid and gid names from passwd and group files (default /etc/passwd and /etc/group, what Go's os/user
 * reads without cgo). Unknown ids give "".
 */
export async function readAccountNames(
  files: { passwd?: string; group?: string } = {},
): Promise<AccountNames> {
  const table = async (path: string): Promise<Map<number, string>> => {
    const names = new Map<number, string>();
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      return names; // no file, no names: restic stores none either
    }
    for (const line of text.split('\n')) {
      if (line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
      const [name, , id] = line.split(':');
      if (!name || id === undefined || !/^\d+$/.test(id)) continue;
      if (!names.has(Number(id))) names.set(Number(id), name); // the first entry wins, as in getpwuid
    }
    return names;
  };
  const [users, groups] = await Promise.all([
    table(files.passwd ?? '/etc/passwd'),
    table(files.group ?? '/etc/group'),
  ]);
  return { user: (uid) => users.get(uid) ?? '', group: (gid) => groups.get(gid) ?? '' };
}

/** Something that could not be put back on a restored entry; the others were still tried. */
export interface MetadataProblem {
  path: string;
  operation: 'lchown' | 'chmod' | 'utimes';
  error: Error;
}

export interface ApplyMetadataOptions {
  /**
   * 'best-effort' (default) skips an owner change the process may not make (EPERM), as restic does when
   * not root; 'required' reports it.
   */
  ownership?: 'best-effort' | 'required';
}

/**
 * A NodeTime as fs.utimes takes it: seconds as a numeric string, because Node.js reads a negative number
 * (a time before 1970) as "now" but not a negative string. Node.js turns it into a double: about 240 ns
 * apart around 2025, so times come back to within a quarter microsecond, not to the nanosecond.
 */
export function utimesSeconds(time: NodeTime): string {
  const seconds = time.unixNano / 1_000_000_000n;
  const nanos = time.unixNano - seconds * 1_000_000_000n;
  return String(Number(seconds) + Number(nanos) / 1e9);
}

/** What applyMetadata puts back of a node. */
export type NodeMetadata = Pick<Node, 'type' | 'mode' | 'uid' | 'gid' | 'atime' | 'mtime'>;

/**
 * Puts a node's metadata on the entry at `path`, as restic's RestoreMetadata: owner (lchown), mode (chmod
 * with the permission, setuid, setgid and sticky bits; not for symlinks), then access and modification
 * times (lutimes for symlinks). Every step is tried; the ones that failed come back as problems. Extended
 * attributes are not restored (Node.js cannot set them).
 */
export function applyMetadata(
  path: string,
  node: NodeMetadata,
  options: ApplyMetadataOptions = {},
): MetadataProblem[] {
  // Synchronous calls: three metadata syscalls on a local file take a few microseconds, and three
  // thread-pool round trips per restored file cost more CPU than that (docs/benchmarks.md).
  const problems: MetadataProblem[] = [];
  const attempt = (operation: MetadataProblem['operation'], step: () => void) => {
    try {
      step();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (operation === 'lchown' && code === 'EPERM' && options.ownership !== 'required') return;
      problems.push({ path, operation, error: error as Error });
    }
  };
  attempt('lchown', () => lchownSync(path, node.uid, node.gid));
  if (node.type !== 'symlink') attempt('chmod', () => chmodSync(path, unixPermissions(node.mode)));
  const atime = utimesSeconds(node.atime);
  const mtime = utimesSeconds(node.mtime);
  attempt('utimes', () =>
    node.type === 'symlink' ? lutimesSync(path, atime, mtime) : utimesSync(path, atime, mtime),
  );
  return problems;
}

/**
 * Makes `path` by `make`, and when something is in the way (a file, a directory, even a full one),
 * removes it and makes it again: a restore replaces what is there (the restorer and its blob workers).
 */
export function replaceSync(path: string, make: (path: string) => void): void {
  try {
    make(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'EISDIR' && code !== 'ENOTEMPTY' && code !== 'ENOTDIR') throw error;
    rmSync(path, { recursive: true, force: true });
    make(path);
  }
}
