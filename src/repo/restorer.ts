// The restorer: writes a snapshot's tree (or one path in it) into a directory, as restic 0.14's restore
// does, so what `backupDirectory` or `restic backup` stored comes back with its contents, modes, owners,
// times, symlinks, fifos and hard links.
//
// The walk goes depth-first in name order, making directories, symlinks and special files as it meets
// them. Files are not written as they are met but planned in batches (at most BATCH_FILES files and
// BATCH_BLOBS blob references each), as restic's filerestorer does: the blobs a batch needs are grouped by
// the pack the index puts them in, and each pack is read once per batch, by one ranged read covering the
// blobs needed from it (split where the gap between needed blobs passes MAX_GAP, or the range would pass
// MAX_RANGE, MAX_RANGE_BLOBS or `maxPackBytes`). A few ranges are read at once (`concurrency`), and the
// bytes of pack data held at once stay within `maxPackBytes`. Each blob is verified (MAC, then SHA-256
// against its id) before a byte of it is written, then written to every place of every file of the batch
// that holds it. One batch is written while the walk plans the next.
//
// A file is written under a temporary name beside its own and renamed only once all its blobs passed, so
// a file whose data failed never appears under its name. A blob of zeros is not written but skipped over
// (`sparse`, default on), so holes stay holes; the file is truncated to its length at the end. Metadata
// (owner, mode, times) is put on a file once it is complete, and on a directory once the batch holding
// the last of its files is done (after its subdirectories'). Entries with the same device and inode in
// the snapshot are hard-linked to the first one restored, once its batch is done. Fifos are made with
// mkfifo(1) and devices with mknod(1) (as root only): Node.js has no call for either. Problems with
// single entries are collected and the rest goes on (restic's way); the caller decides what a partial
// restore means. Memory: two batches' plans, the pack data in flight (and its plaintext), the ids of the
// zero blobs met. Files open at once: at most a batch's.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, open as openCallback, openSync, renameSync, writeSync } from 'node:fs';
import { link, lstat, mkdir, open, rename, rm, symlink, unlink, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  BlobWorkers,
  type BlobOutcome,
  type FinishFile,
  type FinishOutcome,
  type RangeBlob,
} from './blob-workers.ts';
import { loadTree, lookupPath, splitSnapshotPath } from './browse.ts';
import { CIPHERTEXT_OVERHEAD } from './crypto.ts';
import { allZero } from './pack.ts';
import { systemClock, type Clock, type SignalOptions } from './environment.ts';
import { throttle } from './limit.ts';
import type { IndexEntry } from './master-index.ts';
import { applyMetadata, replaceSync, unixPermissions } from './node-fs.ts';
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
  /** Pack ranges read (and their blobs written) at once. Default 8. */
  concurrency?: number | undefined;
  /**
   * Bytes of pack data held at once (read and not yet written). Default 64 MiB. A range larger than
   * this (a single blob can be) is still read, alone.
   */
  maxPackBytes?: number | undefined;
  /**
   * Hold a non-exclusive lock while restoring, so that no prune removes packs meanwhile (restic's
   * restore does the same). Default true; false for a repository this process may not write to.
   */
  lock?: boolean | undefined;
  /** Skip over zero blobs, leaving holes. Default true. */
  sparse?: boolean | undefined;
  /**
   * Worker threads that verify and write the blobs (blob-workers.ts). Default: the machine's available
   * parallelism less one, 1 to 4, and one more (at most 4 in all) while the main thread is mostly idle;
   * a number is exactly that many; 0 does that work on the main thread.
   */
  workers?: number | undefined;
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
  // One core stays the main thread's (reads, files' opening and renaming, metadata), which is busy in a
  // restore of many small files; one more worker (at most 4 in all) starts while it is idle, as in a
  // restore of large files, where the workers' writes set the pace.
  const cores = availableParallelism();
  const workerCount = options.workers ?? Math.max(1, Math.min(4, cores - 1));
  const extra = options.workers === undefined ? Math.max(0, Math.min(4, cores) - workerCount) : 0;
  const key = repo.blobSealing?.key;
  const workers = workerCount > 0 && key ? new BlobWorkers(workerCount, key, { extra }) : undefined;
  const restorer = new Restorer(repo, {
    workers,
    signal,
    overwrite: options.overwrite ?? 'always',
    concurrency: options.concurrency ?? 8,
    maxPackBytes: options.maxPackBytes ?? 64 * MiB,
    sparse: options.sparse ?? true,
    ownership: options.ownership ?? 'best-effort',
    onProgress: options.onProgress,
    progressIntervalMs: options.progressIntervalMs ?? 1000,
    clock: options.clock ?? systemClock,
  });
  try {
    await restorer.run(tree, target, include);
  } finally {
    await workers?.close();
  }
  return { stats: restorer.stats, problems: restorer.problems };
}

