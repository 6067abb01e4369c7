// The restorer: writes a snapshot's tree (or one path in it) into a directory, as restic 0.14's restore
// does, so what `backupDirectory` or `restic backup` stored comes back with its contents, modes, owners,
// times, symlinks, fifos and hard links.
//
// The walk goes depth-first in name order; files are written a few at a time (`concurrency`), each blob
// read by range from its pack and verified (MAC, then SHA-256 against its id) before a byte of it is
// written. A file is written under a temporary name beside its own and renamed only once all its blobs
// passed, so a file whose data failed never appears under its name. A blob of zeros is not written but
// skipped over (`sparse`, default on), so holes stay holes; the file is truncated to its length at the
// end. Metadata (owner, mode, times) is put on each entry once it is complete, on a directory after
// everything in it. Entries with the same device and inode in the snapshot are hard-linked to the first
// one restored. Fifos are made with mkfifo(1) and devices with mknod(1) (as root only): Node.js has no
// call for either. Problems with single entries are collected and the rest goes on (restic's way); the
// caller decides what a partial restore means. Nothing large is cached: the ids of the zero blobs met.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, rename, rm, symlink, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { loadTree, lookupPath, splitSnapshotPath } from './browse.ts';
import { systemClock, type Clock, type SignalOptions } from './environment.ts';
import { Semaphore, throttle } from './limit.ts';
import { applyMetadata, unixPermissions } from './node-fs.ts';
import type { Repo } from './repo.ts';
import { loadSnapshot } from './snapshot.ts';
import type { Node } from './tree.ts';

const run = promisify(execFile);

export interface RestoreProgress {
  filesDone: number;
  /** Bytes of the files done or being written (holes included). */
  bytesDone: number;
  problems: number;
  /** Files and bytes to restore, once a walk of the trees beside the restore has counted them. */
  total?: { files: number; bytes: number } | undefined;
}

/** An entry not (or not fully) restored: its path within the snapshot and why. */
export interface RestoreProblem {
  path: string;
  reason: string;
}

export interface RestoreStats {
  files: number;
  dirs: number;
  symlinks: number;
  /** Fifos and device nodes. */
  specials: number;
  /** Entries made as hard links to a file restored before. */
  hardLinks: number;
  bytesWritten: number;
  /** Bytes of zero blobs skipped over (holes). */
  sparseBytes: number;
  /** Entries left as they were because they existed (overwrite 'never'). */
  skipped: number;
}

export interface RestoreOptions extends SignalOptions {
  /** The snapshot (id or unambiguous prefix); or give `treeId`. */
  snapshotId?: string | undefined;
  /** A tree to restore instead of a snapshot's root tree. */
  treeId?: string | undefined;
  /** The directory to restore into; made when missing. */
  target: string;
  /**
   * One path within the snapshot to restore (a file or a directory, with everything in it); it lands at
   * the same path under `target`, its parent directories made as in the snapshot.
   */
  include?: string | undefined;
  /**
   * What to do with entries already in the target: 'always' (default; the target is expected fresh, and
   * files there are replaced) or 'never' (they are left alone and counted as skipped).
   */
  overwrite?: 'always' | 'never' | undefined;
  /** Files written at once. Default 4. */
  concurrency?: number | undefined;
  /**
   * Hold a non-exclusive lock while restoring, so that no prune removes packs meanwhile (restic's
   * restore does the same). Default true; false for a repository this process may not write to.
   */
  lock?: boolean | undefined;
  /** Skip over zero blobs, leaving holes. Default true. */
  sparse?: boolean | undefined;
  /** 'best-effort' (default) skips owner changes the process may not make; 'required' reports them. */
  ownership?: 'best-effort' | 'required' | undefined;
  onProgress?: ((progress: RestoreProgress) => void) | undefined;
  /** At most one progress call per this many milliseconds (and one at the end). Default 1000. */
  progressIntervalMs?: number | undefined;
  clock?: Clock | undefined;
}

export interface RestoreResult {
  stats: RestoreStats;
  problems: RestoreProblem[];
}

/** Restores a snapshot's tree, or a path in it, into `options.target`; see the file's header. */
export async function restoreSnapshot(repo: Repo, options: RestoreOptions): Promise<RestoreResult> {
  options.signal?.throwIfAborted();
  const lock =
    options.lock === false ? undefined : await repo.lock({ exclusive: false, signal: options.signal });
  try {
    const signals = [options.signal, lock?.signal].filter((s) => s !== undefined);
    return await restore(repo, options, signals.length > 0 ? AbortSignal.any(signals) : undefined);
  } finally {
    await lock?.release();
  }
}

