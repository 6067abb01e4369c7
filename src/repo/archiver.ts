// The archiver: backs up one directory into a snapshot, as `cd <dir> && restic backup .` does with
// restic 0.14, so restic's ls, restore, dump, diff and check read the result as one of its own.
//
// The snapshot's root tree holds the directory's entries (not a node for the directory itself). The
// walk goes depth-first in byte order of the names; each directory's tree blob is saved once its entries
// are done (bottom-up). The walk does not wait for a directory's files before it goes on to the next
// one, so memory holds the node lists of the directories whose files are still being read (bounded by
// the files read at once, times the depth), never the whole tree. Files are read a few at a time
// (`concurrency` on the main thread, and up to WORKER_FILES larger ones handed to chunk workers):
// streamed through reused buffers, cut by restic's chunker with the repository's polynomial, each chunk
// saved as a data blob (the repository hashes it and skips what it has). With a parent snapshot, a file whose node there has the same size, mtime, ctime and inode,
// and whose blobs the index lists, is not read: its content ids are taken over (restic's change
// detection). Sockets are skipped and hard links are recorded, not followed, as restic does. What cannot
// be read (a file, a directory, a name that is not UTF-8) is left out and reported in `errors`; the
// caller decides what a partial backup means.
import type { BigIntStats } from 'node:fs';
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { open, readdir, readlink, type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Chunker, MAX_CHUNK_SIZE } from './chunker.ts';
import { ChunkWorkers, WorkerReadError, type WorkerChunk } from './chunk-workers.ts';
import { systemClock, systemIdentity, type Clock, type Identity, type SignalOptions } from './environment.ts';
import { Semaphore, throttle } from './limit.ts';
import { localUtcOffset, nodeFromStat, nodeTypeOf, readAccountNames, type AccountNames } from './node-fs.ts';
import { sha256 } from './ids.ts';
import { polynomialFromHex } from './polynomial.ts';
import type { SealedBlob } from './pack.ts';
import type { Repo, SaveBlobResult } from './repo.ts';
import { loadSnapshot, newSnapshotJson } from './snapshot.ts';
import { decodeTree, encodeTree, formatNodeTime, type Node } from './tree.ts';

export interface BackupProgress {
  /** Files done: read, or taken over from the parent unchanged. */
  filesDone: number;
  /** Bytes of the files done (read, or taken over). */
  bytesDone: number;
  /** Entries left out so far because they could not be read. */
  errors: number;
  /** The source's files and bytes, once a scan running beside the backup has counted them. */
  total?: { files: number; bytes: number } | undefined;
}

/** An entry left out of the snapshot: its path relative to the source and why. */
export interface BackupError {
  path: string;
  reason: string;
}

export interface BackupStats {
  filesNew: number;
  /** Files read again because they changed (or the parent's node did not match). */
  filesChanged: number;
  /** Files taken over from the parent without reading them. */
  filesUnmodified: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  /** Regular files in the snapshot and the sum of their sizes. */
  totalFiles: number;
  totalBytes: number;
  /** Bytes read from files. */
  bytesRead: number;
  dataBlobsAdded: number;
  treeBlobsAdded: number;
  /** Plaintext bytes of the blobs added (data and tree). */
  plaintextBytesAdded: number;
  /** Bytes the added blobs take in packs (compressed and encrypted). */
  bytesAdded: number;
}