interface RestorerSettings extends SignalOptions {
  workers: BlobWorkers | undefined;
  overwrite: 'always' | 'never';
  concurrency: number;
  maxPackBytes: number;
  sparse: boolean;
  ownership: 'best-effort' | 'required';
  onProgress: ((progress: RestoreProgress) => void) | undefined;
  progressIntervalMs: number;
  clock: Clock;
}

const MiB = 1024 * 1024;
/** open(2) on the thread pool, giving the descriptor (FileHandle's close is asynchronous; this one is not). */
const openFile = promisify(openCallback) as (path: string, flags: string, mode: number) => Promise<number>;
/** Zero blobs remembered by id (a few sizes in practice; bounded all the same). */
const MAX_ZERO_IDS = 1024;
/**
 * Files up to this size are written by synchronous calls (open, write, close, rename, metadata): for a
 * file in the page cache the calls take microseconds, where thread-pool round trips, eight per file,
 * cost more CPU than that and set the pace of a restore of many small files.
 */
const SYNC_WRITE_MAX = 64 * 1024;
/** Files planned in a batch; also the most files a batch has open at once. */
const BATCH_FILES = 512;
/** Blob references (file positions) planned in a batch. */
const BATCH_BLOBS = 65_536;
/** A gap between needed blobs of a pack above which they are read by separate ranges. */
const MAX_GAP = 1 * MiB;
/** The longest range read at once (and never more than maxPackBytes, unless one blob is). */
const MAX_RANGE = 16 * MiB;
/**
 * The most blobs a range covers. A batch of small files is otherwise one range of one pack: read, then
 * written by one worker, then its files finished (renamed, their metadata set) on the main thread, each
 * step waiting for the one before; in several ranges the steps overlap.
 */
const MAX_RANGE_BLOBS = 64;

/** A file of a batch: where it goes, and how many of its blob references are not yet written. */
interface PlannedFile {
  node: Node;
  abs: string;
  rel: string;
  temp: string;
  /** The file's length: the sum of its blobs' lengths. */
  size: number;
  /** The end of the bytes written so far (a new file is that long). */
  end: number;
  /** Blob references not yet written (or skipped). */
  remaining: number;
  handle: Promise<FileHandle> | undefined;
  /** The temporary file's descriptor, for a file of at most SYNC_WRITE_MAX bytes (written synchronously). */
  fd: number | undefined;
  /** Its opening on the thread pool, under way or done (blob workers write through `fd`). */
  opening?: Promise<number> | undefined;
  /** The first error met writing it: the file is then not renamed but removed. */
  failed: unknown;
  finished: boolean;
  /** Tells the other links to this inode where it was restored (undefined: it failed). */
  linked: ((path: string | undefined) => void) | undefined;
}

/** A blob a batch needs: where it is stored and where it goes. */
interface PlannedBlob {
  id: string;
  /** Every place the index lists it; the first is read, the others are tried when that fails. */
  entries: IndexEntry[];
  targets: { file: PlannedFile; offset: number }[];
}