async function restore(
  repo: Repo,
  options: RestoreOptions,
  signal: AbortSignal | undefined,
): Promise<RestoreResult> {
  let tree = options.treeId;
  if (options.snapshotId !== undefined)
    tree = (await loadSnapshot(repo, options.snapshotId, { signal })).tree;
  if (!tree) throw new TypeError('restoreSnapshot needs a snapshotId or a treeId');
  const include = options.include === undefined ? [] : splitSnapshotPath(options.include);
  if (include.length > 0) await lookupPath(repo, tree, options.include as string, { signal }); // exists?
  const target = resolve(options.target);
  await mkdir(target, { recursive: true });
  const restorer = new Restorer(repo, {
    signal,
    overwrite: options.overwrite ?? 'always',
    concurrency: options.concurrency ?? 4,
    sparse: options.sparse ?? true,
    ownership: options.ownership ?? 'best-effort',
    onProgress: options.onProgress,
    progressIntervalMs: options.progressIntervalMs ?? 1000,
    clock: options.clock ?? systemClock,
  });
  await restorer.run(tree, target, include);
  return { stats: restorer.stats, problems: restorer.problems };
}

interface RestorerSettings extends SignalOptions {
  overwrite: 'always' | 'never';
  concurrency: number;
  sparse: boolean;
  ownership: 'best-effort' | 'required';
  onProgress: ((progress: RestoreProgress) => void) | undefined;
  progressIntervalMs: number;
  clock: Clock;
}

/** A blob as the file writer gets it: its bytes, or only its length when it is all zeros. */
type LoadedBlob = { zero: false; bytes: Buffer } | { zero: true; length: number };

const ZEROS = Buffer.alloc(64 * 1024);
/** Zero blobs remembered by id (a few sizes in practice; bounded all the same). */
const MAX_ZERO_IDS = 1024;

class Restorer {
  readonly stats: RestoreStats = {
    files: 0,
    dirs: 0,
    symlinks: 0,
    specials: 0,
    hardLinks: 0,
    bytesWritten: 0,
    sparseBytes: 0,
    skipped: 0,
  };
  readonly problems: RestoreProblem[] = [];
  readonly #repo: Repo;
  readonly #settings: RestorerSettings;
  readonly #slots: Semaphore;
  /** `device:inode` of multiply linked files → where the first was restored (undefined if it failed). */
  readonly #links = new Map<string, Promise<string | undefined>>();
  readonly #zeros = new Map<string, number>();
  /** Files being written, so that a failing restore waits for them (and their temporary files). */
  readonly #writing = new Set<Promise<unknown>>();
  readonly #progress: { poke(): void; flush(): void };
  #filesDone = 0;
  #bytesDone = 0;
  #total: { files: number; bytes: number } | undefined;