export interface BackupOptions extends SignalOptions {
  /** The directory to back up. */
  source: string;
  /** What the snapshot records as its paths. Default: the source, made absolute. */
  paths?: readonly string[] | undefined;
  /** Default: the identity's host name. */
  hostname?: string | undefined;
  tags?: readonly string[] | undefined;
  /** A snapshot id (or unambiguous prefix) whose unchanged files are not read again. */
  parent?: string | undefined;
  /** Leaves out the entry at this `/`-separated path relative to the source (and all below it). */
  exclude?: ((relativePath: string) => boolean) | undefined;
  /**
   * Leaves out the entries at these `/`-separated paths relative to the source (and all below them), as
   * `exclude` does. Unlike a function they can go to a worker thread: without `exclude`, the count of
   * the source for progress runs on one, off the main thread (which has the walk).
   */
  excludePaths?: readonly string[] | undefined;
  /** The exclude patterns to record in the snapshot (restic's `excludes`), for humans. */
  excludes?: readonly string[] | undefined;
  /** The snapshot's time. Default: now, by `clock`. */
  time?: Date | undefined;
  clock?: Clock | undefined;
  /** The snapshot's username, uid, gid and default host name. Default: this process. */
  identity?: Identity | undefined;
  /** Names for node uids and gids. Default: /etc/passwd and /etc/group. */
  names?: AccountNames | undefined;
  /** Minutes east of UTC that times are shown in. Default: the local zone's. */
  utcOffset?: ((unixMillis: number) => number) | undefined;
  /** Files read at once. Default 4 (restic reads 2 at once; more pays off for small files). */
  concurrency?: number | undefined;
  /**
   * Worker threads that chunk, hash and seal files larger than 64 KiB (chunk-workers.ts). Default: the
   * machine's available parallelism less one, 1 to 4, and one more while the main thread is idle (at
   * most the available parallelism, and 4); 0 does that work on the main thread.
   */
  workers?: number | undefined;
  onProgress?: ((progress: BackupProgress) => void) | undefined;
  /** At most one progress call per this many milliseconds (and one at the end). Default 1000. */
  progressIntervalMs?: number | undefined;
}

export interface BackupResult {
  snapshotId: string;
  treeId: string;
  stats: BackupStats;
  errors: BackupError[];
}

/** Backs up `options.source` and writes a snapshot of it; see the file's header. */
export async function backupDirectory(repo: Repo, options: BackupOptions): Promise<BackupResult> {
  options.signal?.throwIfAborted();
  const source = resolve(options.source);
  const clock = options.clock ?? systemClock;
  const startMs = options.time?.getTime() ?? clock.now();
  const identity = options.identity ?? systemIdentity();
  const utcOffset = options.utcOffset ?? localUtcOffset;
  const lock = await repo.lock({ exclusive: false, signal: options.signal });
  let workers: ChunkWorkers | undefined;
  try {
    const signal = options.signal ? AbortSignal.any([options.signal, lock.signal]) : lock.signal;
    const parent = options.parent ? await loadSnapshot(repo, options.parent, { signal }) : undefined;
    // One core stays the main thread's (the walk, small files, packs, uploads), which is busy in a full
    // backup; one more worker (at most 4 in all) starts when it is idle, as in an incremental backup
    // where the workers read the changed files: on two cores a second worker made an incremental 17-20%
    // faster, and in a full backup cost 100-160 MB of peak memory for no clear gain.
    const cores = availableParallelism();
    const workerCount = options.workers ?? Math.max(1, Math.min(4, cores - 1));
    const extra = options.workers === undefined ? Math.max(0, Math.min(4, cores) - workerCount) : 0;
    const sealing = repo.blobSealing;
    // A repository with its own random source (tests) seals on the main thread: workers draw IVs from
    // the system's.
    workers =
      workerCount > 0 && repo.saveBlobSealedBy && sealing?.systemRandom
        ? new ChunkWorkers(workerCount, {
            polynomial: repo.config.chunkerPolynomial,
            key: sealing.key,
            extra,
          })
        : undefined;
    const archiver = new Archiver(repo, {
      workers,
      source,
      signal,
      exclude: options.exclude,
      excludePaths: new Set(options.excludePaths ?? []),
      names: options.names ?? (await readAccountNames()),
      utcOffset,
      concurrency: options.concurrency ?? 4,
      clock,
      onProgress: options.onProgress,
      progressIntervalMs: options.progressIntervalMs ?? 1000,
    });
    const treeId = await archiver.run(parent?.tree);
    await repo.flush({ signal });
    const json = newSnapshotJson({
      time: formatNodeTime({
        unixNano: BigInt(startMs) * 1_000_000n,
        utcOffsetMinutes: utcOffset(startMs),
      }),
      parent: parent?.id,
      tree: treeId,
      paths: options.paths ?? [source],
      hostname: options.hostname ?? identity.hostname,
      username: identity.username,
      uid: identity.uid,
      gid: identity.gid,
      excludes: options.excludes,
      tags: options.tags,
    });
    const snapshotId = await repo.saveJson('snapshots', json, { signal });
    return { snapshotId, treeId, stats: archiver.stats, errors: archiver.errors };
  } finally {
    repo.dropTreePacks?.();
    await workers?.close();
    await lock.release();
  }
}