class Batch {
  readonly files: PlannedFile[] = [];
  readonly blobs = new Map<string, PlannedBlob>();
  references = 0;
  /** Run in order once the batch's files are done: hard links to them, directories' metadata. */
  readonly after: (() => Promise<void>)[] = [];
}

/** One ranged read of a pack: the blobs of a batch it covers. */
interface PackRange {
  pack: string;
  offset: number;
  length: number;
  blobs: PlannedBlob[];
}

/**
 * Buffers for ranges, used again: a new one per range (1.4 GB of them in a 2 GiB restore) kept the
 * garbage collectors running several times a second and every one was fresh memory to fault in. Sizes are
 * powers of two from 64 KiB, so a buffer fits later ranges; at most `keep` bytes of them wait here.
 */
class RangeBuffers {
  readonly #free = new Map<number, ArrayBuffer[]>();
  readonly #keep: number;
  #kept = 0;

  constructor(keep: number) {
    this.#keep = keep;
  }

  /** A buffer of at least `length` bytes that owns all of its memory. */
  take(length: number): Buffer {
    const size = Math.max(64 * 1024, 2 ** Math.ceil(Math.log2(Math.max(1, length))));
    const memory = this.#free.get(size)?.pop();
    if (memory) {
      this.#kept -= size;
      return Buffer.from(memory);
    }
    return Buffer.allocUnsafeSlow(size);
  }

  /** Takes back a buffer's memory (whole: no view of it may be in use any more). */
  give(memory: ArrayBuffer): void {
    const size = memory.byteLength;
    if (2 ** Math.round(Math.log2(size)) !== size || this.#kept + size > this.#keep) return;
    const list = this.#free.get(size) ?? [];
    list.push(memory);
    this.#free.set(size, list);
    this.#kept += size;
  }
}

/** Bytes held at once, at most `cap` (one holder may exceed it alone). */
class ByteBudget {
  #held = 0;
  #waiters: (() => void)[] = [];
  readonly #cap: number;

  constructor(cap: number) {
    if (!(cap >= 1)) throw new RangeError(`maxPackBytes ${cap} is not 1 or more`);
    this.#cap = cap;
  }