  constructor(repo: Repo, settings: RestorerSettings) {
    this.#repo = repo;
    this.#settings = settings;
    this.#slots = new Semaphore(settings.concurrency);
    const { onProgress } = settings;
    this.#progress = throttle(
      () =>
        onProgress?.({
          filesDone: this.#filesDone,
          bytesDone: this.#bytesDone,
          problems: this.problems.length,
          total: this.#total,
        }),
      settings.progressIntervalMs,
      () => settings.clock.now(),
    );
  }

  async run(tree: string, target: string, include: string[]): Promise<void> {
    const scan = this.#settings.onProgress ? this.#scan(tree, include) : undefined;
    try {
      await this.#dir(tree, target, '', include);
      this.#progress.flush();
    } catch (error) {
      await Promise.allSettled(this.#writing);
      throw error;
    } finally {
      await scan?.catch(() => {});
    }
  }

  #problem(path: string, reason: unknown): void {
    this.problems.push({ path, reason: reason instanceof Error ? reason.message : String(reason) });
    this.#progress.poke();
  }

  /** Restores a tree's entries into `abs` (which exists); with `include`, only the path it names. */
  async #dir(tree: string, abs: string, rel: string, include: string[]): Promise<void> {
    const { signal } = this.#settings;
    let nodes: Node[];
    try {
      nodes = await loadTree(this.#repo, tree, { signal });
    } catch (error) {
      signal?.throwIfAborted();
      this.#problem(rel || '/', error);
      return;
    }
    const files: Promise<void>[] = [];
    for (const node of nodes) {
      signal?.throwIfAborted();
      if (include.length > 0 && node.name !== include[0]) continue;
      const childRel = rel ? `${rel}/${node.name}` : node.name;
      if (!safeName(node.name)) {
        this.#problem(childRel, `${JSON.stringify(node.name)} is not a file name`);
        continue;
      }
      const childAbs = join(abs, node.name);
      switch (node.type) {
        case 'dir':
          await this.#directory(node, childAbs, childRel, include.slice(1));
          break;
        case 'file': {
          await this.#slots.acquire(signal);
          const writing = this.#file(node, childAbs, childRel).finally(() => this.#slots.release());
          this.#writing.add(writing);
          void writing.then(
            () => this.#writing.delete(writing),
            () => this.#writing.delete(writing),
          );
          files.push(writing);
          break;
        }
        case 'socket':
          break; // restic restores no sockets
        default:
          await this.#special(node, childAbs, childRel);
      }
    }
    await Promise.all(files);
  }

  async #directory(node: Node, abs: string, rel: string, include: string[]): Promise<void> {
    if (!node.subtree) {
      this.#problem(rel, 'the directory has no subtree');
      return;
    }
    try {
      await mkdir(abs, { mode: 0o700 });
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') {
        this.#problem(rel, error);
        return;
      }
      const existing = await lstat(abs);
      if (!existing.isDirectory()) {
        if (this.#settings.overwrite === 'never') {
          this.stats.skipped++;
          return;
        }
        await rm(abs, { force: true });
        await mkdir(abs, { mode: 0o700 });
      }
    }
    await this.#dir(node.subtree, abs, rel, include);
    this.stats.dirs++;
    await this.#metadata(abs, rel, node);
  }

  async #metadata(abs: string, rel: string, node: Node): Promise<void> {
    for (const problem of await applyMetadata(abs, node, { ownership: this.#settings.ownership }))
      this.#problem(rel, `${problem.operation}: ${problem.error.message}`);
  }

  /** Whether the entry should be left alone: it exists and overwrite is 'never'. */
  async #keepExisting(abs: string): Promise<boolean> {
    if (this.#settings.overwrite !== 'never') return false;
    const exists = await lstat(abs).then(
      () => true,
      () => false,
    );
    if (exists) this.stats.skipped++;
    return exists;
  }

  async #file(node: Node, abs: string, rel: string): Promise<void> {
    if (await this.#keepExisting(abs)) return;
    // The first of several links to one inode is written; the others wait for it and link to it.
    let linked: ((path: string | undefined) => void) | undefined;
    if ((node.links ?? 0) > 1 && node.inode) {
      const key = `${node.deviceId ?? 0n}:${node.inode}`;
      const first = this.#links.get(key);
      if (first) {
        const firstPath = await first;
        if (firstPath === undefined) this.#problem(rel, 'the file it is a hard link of was not restored');
        else
          try {
            await replace(abs, (path) => link(firstPath, path));
            this.stats.hardLinks++;
          } catch (error) {
            this.#problem(rel, error);
          }
        this.#fileDone(0);
        return;
      }
      this.#links.set(key, new Promise((resolve) => (linked = resolve)));
    }
    let ok = false;
    try {
      ok = await this.#write(node, abs, rel);
      if (ok) await this.#metadata(abs, rel, node);
    } finally {
      linked?.(ok ? abs : undefined);
    }
  }

  /** Writes a file's content under a temporary name and renames it; false when it failed (reported). */
  async #write(node: Node, abs: string, rel: string): Promise<boolean> {
    const { signal } = this.#settings;
    const temp = join(dirname(abs), `.cairn-restore-${randomBytes(8).toString('hex')}`);
    const content = node.content ?? [];
    let handle: FileHandle | undefined;
    const loads = new Map<number, Promise<LoadedBlob>>();
    try {
      handle = await open(temp, 'wx', 0o600);
      let position = 0;
      // One blob read ahead while the current one is written.
      const load = (i: number) => {
        const id = content[i];
        if (id === undefined) return;
        const loading = this.#load(id);
        loading.catch(() => {}); // its error is taken when it is awaited
        loads.set(i, loading);
      };
      load(0);
      for (let i = 0; i < content.length; i++) {
        signal?.throwIfAborted();
        const blob = await (loads.get(i) as Promise<LoadedBlob>);
        loads.delete(i);
        load(i + 1);
        if (blob.zero) {
          position += blob.length;
          this.stats.sparseBytes += blob.length;
        } else {
          await writeAll(handle, blob.bytes, position);
          position += blob.bytes.length;
          this.stats.bytesWritten += blob.bytes.length;
        }
        this.#bytesDone += blob.zero ? blob.length : blob.bytes.length;
        this.#progress.poke();
      }
      await handle.truncate(position);
      await handle.close();
      handle = undefined;
      await replace(abs, (path) => rename(temp, path));
      this.stats.files++;
      this.#fileDone(0);
      return true;
    } catch (error) {
      await handle?.close().catch(() => {});
      await unlink(temp).catch(() => {});
      await Promise.allSettled(loads.values());
      signal?.throwIfAborted();
      this.#problem(rel, error);
      this.#fileDone(0);
      return false;
    }
  }

  /** A data blob, verified; only its length when it is all zeros and holes are wanted. */
  async #load(id: string): Promise<LoadedBlob> {
    const known = this.#zeros.get(id);
    if (known !== undefined) return { zero: true, length: known };
    const bytes = await this.#repo.loadBlob('data', id, { signal: this.#settings.signal });
    if (this.#settings.sparse && allZero(bytes)) {
      if (this.#zeros.size < MAX_ZERO_IDS) this.#zeros.set(id, bytes.length);
      return { zero: true, length: bytes.length };
    }
    return { zero: false, bytes };
  }

  #fileDone(bytes: number): void {
    this.#filesDone++;
    this.#bytesDone += bytes;
    this.#progress.poke();
  }

  /** Symlinks, fifos and device nodes. */
  async #special(node: Node, abs: string, rel: string): Promise<void> {
    if (await this.#keepExisting(abs)) return;
    try {
      switch (node.type) {
        case 'symlink':
          await replace(abs, (path) => symlink(node.linkTarget ?? '', path));
          this.stats.symlinks++;
          break;
        case 'fifo':
          await replace(abs, (path) => mkfifo(path, node));
          this.stats.specials++;
          break;
        case 'dev':
        case 'chardev':
          if (process.getuid?.() !== 0) {
            this.#problem(rel, 'device nodes are restored by root only');
            return;
          }
          await replace(abs, (path) => mknod(path, node));
          this.stats.specials++;
          break;
        default:
          this.#problem(rel, `unknown node type ${node.type}`);
          return;
      }
    } catch (error) {
      this.#settings.signal?.throwIfAborted();
      this.#problem(rel, error);
      return;
    }
    await this.#metadata(abs, rel, node);
  }

  /** Counts the files and bytes to restore beside the restore, for progress. */
  async #scan(tree: string, include: string[]): Promise<void> {
    const total = { files: 0, bytes: 0 };
    const walk = async (id: string, path: string[]): Promise<void> => {
      for (const node of await loadTree(this.#repo, id, { signal: this.#settings.signal })) {
        if (path.length > 0 && node.name !== path[0]) continue;
        if (node.type === 'dir' && node.subtree) await walk(node.subtree, path.slice(1));
        else if (node.type === 'file') {
          total.files++;
          total.bytes += node.size ?? 0;
        }
      }
    };
    await walk(tree, include);
    this.#total = total;
    this.#progress.poke();
  }
}