interface ArchiverSettings {
  workers: ChunkWorkers | undefined;
  source: string;
  signal: AbortSignal;
  exclude: ((relativePath: string) => boolean) | undefined;
  excludePaths: ReadonlySet<string>;
  names: AccountNames;
  utcOffset: (unixMillis: number) => number;
  concurrency: number;
  clock: Clock;
  onProgress: ((progress: BackupProgress) => void) | undefined;
  progressIntervalMs: number;
}

/**
 * The count of #scanInWorker, as #scan does it: files and the sum of their sizes, directories entered,
 * what cannot be listed passed over, the excluded paths left out.
 */
const SCAN_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { readdirSync, lstatSync } = require('node:fs');
const { join } = require('node:path');
const excluded = new Set(workerData.excludePaths);
const total = { files: 0, bytes: 0 };
const walk = (abs, rel) => {
  let entries;
  try {
    entries = readdirSync(abs, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const childRel = rel ? rel + '/' + entry.name : entry.name;
    if (excluded.has(childRel)) continue;
    if (entry.isDirectory()) walk(join(abs, entry.name), childRel);
    else if (entry.isFile()) {
      total.files++;
      total.bytes += lstatSync(join(abs, entry.name), { throwIfNoEntry: false })?.size ?? 0;
    }
  }
};
walk(workerData.source, '');
parentPort.postMessage(total);
`;

/** Parent trees of subdirectories loaded ahead of the walk, per directory. */
const PREFETCH_TREES = 8;
/**
 * Files handed to the chunk workers at once (each holds a descriptor; the workers read one file each and
 * keep a second queued, the rest wait for them): enough that the walk seldom waits for the workers.
 */
const WORKER_FILES = 16;
/**
 * Files waiting for a worker slot, not yet opened (their path and lstat, and their directory's pending
 * node list): a few megabytes at most.
 */
const WORKER_LINE = 4096;
/** Small files read and waiting for a worker to seal them, at most (at most 64 KiB each). */
const SEALING_FILES = 256;
/** Files up to this size are read whole by synchronous calls (#readSmall). */
const SYNC_READ_MAX = 64 * 1024;
/** Reads at most this much per read call. */
const READ_SIZE = 1024 * 1024;
/** Files smaller than this start in a buffer of this size; larger ones in one of MAX_CHUNK_SIZE. */
const SMALL_BUFFER = 1024 * 1024;

/** A read that failed: the file is left out (and reported); other errors end the backup. */
class ReadError extends Error {
  override readonly name = 'ReadError';
}

/** Reusable buffers of one size: taken for a chunk, given back once the chunk is saved. */
class BufferPool {
  readonly #size: number;
  readonly #keep: number;
  readonly #free: Buffer[] = [];
  constructor(size: number, keep: number) {
    this.#size = size;
    this.#keep = keep;
  }
  get size(): number {
    return this.#size;
  }
  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.#size);
  }
  give(buffer: Buffer): void {
    if (buffer.length === this.#size && this.#free.length < this.#keep) this.#free.push(buffer);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

class Archiver {
  readonly stats: BackupStats = {
    filesNew: 0,
    filesChanged: 0,
    filesUnmodified: 0,
    dirsNew: 0,
    dirsChanged: 0,
    dirsUnmodified: 0,
    totalFiles: 0,
    totalBytes: 0,
    bytesRead: 0,
    dataBlobsAdded: 0,
    treeBlobsAdded: 0,
    plaintextBytesAdded: 0,
    bytesAdded: 0,
  };
  readonly errors: BackupError[] = [];
  readonly #repo: Repo;
  readonly #settings: ArchiverSettings;
  readonly #chunker: Chunker;
  /** Slots of the files read on the main thread (all of them without workers). */
  readonly #slots: Semaphore;
  /** Slots of the files handed to the chunk workers. */
  readonly #workerSlots: Semaphore;
  /** Places in the line of files waiting for a worker slot. */
  readonly #workerLine: Semaphore;
  /** Slots of the small files read here and sealed by the workers. */
  readonly #sealSlots: Semaphore;
  /** The first failure that ends the backup; the walk stops at it. */
  #failed: { error: unknown } | undefined;
  readonly #small: BufferPool;
  readonly #large: BufferPool;
  /** Files being read, so that a failing backup waits for them before it lets go of the lock. */
  readonly #reading = new Set<Promise<unknown>>();
  readonly #progress: { poke(): void; flush(): void };
  /** Parent trees being loaded ahead of the walk (#prefetchTree). */
  readonly #prefetched = new Map<string, Promise<Map<string, Node> | undefined>>();
  #filesDone = 0;
  #bytesDone = 0;
  #total: { files: number; bytes: number } | undefined;

  constructor(repo: Repo, settings: ArchiverSettings) {
    this.#repo = repo;
    this.#settings = settings;
    this.#chunker = new Chunker(polynomialFromHex(repo.config.chunkerPolynomial));
    this.#slots = new Semaphore(settings.concurrency);
    this.#workerSlots = new Semaphore(WORKER_FILES);
    this.#workerLine = new Semaphore(WORKER_LINE);
    this.#sealSlots = new Semaphore(SEALING_FILES);
    this.#small = new BufferPool(SMALL_BUFFER, settings.concurrency + 1);
    this.#large = new BufferPool(MAX_CHUNK_SIZE, 2 * settings.concurrency);
    const { onProgress } = settings;
    this.#progress = throttle(
      () =>
        onProgress?.({
          filesDone: this.#filesDone,
          bytesDone: this.#bytesDone,
          errors: this.errors.length,
          total: this.#total,
        }),
      settings.progressIntervalMs,
      () => settings.clock.now(),
    );
  }

  /** Backs up the source; returns the root tree's id. */
  async run(parentTree: string | undefined): Promise<string> {
    const { onProgress, exclude } = this.#settings;
    const counting = new AbortController();
    const scan = onProgress ? (exclude ? this.#scan() : this.#scanInWorker(counting.signal)) : undefined;
    try {
      const { tree } = await this.#walk(this.#settings.source, '', parentTree, true);
      const id = await tree;
      await scan; // the count, for the last progress report
      this.#progress.flush();
      return id as string;
    } catch (error) {
      counting.abort(); // the backup failed: the count no longer matters
      await Promise.allSettled(this.#reading);
      throw error;
    } finally {
      await scan;
    }
  }

  #error(path: string, error: unknown): void {
    const reason =
      error instanceof ReadError && error.cause instanceof Error
        ? error.cause.message
        : error instanceof Error
          ? error.message
          : String(error);
    this.errors.push({ path, reason });
    this.#progress.poke();
  }

  /**
   * Walks the directory `abs` (`rel` from the source): returns once every entry below it has been
   * started, with `tree`, which settles with the id of its saved tree once they are all done (undefined
   * when the directory cannot be listed: reported; thrown for the source itself). The walk goes on to
   * the next directory while the files of this one are still being read, so a large file in a worker
   * does not hold up the small files after it (the main thread's work), and the reverse.
   */
  async #walk(
    abs: string,
    rel: string,
    parentTree: string | undefined,
    root = false,
  ): Promise<{ tree: Promise<string | undefined> }> {
    const { signal, exclude, excludePaths } = this.#settings;
    this.#throwIfFailed();
    let names: Buffer[];
    try {
      names = await readdir(abs, { encoding: 'buffer' });
    } catch (error) {
      if (root) throw error;
      this.#error(rel, error);
      return { tree: Promise.resolve(undefined) };
    }
    names.sort((a, b) => Buffer.compare(a, b));
    const items: { name: string; rel: string; abs: string }[] = [];
    for (const raw of names) {
      let name: string;
      try {
        name = utf8.decode(raw);
      } catch {
        this.#error(`${rel ? `${rel}/` : ''}${raw.toString('latin1')}`, 'the name is not UTF-8');
        continue;
      }
      const childRel = rel ? `${rel}/${name}` : name;
      if (!exclude?.(childRel) && !excludePaths.has(childRel))
        items.push({ name, rel: childRel, abs: join(abs, name) });
    }
    const previous = await this.#previousNodes(parentTree);
    // The parent's trees of this directory's subdirectories, in walk order: loaded PREFETCH_TREES ahead
    // of the walk, so that a directory's tree is at hand when the walk comes to it (one object-store
    // round trip per directory, one after the other, set the pace of an unchanged tree).
    const parentSubtrees: string[] = [];
    for (const { name } of items) {
      const before = previous?.get(name);
      if (before?.type === 'dir' && before.subtree) parentSubtrees.push(before.subtree);
    }
    let prefetched = 0;
    const prefetch = (upTo: number) => {
      for (; prefetched < Math.min(upTo, parentSubtrees.length); prefetched++)
        this.#prefetchTree(parentSubtrees[prefetched] as string);
    };
    prefetch(PREFETCH_TREES);
    let subdirectories = 0;
    const entries: Promise<Node | undefined>[] = [];
    for (const { name, rel: childRel, abs: childAbs } of items) {
      signal.throwIfAborted();
      this.#throwIfFailed();
      // Synchronous: an lstat is a microsecond or two against the dentry cache, and a thread-pool round
      // trip per entry cost more CPU than that and set the pace of a tree of small files.
      let stats: BigIntStats;
      try {
        stats = lstatSync(childAbs, { bigint: true });
      } catch (error) {
        this.#error(childRel, error);
        continue;
      }
      const type = nodeTypeOf(Number(stats.mode));
      const before = previous?.get(name);
      if (type === 'socket') continue; // restic's archiver stores no sockets
      if (type === undefined) {
        this.#error(childRel, `unknown file type ${(Number(stats.mode) & 0o170000).toString(8)}`);
      } else if (type === 'dir') {
        const node = this.#node(name, stats);
        if (before?.type === 'dir' && before.subtree) prefetch(++subdirectories + PREFETCH_TREES);
        const { tree } = await this.#walk(
          childAbs,
          childRel,
          before?.type === 'dir' ? before.subtree : undefined,
        );
        entries.push(
          this.#watch(
            tree.then((subtree) => {
              if (subtree === undefined) return undefined;
              node.subtree = subtree;
              if (!before) this.stats.dirsNew++;
              else if (before.subtree === subtree) this.stats.dirsUnmodified++;
              else this.stats.dirsChanged++;
              return node;
            }),
          ),
        );
      } else if (type === 'file') {
        let saving: Promise<Node | undefined>;
        if (this.#settings.workers && Number(stats.size) > SYNC_READ_MAX) {
          // A file for the chunk workers waits in line for them (it is opened only once a worker slot is
          // free) while the walk goes on: the main thread reads the small files after it meanwhile,
          // instead of idling while the workers are behind. Only the line's length holds up the walk.
          await this.#workerLine.acquire(signal);
          saving = this.#workerSlots
            .acquire(signal)
            .then(() =>
              this.#file(childAbs, childRel, name, stats, before).finally(() => this.#workerSlots.release()),
            )
            .finally(() => this.#workerLine.release());
        } else {
          // With workers, a small file (read and hashed here at once) waits mostly for a worker to seal
          // it: many are under way at once, or the round trips set the pace.
          const slots = this.#settings.workers ? this.#sealSlots : this.#slots;
          await slots.acquire(signal);
          saving = this.#file(childAbs, childRel, name, stats, before).finally(() => slots.release());
        }
        this.#reading.add(saving);
        void saving.then(
          () => this.#reading.delete(saving),
          () => this.#reading.delete(saving),
        );
        entries.push(this.#watch(saving));
      } else {
        let linkTarget: string | undefined;
        if (type === 'symlink') {
          try {
            linkTarget = await readlink(childAbs);
          } catch (error) {
            this.#error(childRel, error);
            continue;
          }
        }
        entries.push(Promise.resolve(this.#node(name, stats, linkTarget)));
      }
    }
    for (const tree of parentSubtrees.slice(0, prefetched)) this.#prefetched.delete(tree); // not walked
    const tree = Promise.all(entries).then(async (done) => {
      const blob = encodeTree(done.filter((node) => node !== undefined));
      const saved = await this.#repo.saveBlob('tree', blob, { signal });
      if (!saved.known) {
        this.stats.treeBlobsAdded++;
        this.stats.plaintextBytesAdded += blob.length;
        this.stats.bytesAdded += saved.storedBytes;
      }
      return saved.id;
    });
    return { tree: this.#watch(tree) };
  }

  /**
   * `work`, watched: its failure (one that ends the backup: a file that cannot be read is reported, not
   * thrown) stops the walk at its next entry, and is never an unhandled rejection while the directory
   * that waits for it is still being walked.
   */
  #watch<T>(work: Promise<T>): Promise<T> {
    work.catch((error: unknown) => (this.#failed ??= { error }));
    return work;
  }

  #throwIfFailed(): void {
    if (this.#failed) throw this.#failed.error;
  }

  /** Starts loading a parent tree that the walk will ask #previousNodes for. */
  #prefetchTree(tree: string): void {
    if (this.#prefetched.has(tree)) return;
    const loading = this.#loadPreviousNodes(tree);
    loading.catch(() => {}); // taken by #previousNodes, or dropped
    this.#prefetched.set(tree, loading);
  }

  /** The parent snapshot's nodes of a directory by name; none when it has no such tree or it fails to load. */
  async #previousNodes(tree: string | undefined): Promise<Map<string, Node> | undefined> {
    if (!tree) return undefined;
    const prefetched = this.#prefetched.get(tree);
    if (prefetched) {
      this.#prefetched.delete(tree);
      return prefetched;
    }
    return this.#loadPreviousNodes(tree);
  }

  async #loadPreviousNodes(tree: string): Promise<Map<string, Node> | undefined> {
    try {
      const nodes = decodeTree(await this.#repo.loadBlob('tree', tree, { signal: this.#settings.signal }));
      return new Map(nodes.map((node) => [node.name, node]));
    } catch {
      this.#settings.signal.throwIfAborted();
      return undefined; // the parent only saves reading; without it every file is read
    }
  }

  #node(name: string, stats: BigIntStats, linkTarget?: string): Node {
    const { names, utcOffset } = this.#settings;
    return nodeFromStat(
      name,
      stats,
      linkTarget === undefined ? { names, utcOffset } : { names, utcOffset, linkTarget },
    );
  }

  /** The node of a regular file with its content ids; undefined when it cannot be read (reported). */
  async #file(
    abs: string,
    rel: string,
    name: string,
    stats: BigIntStats,
    before: Node | undefined,
  ): Promise<Node | undefined> {
    if (before && unchanged(before, stats) && (await this.#allKnown(before.content ?? []))) {
      const node = this.#node(name, stats);
      node.content = before.content;
      this.stats.filesUnmodified++;
      this.#fileDone(Number(stats.size), false);
      return node;
    }
    if (Number(stats.size) <= SYNC_READ_MAX) {
      const small = this.#readSmall(abs, rel);
      if (small === undefined) return undefined;
      if (small !== 'larger') {
        const node = this.#node(name, small.stats);
        const size = small.data.length;
        node.content = size ? [await this.#saveChunk(small.data)] : [];
        if (size) node.size = size;
        else delete node.size;
        if (before) this.stats.filesChanged++;
        else this.stats.filesNew++;
        this.stats.bytesRead += size;
        this.#bytesDone += size;
        this.#fileDone(size, true);
        return node;
      }
    }
    let handle: FileHandle;
    try {
      handle = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      this.#error(rel, error);
      return undefined;
    }
    try {
      const current = await handle.stat({ bigint: true }).catch((error: unknown) => {
        throw new ReadError('stat failed', { cause: error });
      });
      if (!current.isFile()) {
        this.#error(rel, 'it is no longer a regular file');
        return undefined;
      }
      const node = this.#node(name, current);
      const { ids, size } = this.#settings.workers
        ? await this.#contentInWorker(this.#settings.workers, handle)
        : await this.#content(handle, Number(current.size));
      node.content = ids;
      if (size) node.size = size;
      else delete node.size;
      if (before) this.stats.filesChanged++;
      else this.stats.filesNew++;
      this.#fileDone(size, true);
      return node;
    } catch (error) {
      if (!(error instanceof ReadError)) throw error;
      this.#error(rel, error);
      return undefined;
    } finally {
      await handle.close().catch(() => {});
    }
  }

  /**
   * A small file read whole with synchronous calls: open, fstat, one read, close. Four thread-pool round
   * trips cost more CPU than the calls themselves for a file in the page cache, and they set the pace of a
   * backup of many small files. 'larger' when the file has grown past SYNC_READ_MAX since its lstat (the
   * streaming path reads it); undefined when it cannot be read (reported).
   */
  #readSmall(abs: string, rel: string): { stats: BigIntStats; data: Buffer } | 'larger' | undefined {
    let fd: number;
    try {
      fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      this.#error(rel, error);
      return undefined;
    }
    try {
      const stats = fstatSync(fd, { bigint: true });
      if (!stats.isFile()) {
        this.#error(rel, 'it is no longer a regular file');
        return undefined;
      }
      if (Number(stats.size) > SYNC_READ_MAX) return 'larger';
      const buffer = Buffer.allocUnsafe(Number(stats.size) + 1);
      const read = readSync(fd, buffer, 0, buffer.length, 0);
      if (read > Number(stats.size)) return 'larger';
      return { stats, data: buffer.subarray(0, read) };
    } catch (error) {
      this.#error(rel, error);
      return undefined;
    } finally {
      closeSync(fd);
    }
  }

  /** Counts a file done; the bytes of a file read were counted as they were read. */
  #fileDone(size: number, read: boolean): void {
    this.#filesDone++;
    if (!read) this.#bytesDone += size;
    this.stats.totalFiles++;
    this.stats.totalBytes += size;
    this.#progress.poke();
  }

  async #allKnown(ids: readonly string[]): Promise<boolean> {
    for (const id of ids)
      if (!(await this.#repo.hasBlob('data', id, { signal: this.#settings.signal }))) return false;
    return true;
  }

  /**
   * Reads a file to its end and saves its chunks; returns their ids in order and the bytes read. The
   * bytes of the current chunk sit at the start of a buffer; at a cut, the bytes after it move to
   * another buffer and the chunk is saved from where it is, while the next one is read. One chunk per
   * file is saved at a time, so a file holds two buffers at most.
   */
  async #content(handle: FileHandle, sizeHint: number): Promise<{ ids: string[]; size: number }> {
    const { signal } = this.#settings;
    const splitter = this.#chunker.split();
    const saves: Promise<string>[] = [];
    let saving: Promise<unknown> = Promise.resolve();
    let pool = sizeHint < SMALL_BUFFER ? this.#small : this.#large;
    let buffer = pool.take();
    let fill = 0;
    let size = 0;
    try {
      for (;;) {
        signal.throwIfAborted();
        if (fill === buffer.length) {
          // A small buffer full without a cut: the file is larger than it said. (A large one cuts at
          // MAX_CHUNK_SIZE, so it never fills.)
          const larger = this.#large.take();
          buffer.copy(larger, 0, 0, fill);
          pool.give(buffer);
          [pool, buffer] = [this.#large, larger];
        }
        let read: number;
        try {
          ({ bytesRead: read } = await handle.read(
            buffer,
            fill,
            Math.min(READ_SIZE, buffer.length - fill),
            size,
          ));
        } catch (error) {
          throw new ReadError('read failed', { cause: error });
        }
        if (read === 0) break;
        size += read;
        this.stats.bytesRead += read;
        this.#bytesDone += read;
        let from = fill;
        fill += read;
        for (;;) {
          const cut = splitter.next(buffer, from, fill);
          if (cut < 0) break;
          await saving; // the previous chunk's buffer is back in its pool
          const next = this.#large.take();
          buffer.copy(next, 0, cut, fill);
          const owner = { pool, buffer };
          const save = this.#saveChunk(buffer.subarray(0, cut));
          saves.push(save);
          saving = save.then(
            () => owner.pool.give(owner.buffer),
            () => {},
          );
          [pool, buffer, fill, from] = [this.#large, next, fill - cut, 0];
        }
        this.#progress.poke();
      }
      if (fill > 0) saves.push(this.#saveChunk(buffer.subarray(0, fill)));
      const ids = await Promise.all(saves);
      pool.give(buffer);
      return { ids, size };
    } catch (error) {
      await Promise.allSettled(saves);
      throw error;
    }
  }

  /**
   * #content, by a chunk worker: it reads the file by its descriptor, cuts and hashes the chunks, and
   * seals those the repository asks for. The chunks are saved in the order they come.
   */
  async #contentInWorker(
    workers: ChunkWorkers,
    handle: FileHandle,
  ): Promise<{ ids: string[]; size: number }> {
    const { signal } = this.#settings;
    const saves: Promise<string>[] = [];
    let size: number;
    // One chunk of a file is saved at a time, as in #content: a save waits while the uploads are behind,
    // and the worker, whose chunks then wait for their decision, stops reading.
    let previous: Promise<unknown> = Promise.resolve();
    try {
      ({ size } = await workers.chunkFile(
        handle.fd,
        (chunk) => {
          if (signal.aborted) {
            chunk.drop();
            return;
          }
          this.stats.bytesRead += chunk.length;
          this.#bytesDone += chunk.length;
          this.#progress.poke();
          const save = previous.then(
            () => this.#saveWorkerChunk(chunk, signal),
            () => {
              chunk.drop();
              return '';
            },
          );
          previous = save;
          save.catch(() => {}); // Promise.all below takes the failure
          saves.push(save);
        },
        signal,
      ));
    } catch (error) {
      await Promise.allSettled(saves);
      if (error instanceof WorkerReadError) throw new ReadError('read failed', { cause: error.cause });
      throw error;
    }
    return { ids: await Promise.all(saves), size };
  }

  async #saveWorkerChunk(chunk: WorkerChunk, signal: AbortSignal): Promise<string> {
    const repo = this.#repo as Required<Pick<Repo, 'saveBlobSealedBy'>>;
    let sealing = false;
    try {
      const saved = await repo.saveBlobSealedBy(
        'data',
        chunk.id,
        chunk.length,
        (compress) => {
          sealing = true;
          return chunk.seal(compress);
        },
        { signal },
      );
      if (!saved.known) {
        this.stats.dataBlobsAdded++;
        this.stats.plaintextBytesAdded += chunk.length;
        this.stats.bytesAdded += saved.storedBytes;
      }
      return saved.id;
    } finally {
      if (!sealing) chunk.drop();
    }
  }

  async #saveChunk(chunk: Buffer): Promise<string> {
    const saved = await this.#storeChunk(chunk);
    if (!saved.known) {
      this.stats.dataBlobsAdded++;
      this.stats.plaintextBytesAdded += chunk.length;
      this.stats.bytesAdded += saved.storedBytes;
    }
    return saved.id;
  }

  /** Stores a chunk read here; with workers (a small file's), hashed here and sealed there when new. */
  #storeChunk(chunk: Buffer): Promise<SaveBlobResult> {
    const { workers, signal } = this.#settings;
    const repo = this.#repo;
    if (!workers || !repo.saveBlobSealedBy) return repo.saveBlob('data', chunk, { signal });
    const id = sha256(chunk);
    const seal = async (compress: boolean): Promise<SealedBlob> => {
      const { ciphertext, uncompressedLength } = await workers.seal(chunk, compress);
      const bytes = Buffer.from(ciphertext.buffer, ciphertext.byteOffset, ciphertext.length);
      return { type: 'data', id, ciphertext: bytes, uncompressedLength };
    };
    return repo.saveBlobSealedBy('data', id, chunk.length, seal, { signal });
  }

  /**
   * #scan on a worker thread of its own (plain JavaScript, so it starts in milliseconds): on the main
   * thread the count's readdir and lstat calls were a tenth of an incremental backup's walk. A failed or
   * stopped count leaves the total unknown.
   */
  async #scanInWorker(stopped: AbortSignal): Promise<void> {
    const { source, excludePaths, signal } = this.#settings;
    const worker = new Worker(SCAN_WORKER, {
      eval: true,
      workerData: { source, excludePaths: [...excludePaths] },
    });
    try {
      // Settles with the count, or fails with the worker's error or when the walk ends or stops first.
      const [total] = (await once(worker, 'message', { signal: AbortSignal.any([stopped, signal]) })) as [
        { files: number; bytes: number },
      ];
      this.#total = total;
      this.#progress.poke();
    } catch {
      // the count failed or was not needed any more: the total stays unknown
    } finally {
      await worker.terminate();
    }
  }

  /** Counts the source's files and bytes beside the backup, for progress; errors are the walk's to report. */
  async #scan(): Promise<void> {
    const { signal, exclude, excludePaths } = this.#settings;
    const total = { files: 0, bytes: 0 };
    const walk = async (abs: string, rel: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(abs, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        if (signal.aborted) return;
        const childRel = rel ? `${rel}/${entry.name}` : entry.name;
        if (exclude?.(childRel) || excludePaths.has(childRel)) continue;
        if (entry.isDirectory()) await walk(join(abs, entry.name), childRel);
        else if (entry.isFile()) {
          total.files++;
          // Synchronous, as the walk's (#walk); the readdir above lets the backup run between directories.
          total.bytes += lstatSync(join(abs, entry.name), { throwIfNoEntry: false })?.size ?? 0;
        }
      }
    };
    await walk(this.#settings.source, '');
    this.#total = total;
    this.#progress.poke();
  }
}

/** restic's fileChanged: a file is taken as unchanged when type, mtime, ctime, inode and size match. */
function unchanged(before: Node, stats: BigIntStats): boolean {
  return (
    before.type === 'file' &&
    before.content !== null &&
    before.mtime.unixNano === stats.mtimeNs &&
    before.ctime.unixNano === stats.ctimeNs &&
    (before.inode ?? 0n) === stats.ino &&
    (before.size ?? 0) === Number(stats.size)
  );
}