  async acquire(bytes: number, signal: AbortSignal | undefined): Promise<void> {
    while (this.#held > 0 && this.#held + bytes > this.#cap) {
      await new Promise<void>((wake) => this.#waiters.push(wake));
      signal?.throwIfAborted();
    }
    this.#held += bytes;
  }

  release(bytes: number): void {
    this.#held -= bytes;
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/** The plaintext length of a stored blob. */
function plaintextLength(entry: IndexEntry): number {
  return entry.uncompressedLength ?? entry.length - CIPHERTEXT_OVERHEAD;
}

/** A batch's blobs as ranged reads: by pack (in the order first needed), by offset, split at gaps. */
function packRanges(blobs: Iterable<PlannedBlob>, maxRange: number): PackRange[] {
  const byPack = new Map<string, PlannedBlob[]>();
  for (const blob of blobs) {
    const pack = (blob.entries[0] as IndexEntry).pack;
    let list = byPack.get(pack);
    if (!list) byPack.set(pack, (list = []));
    list.push(blob);
  }
  const ranges: PackRange[] = [];
  for (const [pack, list] of byPack) {
    list.sort((a, b) => (a.entries[0] as IndexEntry).offset - (b.entries[0] as IndexEntry).offset);
    let range: PackRange | undefined;
    for (const blob of list) {
      const { offset, length } = blob.entries[0] as IndexEntry;
      const end = offset + length;
      if (
        range &&
        offset >= range.offset + range.length &&
        offset - (range.offset + range.length) <= MAX_GAP &&
        end - range.offset <= maxRange &&
        range.blobs.length < MAX_RANGE_BLOBS
      ) {
        range.length = end - range.offset;
        range.blobs.push(blob);
      } else {
        range = { pack, offset, length, blobs: [blob] };
        ranges.push(range);
      }
    }
  }
  return ranges;
}

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
  readonly #budget: ByteBudget;
  readonly #buffers: RangeBuffers;
  /** `device:inode` of multiply linked files → where the first was restored (undefined if it failed). */
  readonly #links = new Map<string, Promise<string | undefined>>();
  readonly #zeros = new Map<string, number>();
  /** Temporary names: a random prefix for this restore and a count (a random draw per file cost more). */
  readonly #tempPrefix = `.cairn-restore-${randomBytes(8).toString('hex')}-`;
  #tempCount = 0;
  /** The batch being planned. */
  #batch = new Batch();
  /** The batch being written (and the ones before it), settled when its `after` work is done. */
  #running: Promise<void> = Promise.resolve();
  readonly #progress: { poke(): void; flush(): void };
  #filesDone = 0;
  #bytesDone = 0;
  #total: { files: number; bytes: number } | undefined;

  constructor(repo: Repo, settings: RestorerSettings) {
    this.#repo = repo;
    this.#settings = settings;
    if (!Number.isInteger(settings.concurrency) || settings.concurrency < 1)
      throw new RangeError(`concurrency ${settings.concurrency} is not 1 or more`);
    this.#budget = new ByteBudget(settings.maxPackBytes);
    this.#buffers = new RangeBuffers(settings.maxPackBytes);
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
      await this.#flush();
      await this.#running;
      this.#progress.flush();
    } catch (error) {
      await this.#running.catch(() => {}); // its temporary files are removed
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
    // A tree holds each name once (restic writes them sorted and unique). A second entry of a name is
    // refused: a symlink replacing a directory whose files are still to be written (they are written a
    // batch later) would have them written wherever the symlink points, outside the target.
    const seen = new Set<string>();
    for (const node of nodes) {
      signal?.throwIfAborted();
      if (include.length > 0 && node.name !== include[0]) continue;
      const childRel = rel ? `${rel}/${node.name}` : node.name;
      if (!safeName(node.name)) {
        this.#problem(childRel, `${JSON.stringify(node.name)} is not a file name`);
        continue;
      }
      if (seen.has(node.name)) {
        this.#problem(childRel, `a second entry named ${JSON.stringify(node.name)} in one directory`);
        continue;
      }
      seen.add(node.name);
      const childAbs = join(abs, node.name);
      switch (node.type) {
        case 'dir':
          await this.#directory(node, childAbs, childRel, include.slice(1));
          break;
        case 'file':
          await this.#file(node, childAbs, childRel);
          break;
        case 'socket':
          break; // restic restores no sockets
        default:
          await this.#special(node, childAbs, childRel);
      }
    }
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
    // Its files are in this batch or an earlier one: its metadata comes after them.
    this.#batch.after.push(() => {
      this.stats.dirs++;
      this.#metadata(abs, rel, node);
      return Promise.resolve();
    });
  }