/** A name that stays inside its directory (a tree from elsewhere may hold anything). */
function safeName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}

/** Makes the entry at `path` with `make`; when something is in the way, removes it and tries again. */
async function replace(path: string, make: (path: string) => Promise<unknown>): Promise<void> {
  try {
    await make(path);
  } catch (error) {
    const code = errnoCode(error);
    if (code !== 'EEXIST' && code !== 'EISDIR' && code !== 'ENOTEMPTY' && code !== 'ENOTDIR') throw error;
    await rm(path, { recursive: true, force: true });
    await make(path);
  }
}

async function writeAll(handle: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

function allZero(bytes: Buffer): boolean {
  for (let at = 0; at < bytes.length; at += ZEROS.length) {
    const end = Math.min(bytes.length, at + ZEROS.length);
    if (bytes.compare(ZEROS, 0, end - at, at, end) !== 0) return false;
  }
  return true;
}

async function mkfifo(path: string, node: Node): Promise<void> {
  const mode = (unixPermissions(node.mode) & 0o777).toString(8);
  await run('mkfifo', ['-m', mode, '--', path]);
}

/** st_rdev as Linux encodes it (glibc's gnu_dev_major and gnu_dev_minor). */
async function mknod(path: string, node: Node): Promise<void> {
  const dev = node.device ?? 0n;
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  await run('mknod', ['--', path, node.type === 'dev' ? 'b' : 'c', String(major), String(minor)]);
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}