  #metadata(abs: string, rel: string, node: Node): void {
    for (const problem of applyMetadata(abs, node, { ownership: this.#settings.ownership }))
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

  /** Plans a file into the current batch (or, for a further link to an inode, a link after it). */
  async #file(node: Node, abs: string, rel: string): Promise<void> {
    if (await this.#keepExisting(abs)) return;
    // The first of several links to one inode is written; the others link to it once it is done.
    let linked: ((path: string | undefined) => void) | undefined;
    if ((node.links ?? 0) > 1 && node.inode) {
      const key = `${node.deviceId ?? 0n}:${node.inode}`;
      const first = this.#links.get(key);
      if (first) {
        this.#batch.after.push(async () => {
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
        });
        return;
      }
      this.#links.set(key, new Promise((resolve) => (linked = resolve)));
    }
    const { signal } = this.#settings;
    // Where each blob goes; a known zero blob is skipped over here and never read.
    const places: { id: string; entries: IndexEntry[]; offset: number }[] = [];
    let size = 0;
    let sparse = 0;
    try {
      for (const id of node.content ?? []) {
        const zero = this.#zeros.get(id);
        if (zero !== undefined) {
          size += zero;
          sparse += zero;
          continue;
        }
        const entries = await this.#repo.lookupBlob('data', id, { signal });
        if (entries.length === 0) await this.#repo.loadBlob('data', id, { signal }); // throws BlobNotFoundError
        places.push({ id, entries, offset: size });
        size += plaintextLength(entries[0] as IndexEntry);
      }
    } catch (error) {
      signal?.throwIfAborted();
      this.#problem(rel, error);
      this.#fileDone(0);
      linked?.(undefined);
      return;
    }
    const batch = this.#batch;
    const file: PlannedFile = {
      node,
      abs,
      rel,
      temp: join(dirname(abs), `${this.#tempPrefix}${(this.#tempCount++).toString(36)}`),
      size,
      end: 0,
      remaining: places.length,
      handle: undefined,
      fd: undefined,
      failed: undefined,
      finished: false,
      linked,
    };
    this.stats.sparseBytes += sparse;
    this.#bytesDone += sparse;
    batch.files.push(file);
    for (const { id, entries, offset } of places) {
      let blob = batch.blobs.get(id);
      if (!blob) batch.blobs.set(id, (blob = { id, entries, targets: [] }));
      blob.targets.push({ file, offset });
    }
    batch.references += places.length;
    if (batch.files.length >= BATCH_FILES || batch.references >= BATCH_BLOBS) await this.#flush();
  }

  /**
   * Starts writing the planned batch once the one before it is done, and returns when that one is: one
   * batch is written while the next is planned.
   */
  async #flush(): Promise<void> {
    const batch = this.#batch;
    this.#batch = new Batch();
    const previous = this.#running;
    this.#running = previous.then(async () => {
      await this.#write(batch);
      for (const work of batch.after) await work();
    });
    this.#running.catch(() => {}); // taken by the next flush or by run()
    await previous;
  }

  /** Writes a batch's files: each pack range read once, its blobs verified and written where needed. */
  async #write(batch: Batch): Promise<void> {
    const { signal, concurrency, maxPackBytes } = this.#settings;
    const finishing: Promise<void>[] = [];
    const countDown = (file: PlannedFile) => {
      if (--file.remaining === 0) finishing.push(this.#finish(file));
    };
    for (const file of batch.files) if (file.remaining === 0) finishing.push(this.#finish(file));
    const ranges = packRanges(batch.blobs.values(), Math.min(MAX_RANGE, maxPackBytes));
    let next = 0;
    const worker = async () => {
      while (next < ranges.length) {
        signal?.throwIfAborted();
        const range = ranges[next++] as PackRange;
        await this.#budget.acquire(range.length, signal);
        try {
          await this.#range(range, countDown);
        } finally {
          this.#budget.release(range.length);
        }
      }
    };
    const workers = await Promise.allSettled(
      Array.from({ length: Math.min(concurrency, ranges.length) }, worker),
    );
    await Promise.allSettled(finishing);
    const failed = workers.find((w) => w.status === 'rejected');
    if (failed) {
      // Stopped (aborted): no temporary file of the batch stays.
      await Promise.allSettled(batch.files.filter((f) => !f.finished).map((f) => this.#discard(f)));
      throw failed.reason;
    }
  }

  /** Reads one range of a pack and writes its blobs; a blob that fails fails every file needing it. */
  async #range(range: PackRange, countDown: (file: PlannedFile) => void): Promise<void> {
    const { signal, workers } = this.#settings;
    let bytes: Buffer | undefined;
    let readError: unknown;
    // With workers, the range is read into a buffer used before, which the worker hands back.
    const into = workers ? this.#buffers.take(range.length) : undefined;
    try {
      bytes = await this.#repo.loadPackRange(range.pack, range.offset, range.length, { signal, into });
    } catch (error) {
      signal?.throwIfAborted();
      readError = error;
    }
    const lent = into !== undefined && bytes?.buffer === into.buffer;
    if (into && !lent) this.#buffers.give(into.buffer as ArrayBuffer); // not used (or the read failed)
    if (bytes !== undefined && workers) return this.#rangeInWorker(workers, range, bytes, countDown, lent);
    const writes: Promise<void>[] = [];
    try {
      for (const blob of range.blobs) {
        signal?.throwIfAborted();
        let plaintext: Buffer;
        try {
          const entry = blob.entries[0] as IndexEntry;
          if (bytes === undefined) throw readError;
          const at = entry.offset - range.offset;
          plaintext = await this.#repo
            .openPackedBlob(entry.pack, entry, bytes.subarray(at, at + entry.length))
            .catch((error: unknown) => {
              // Another copy, when the index lists one (loadBlob tries them all).
              if (blob.entries.length > 1) return this.#repo.loadBlob('data', blob.id, { signal });
              throw error;
            });
        } catch (error) {
          signal?.throwIfAborted();
          for (const { file } of blob.targets) {
            file.failed ??= error;
            countDown(file);
          }
          continue;
        }
        const zero = this.#settings.sparse && allZero(plaintext);
        if (zero && this.#zeros.size < MAX_ZERO_IDS) this.#zeros.set(blob.id, plaintext.length);
        for (const { file, offset } of blob.targets)
          writes.push(
            this.#put(file, offset, zero ? undefined : plaintext, plaintext.length).finally(() =>
              countDown(file),
            ),
          );
      }
    } finally {
      await Promise.allSettled(writes);
    }
  }

  /**
   * #range's second half with workers: the range's files are opened here, and a worker verifies every
   * blob and writes it to them. Returns once the worker is done with the range, so no descriptor it
   * writes to is closed before (a file is finished or discarded only after its last blob is counted).
   */
  async #rangeInWorker(
    workers: BlobWorkers,
    range: PackRange,
    bytes: Buffer,
    countDown: (file: PlannedFile) => void,
    lent: boolean,
  ): Promise<void> {
    const { signal, sparse, ownership } = this.#settings;
    const blobs: RangeBlob[] = [];
    // Per blob, the targets its writes go to (files that failed already get none), and the files the
    // worker makes whole (a small file that is this blob alone: see blob-worker.ts).
    const written: { file: PlannedFile; offset: number }[][] = [];
    const made: PlannedFile[][] = [];
    const whole = new Set<PlannedFile>();
    for (const blob of range.blobs)
      for (const { file } of blob.targets)
        if (
          file.size <= SYNC_WRITE_MAX &&
          file.remaining === 1 &&
          file.failed === undefined &&
          file.fd === undefined &&
          file.opening === undefined &&
          file.handle === undefined
        )
          whole.add(file);
    // The range's other files are made side by side on the thread pool: making a file can wait for the
    // filesystem's journal (behind the data being written), and these waits then overlap instead of
    // stopping the main thread one after the other (35% of a restore's main thread, measured).
    const files = new Set(
      range.blobs.flatMap((blob) => blob.targets.map((target) => target.file).filter((f) => !whole.has(f))),
    );
    const descriptors = new Map(
      await Promise.all([...files].map(async (file) => [file, await this.#descriptor(file)] as const)),
    );
    for (const blob of range.blobs) {
      const entry = blob.entries[0] as IndexEntry;
      const writes: number[] = [];
      const targets: { file: PlannedFile; offset: number }[] = [];
      const finish: FinishFile[] = [];
      const makes: PlannedFile[] = [];
      for (const target of blob.targets) {
        if (whole.has(target.file)) {
          const { file } = target;
          const { type, mode, uid, gid, atime, mtime } = file.node;
          const node = { type, mode, uid, gid, atime, mtime };
          finish.push({ temp: file.temp, path: file.abs, size: file.size, node });
          makes.push(file);
          continue;
        }
        const fd = descriptors.get(target.file);
        if (fd === undefined) continue;
        writes.push(fd, target.offset);
        targets.push(target);
      }
      written.push(targets);
      made.push(makes);
      blobs.push({
        type: 'data',
        id: blob.id,
        pack: entry.pack,
        offset: entry.offset,
        at: entry.offset - range.offset,
        length: entry.length,
        uncompressedLength: entry.uncompressedLength,
        writes,
        ...(finish.length > 0 && { finish }),
      });
    }
    let outcomes: BlobOutcome[];
    try {
      const recycle = lent ? (memory: ArrayBuffer) => this.#buffers.give(memory) : undefined;
      outcomes = await workers.open(bytes, blobs, sparse, ownership, recycle);
    } catch (error) {
      outcomes = blobs.map(() => ({ ok: false, message: (error as Error).message }));
    }
    const retries: Promise<void>[] = [];
    range.blobs.forEach((blob, i) => {
      const outcome = outcomes[i] as BlobOutcome;
      if (!outcome.ok) {
        // Another copy, when the index lists one (loadBlob tries them all), written from here.
        if (blob.entries.length > 1 && !signal?.aborted) {
          retries.push(this.#retry(blob, countDown));
          return;
        }
        const failure = new Error(outcome.message);
        for (const { file } of blob.targets) {
          file.failed ??= failure;
          countDown(file);
        }
        return;
      }
      const { length, zero } = outcome;
      if (zero && this.#zeros.size < MAX_ZERO_IDS) this.#zeros.set(blob.id, length);
      (made[i] ?? []).forEach((file, at) => this.#madeWhole(file, outcome.finished?.[at], length, zero));
      const targets = written[i] ?? [];
      targets.forEach(({ file, offset }, write) => {
        const problem = outcome.failed?.find((f) => f.write === write);
        if (problem) {
          file.failed ??= Object.assign(new Error(problem.message), { code: problem.code });
          return;
        }
        if (zero) this.stats.sparseBytes += length;
        else {
          file.end = Math.max(file.end, offset + length);
          this.stats.bytesWritten += length;
        }
        this.#bytesDone += length;
      });
      for (const { file } of blob.targets) if (!whole.has(file)) countDown(file);
      this.#progress.poke();
    });
    await Promise.allSettled(retries);
  }

  /**
   * Counts a file a blob worker made whole (#finish's part, but for the making): in place with its
   * metadata (problems reported), or failed and removed there.
   */
  #madeWhole(file: PlannedFile, outcome: FinishOutcome | undefined, length: number, zero: boolean): void {
    file.remaining = 0;
    file.finished = true;
    if (outcome?.ok) {
      this.stats.files++;
      if (zero) this.stats.sparseBytes += length;
      else this.stats.bytesWritten += length;
      this.#bytesDone += length;
      for (const problem of outcome.problems)
        this.#problem(file.rel, `${problem.operation}: ${problem.message}`);
    } else {
      file.failed ??= Object.assign(new Error(outcome?.message ?? 'the blob worker did not make it'), {
        code: outcome?.ok === false ? outcome.code : undefined,
      });
      if (!this.#settings.signal?.aborted) this.#problem(file.rel, file.failed);
    }
    this.#fileDone(0);
    file.linked?.(outcome?.ok ? file.abs : undefined);
  }

  /** A blob whose first copy failed, from the index's other copies, verified here and written. */
  async #retry(blob: PlannedBlob, countDown: (file: PlannedFile) => void): Promise<void> {
    const { signal } = this.#settings;
    let plaintext: Buffer;
    try {
      plaintext = await this.#repo.loadBlob('data', blob.id, { signal });
    } catch (error) {
      for (const { file } of blob.targets) {
        file.failed ??= error;
        countDown(file);
      }
      return;
    }
    await Promise.allSettled(
      blob.targets.map(({ file, offset }) =>
        this.#put(file, offset, plaintext, plaintext.length).finally(() => countDown(file)),
      ),
    );
  }

  /** The temporary file's descriptor, opened on first use; undefined once the file failed. */
  async #descriptor(file: PlannedFile): Promise<number | undefined> {
    if (file.failed !== undefined) return undefined;
    try {
      if (file.size > SYNC_WRITE_MAX) return (await (file.handle ??= open(file.temp, 'wx', 0o600))).fd;
      if (file.fd === undefined) {
        file.opening ??= openFile(file.temp, 'wx', 0o600);
        file.fd ??= await file.opening;
      }
      return file.fd;
    } catch (error) {
      file.failed ??= error;
      return undefined;
    }
  }

  /** Writes a blob's bytes (none for a hole) at `offset` of a file, unless the file failed already. */
  async #put(file: PlannedFile, offset: number, bytes: Buffer | undefined, length: number): Promise<void> {
    if (file.failed !== undefined) return;
    try {
      if (bytes === undefined) this.stats.sparseBytes += length;
      else if (file.size <= SYNC_WRITE_MAX) {
        file.fd ??= openSync(file.temp, 'wx', 0o600);
        writeAllSync(file.fd, bytes, offset);
        file.end = Math.max(file.end, offset + length);
        this.stats.bytesWritten += length;
      } else {
        const handle = await (file.handle ??= open(file.temp, 'wx', 0o600));
        await writeAll(handle, bytes, offset);
        file.end = Math.max(file.end, offset + length);
        this.stats.bytesWritten += length;
      }
      this.#bytesDone += length;
      this.#progress.poke();
    } catch (error) {
      file.failed ??= error;
    }
  }

  /** Completes a file whose blobs are all written: renamed into place and its metadata set, or removed. */
  async #finish(file: PlannedFile): Promise<void> {
    file.finished = true;
    let ok = false;
    let failure = file.failed;
    if (failure === undefined && file.size <= SYNC_WRITE_MAX)
      try {
        const fd = (file.fd ??= openSync(file.temp, 'wx', 0o600));
        if (file.end < file.size) ftruncateSync(fd, file.size);
        file.fd = undefined;
        closeSync(fd);
        replaceSync(file.abs, (path) => renameSync(file.temp, path));
        ok = true;
        this.stats.files++;
      } catch (error) {
        failure = error;
      }
    else if (failure === undefined)
      try {
        const handle = await (file.handle ??= open(file.temp, 'wx', 0o600));
        if (file.end < file.size) await handle.truncate(file.size);
        await handle.close();
        await replace(file.abs, (path) => rename(file.temp, path));
        ok = true;
        this.stats.files++;
      } catch (error) {
        failure = error;
      }
    if (!ok) {
      await this.#discard(file);
      if (!this.#settings.signal?.aborted) this.#problem(file.rel, failure);
    }
    this.#fileDone(0);
    try {
      if (ok) this.#metadata(file.abs, file.rel, file.node);
    } finally {
      file.linked?.(ok ? file.abs : undefined);
    }
  }

  /** Closes and removes a file's temporary file. */
  async #discard(file: PlannedFile): Promise<void> {
    file.finished = true;
    if (file.fd !== undefined) {
      try {
        closeSync(file.fd);
      } catch {
        // it is removed all the same
      }
      file.fd = undefined;
      await unlink(file.temp).catch(() => {});
    }
    if (file.handle) {
      await file.handle.then((handle) => handle.close()).catch(() => {});
      await unlink(file.temp).catch(() => {});
    }
    file.linked?.(undefined);
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
    this.#metadata(abs, rel, node);
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

function writeAllSync(fd: number, bytes: Buffer, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

async function writeAll(handle: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
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
