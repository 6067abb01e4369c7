// `prune`: removes the data no snapshot uses, with restic 0.14's plan (cmd/restic/cmd_prune.go,
// internal/repository/repack.go) and its crash-safe order.
//
// Plan. The used blobs are every tree below every snapshot and every data blob their files name. Going
// through the index: a used blob's first copy is used, further copies are duplicates (one copy is then
// chosen to stay, preferably in a pack with other used blobs), the rest is unused. Per pack: no used
// blob → delete it; all used, one blob type, compressed where it must be, not tiny → keep it; otherwise
// it is a candidate for repacking (copying its used blobs into new packs and deleting it). Candidates
// are taken, tree packs and tiny packs first, then the most-unused first, until the unused bytes left
// are at most maxUnusedFraction of the total (restic's --max-unused 5%); tree packs and packs that must
// be compressed are always repacked. Packs that no index lists are deleted; packs that the index lists
// but that are missing are dropped from the index if nothing they hold is used, and stop prune if
// something is.
//
// Order, so that a crash at any point leaves a repository whose snapshots are whole (check passes; at
// worst it warns of packs no index lists, or of packs listed in several index files, which the next
// prune deletes or indexes once):
// 1. delete packs no index lists (nothing can find their blobs);
// 2. write the repacked blobs into new packs, and an index file for them (the old packs stay);
// 3. write new index files for every pack that stays, superseding all old index files;
// 4. delete the old index files;
// 5. delete the packs now unused or repacked.
// Before step 4 the new index is checked to hold every used blob in a pack that stays.
// Steps 3 to 5 also run when nothing is obsolete but packs are listed in several index files (a prune
// interrupted in step 4 leaves them), so that the next prune finishes what the interrupted one began.
import { handlePath } from './backend.ts';
import type { SignalOptions } from './environment.ts';
import { RepoError } from './errors.ts';
import { INDEX_MAX_BLOBS, indexFileJson, type IndexPack } from './index-file.ts';
import type { IndexEntry } from './master-index.ts';
import {
  BlobSet,
  blobsByPack,
  loadIndexFiles,
  packSizeOf,
  walkTrees,
  type LoadedIndex,
  type MaintenanceProgress,
  type MaintenanceRepo,
} from './maintenance.ts';
import { packHeaderSize, type BlobType } from './pack.ts';
import { loadSnapshots } from './snapshot-list.ts';

/** Prune refuses to go on: the repository is damaged in a way that deleting could make worse. */
export class PruneRefusedError extends RepoError {
  override readonly name = 'PruneRefusedError';
  readonly repo: string;
  readonly reason: string;
  constructor(repo: string, reason: string, options?: { cause?: unknown }) {
    super(`prune of ${repo} refused: ${reason}`, options);
    this.repo = repo;
    this.reason = reason;
  }
}

export interface PruneLogger {
  info?(message: string): void;
  warn(message: string): void;
}

export interface PruneOptions extends SignalOptions {
  /**
   * The share of unused bytes to tolerate in the repository after pruning (restic's --max-unused
   * as a fraction). Default 0.05; 0 repacks every partly used pack.
   */
  maxUnusedFraction?: number | undefined;
  /** The unused bytes to tolerate, instead of a fraction. */
  maxUnusedBytes?: number | undefined;
  /** Repack at most this many bytes of packs (restic's --max-repack-size). Default unlimited. */
  maxRepackBytes?: number | undefined;
  /** Also repack packs below 80% of the target pack size (restic's --repack-small). */
  repackSmall?: boolean | undefined;
  /** Also repack packs with uncompressed data blobs (restic's --repack-uncompressed). */
  repackUncompressed?: boolean | undefined;
  /** Plan and report only: nothing is written or deleted. */
  dryRun?: boolean | undefined;
  onProgress?: ((progress: MaintenanceProgress) => void) | undefined;
  logger?: PruneLogger | undefined;
  /** Take an exclusive lock. Default true; false when the caller holds one. */
  lock?: boolean | undefined;
}

export interface PrunePlan {
  /** Packs no index lists: deleted first. */
  deleteUnindexed: string[];
  /** Packs whose used blobs are copied to new packs; deleted afterwards. */
  repack: string[];
  /** Packs without used blobs: deleted. */
  delete: string[];
  /** Packs the index lists that are missing and hold nothing used: dropped from the index. */
  dropMissing: string[];
  /** Blobs to copy while repacking. */
  repackBlobs: number;
}

/** restic's prune statistics, and what was done. */
export interface PruneStats {
  blobs: {
    used: number;
    duplicate: number;
    unused: number;
    delete: number;
    repack: number;
    repackRemove: number;
  };
  bytes: {
    used: number;
    duplicate: number;
    unused: number;
    delete: number;
    repack: number;
    repackRemove: number;
    unindexed: number;
  };
  packs: {
    used: number;
    unused: number;
    partlyUsed: number;
    unindexed: number;
    keep: number;
    repack: number;
    delete: number;
  };
  /** Unused bytes left after the plan (duplicates and unused blobs in packs kept). */
  unusedAfter: number;
  /** What was done (all zero in a dry run). */
  packsWritten: number;
  bytesWritten: number;
  indexFilesWritten: number;
  indexFilesDeleted: number;
  packsDeleted: number;
  /** Bytes of packs deleted minus bytes of packs written. */
  bytesFreed: number;
}

export interface PruneResult {
  plan: PrunePlan;
  stats: PruneStats;
  dryRun: boolean;
  /** Packs whose deletion failed (warned; the next prune deletes them, as they are in no index). */
  notDeleted: string[];
}

interface PackInfo {
  usedBlobs: number;
  unusedBlobs: number;
  usedSize: number;
  unusedSize: number;
  /** One type, 'mixed', or undefined before the first blob. */
  type: BlobType | 'mixed' | undefined;
  uncompressed: boolean;
}

/** Prunes the repository (see the top of this file); with dryRun only plans. */
export async function pruneRepository(
  repo: MaintenanceRepo,
  options: PruneOptions = {},
): Promise<PruneResult> {
  const fraction = options.maxUnusedFraction ?? 0.05;
  if (!(fraction >= 0 && fraction < 1))
    throw new RangeError(`maxUnusedFraction ${fraction} is not at least 0 and below 1`);
  const lock =
    options.lock === false ? undefined : await repo.lock({ exclusive: true, signal: options.signal });
  try {
    // A lock lost (not refreshed in time) stops the prune: another process may take the repository.
    const signal = lock
      ? AbortSignal.any([lock.signal, ...(options.signal ? [options.signal] : [])])
      : options.signal;
    return await prune(repo, { ...options, signal }, fraction);
  } finally {
    await lock?.release();
  }
}

async function prune(repo: MaintenanceRepo, options: PruneOptions, fraction: number): Promise<PruneResult> {
  const { signal } = options;
  const progress = options.onProgress ?? (() => {});
  const logger = options.logger;
  const refuse = (reason: string, cause?: unknown) =>
    new PruneRefusedError(repo.backend.description, reason, cause === undefined ? undefined : { cause });

  // The index, file by file.
  const loaded = await loadIndexFiles(repo, {
    signal,
    onFile: (done, total) => progress({ phase: 'index', done, total }),
  });
  const [badIndex] = loaded.errors;
  if (badIndex)
    throw refuse(
      `index file ${handlePath({ type: 'index', name: badIndex.file })} does not load`,
      badIndex.error,
    );

  // The used blobs: every tree below every snapshot, and the data blobs of their files.
  const { snapshots, errors: snapshotErrors } = await loadSnapshots(repo, { signal });
  const [badSnapshot] = snapshotErrors;
  if (badSnapshot) throw refuse(`snapshot ${badSnapshot.id} does not load`, badSnapshot.error);
  progress({ phase: 'snapshots', done: snapshots.length, total: snapshots.length });
  const usedData = new BlobSet();
  const usedTrees = await walkTrees(
    repo,
    snapshots.map((s) => ({ tree: s.tree, snapshot: s.id })),
    {
      tree(_ref, nodes) {
        for (const node of nodes) for (const blob of node.content ?? []) usedData.add(blob);
      },
      error(ref, error) {
        throw refuse(`tree ${ref.tree} does not load`, error);
      },
    },
    { signal, onTree: (done) => progress({ phase: 'trees', done }) },
  );
  const used = { data: usedData, tree: usedTrees };

  const stats = newStats();
  const { plan, packs, keepCopies } = await planPrune(repo, loaded, used, stats, options, fraction, refuse);
  logger?.info?.(
    `prune plan: ${plan.delete.length} unused packs to delete, ${plan.repack.length} to repack ` +
      `(${plan.repackBlobs} blobs to copy), ${plan.deleteUnindexed.length} packs in no index, ` +
      `${stats.packs.keep} packs kept`,
  );
  const result: PruneResult = { plan, stats, dryRun: options.dryRun === true, notDeleted: [] };
  if (options.dryRun) return result;

  // 1. Packs no index lists.
  const sizes = new Map<string, number>();
  for await (const { name, size } of repo.list('data', { signal })) sizes.set(name, size);
  const deletePacks = async (ids: readonly string[]) => {
    let done = 0;
    for (const id of ids) {
      signal?.throwIfAborted();
      try {
        await repo.removeFile('data', id, { signal });
        stats.packsDeleted++;
        stats.bytesFreed += sizes.get(id) ?? 0;
      } catch (error) {
        signal?.throwIfAborted();
        logger?.warn(
          `prune: removing pack ${handlePath({ type: 'data', name: id })} failed: ${String(error)}`,
        );
        result.notDeleted.push(id);
      }
      progress({ phase: 'delete-packs', done: ++done, total: ids.length });
    }
  };
  await deletePacks(plan.deleteUnindexed);

  // 2. Copy the used blobs of the packs to repack into new packs; flush writes their index file.
  const repacked = { data: new BlobSet(), tree: new BlobSet() };
  let repackDone = 0;
  for (const pack of plan.repack) {
    const blobs = (packs.get(pack) ?? []).filter(
      (b) => keepCopies[b.type].has(b.id) && !repacked[b.type].has(b.id),
    );
    if (blobs.length > 0) {
      const bytes = await repo.backend.load({ type: 'data', name: pack }, { signal });
      for (const blob of blobs) {
        signal?.throwIfAborted();
        let plaintext: Buffer;
        try {
          plaintext = await repo.openPackedBlob(
            pack,
            blob,
            bytes.subarray(blob.offset, blob.offset + blob.length),
          );
        } catch (error) {
          // This copy is damaged: another copy may still be good (loadBlob verifies what it returns).
          logger?.warn(
            `prune: ${blob.type} blob ${blob.id} in pack ${pack}: ${String(error)}; trying other copies`,
          );
          plaintext = await repo.loadBlob(blob.type, blob.id, { signal }).catch((cause: unknown) => {
            throw refuse(`used ${blob.type} blob ${blob.id} has no readable copy`, cause);
          });
        }
        await repo.saveBlob(blob.type, plaintext, { duplicate: true, signal });
        repacked[blob.type].add(blob.id);
      }
    }
    progress({ phase: 'repack', done: ++repackDone, total: plan.repack.length });
  }
  await repo.flush({ signal });
  const copied = repacked.data.size + repacked.tree.size;
  if (copied !== plan.repackBlobs)
    throw refuse(`repacking copied ${copied} blobs, not the ${plan.repackBlobs} planned`);

  const obsoletePacks = new Set([...plan.delete, ...plan.repack, ...plan.dropMissing]);
  // Packs several index files list: what a prune interrupted while deleting the old index files leaves
  // (which old files are left depends on the order of their names, that is on chance). They may all stay,
  // so nothing is obsolete: the index is rewritten for them too, or prune would never finish the job.
  const indexedTwice = [...loaded.packFiles.values()].some((files) => files.length > 1);
  if (obsoletePacks.size > 0 || indexedTwice) {
    // 3. New index files for every pack that stays (the new packs included), superseding the old ones.
    const before = loaded.index.packCount;
    await loadIndexFiles(repo, { signal, into: loaded }); // the index files flush wrote
    const [badNew] = loaded.errors;
    if (badNew)
      throw refuse(
        `index file ${handlePath({ type: 'index', name: badNew.file })} does not load`,
        badNew.error,
      );
    const superseded = [...loaded.files];
    const staying: IndexPack[] = [];
    const inNewIndex = { data: new BlobSet(), tree: new BlobSet() };
    for (const [pack, blobs] of blobsByPack(loaded.index)) {
      if (!packs.has(pack)) stats.bytesWritten += packSizeOf(blobs); // a new pack
      if (obsoletePacks.has(pack)) continue;
      staying.push({ id: pack, blobs: blobs.map(({ pack: _pack, ...blob }) => blob) });
      for (const blob of blobs) inNewIndex[blob.type].add(blob.id);
    }
    stats.packsWritten = loaded.index.packCount - before;
    stats.bytesFreed -= stats.bytesWritten;
    for (const type of ['data', 'tree'] as const)
      for (const id of used[type].values())
        if (!inNewIndex[type].has(id))
          throw refuse(
            `used ${type} blob ${id} would be in no pack that stays (no indexed pack was deleted)`,
          );
    let files = 0;
    for (const chunk of indexChunks(staying)) {
      signal?.throwIfAborted();
      await repo.saveJson(
        'index',
        indexFileJson({ supersedes: files === 0 ? superseded : [], packs: chunk }),
        { signal },
      );
      files++;
      progress({ phase: 'write-index', done: files });
    }
    stats.indexFilesWritten = files;

    // 4. The old index files.
    let done = 0;
    for (const file of superseded) {
      signal?.throwIfAborted();
      await repo.removeFile('index', file, { signal });
      stats.indexFilesDeleted++;
      progress({ phase: 'delete-index', done: ++done, total: superseded.length });
    }

    // 5. The packs now unused or repacked.
    await deletePacks([...plan.delete, ...plan.repack].filter((pack) => sizes.has(pack)));
  }
  await repo.reloadIndex({ signal });
  logger?.info?.(
    `prune: ${stats.packsDeleted} packs deleted, ${stats.packsWritten} written, ${stats.bytesFreed} bytes freed`,
  );
  return result;
}

/** Index files of at most restic's 50,000 blobs each (at least one pack each). */
function* indexChunks(packs: IndexPack[]): Generator<IndexPack[]> {
  let chunk: IndexPack[] = [];
  let blobs = 0;
  for (const pack of packs) {
    if (chunk.length > 0 && blobs + pack.blobs.length > INDEX_MAX_BLOBS) {
      yield chunk;
      chunk = [];
      blobs = 0;
    }
    chunk.push(pack);
    blobs += pack.blobs.length;
  }
  if (chunk.length > 0) yield chunk;
}

function newStats(): PruneStats {
  return {
    blobs: { used: 0, duplicate: 0, unused: 0, delete: 0, repack: 0, repackRemove: 0 },
    bytes: { used: 0, duplicate: 0, unused: 0, delete: 0, repack: 0, repackRemove: 0, unindexed: 0 },
    packs: { used: 0, unused: 0, partlyUsed: 0, unindexed: 0, keep: 0, repack: 0, delete: 0 },
    unusedAfter: 0,
    packsWritten: 0,
    bytesWritten: 0,
    indexFilesWritten: 0,
    indexFilesDeleted: 0,
    packsDeleted: 0,
    bytesFreed: 0,
  };
}

/** restic's planPrune: packInfoFromIndex and decidePackAction. */
async function planPrune(
  repo: MaintenanceRepo,
  loaded: LoadedIndex,
  used: Record<BlobType, BlobSet>,
  stats: PruneStats,
  options: PruneOptions,
  fraction: number,
  refuse: (reason: string, cause?: unknown) => Error,
): Promise<{ plan: PrunePlan; packs: Map<string, IndexEntry[]>; keepCopies: Record<BlobType, BlobSet> }> {
  const { signal } = options;
  const packs = blobsByPack(loaded.index);
  const entries = [...packs.values()].flat();

  // Which blobs are used, duplicated or unused.
  const keep = { data: new BlobSet(), tree: new BlobSet() };
  const duplicates = new Map<string, number>(); // `type:id` → copies not yet decided
  for (const blob of entries) {
    const handle = `${blob.type}:${blob.id}`;
    if (used[blob.type].has(blob.id) && keep[blob.type].add(blob.id)) {
      stats.bytes.used += blob.length;
      stats.blobs.used++;
    } else if (keep[blob.type].has(blob.id)) {
      duplicates.set(handle, (duplicates.get(handle) ?? 1) + 1);
      stats.bytes.duplicate += blob.length;
      stats.blobs.duplicate++;
    } else {
      stats.bytes.unused += blob.length;
      stats.blobs.unused++;
    }
  }
  for (const type of ['data', 'tree'] as const)
    if (keep[type].size !== used[type].size) {
      const missing = [...used[type].values()].filter((id) => !keep[type].has(id));
      throw refuse(
        `${missing.length} used ${type} blobs are not in the index (${missing.slice(0, 3).join(', ')}…): data seems to be missing`,
      );
    }

  // Per pack: used and unused blobs and bytes (the header counts as used).
  const info = new Map<string, PackInfo>();
  for (const [pack, blobs] of packs)
    info.set(pack, {
      usedBlobs: 0,
      unusedBlobs: 0,
      usedSize: packHeaderSize(blobs),
      unusedSize: 0,
      type: undefined,
      uncompressed: false,
    });
  for (const blob of entries) {
    const p = info.get(blob.pack) as PackInfo;
    p.type = p.type === undefined || p.type === blob.type ? blob.type : 'mixed';
    if (duplicates.has(`${blob.type}:${blob.id}`)) {
      // decided below
    } else if (keep[blob.type].has(blob.id)) {
      p.usedSize += blob.length;
      p.usedBlobs++;
    } else {
      p.unusedSize += blob.length;
      p.unusedBlobs++;
    }
    if (blob.uncompressedLength === undefined) p.uncompressed = true;
  }
  // One copy of a duplicated blob stays: in a pack with other used blobs if there is one, else the last.
  if (duplicates.size > 0)
    for (const blob of entries) {
      const handle = `${blob.type}:${blob.id}`;
      const count = duplicates.get(handle);
      if (count === undefined) continue;
      const p = info.get(blob.pack) as PackInfo;
      if (count === 0) {
        p.unusedSize += blob.length;
        p.unusedBlobs++;
      } else if (p.usedBlobs > 0 || count === 1) {
        p.usedSize += blob.length;
        p.usedBlobs++;
        duplicates.set(handle, 0);
      } else {
        p.unusedSize += blob.length;
        p.unusedBlobs++;
        duplicates.set(handle, count - 1);
      }
    }

  // Decide per pack.
  const plan: PrunePlan = { deleteUnindexed: [], repack: [], delete: [], dropMissing: [], repackBlobs: 0 };
  const targetPackSize = options.repackSmall
    ? Math.floor(repo.packSize / 5) * 4
    : Math.floor(repo.packSize / 25);
  type Candidate = PackInfo & { id: string; mustCompress: boolean };
  const candidates: Candidate[] = [];
  const smallCandidates: Candidate[] = [];
  const present = new Set<string>();
  let listed = 0;
  for await (const { name: id, size } of repo.list('data', { signal })) {
    present.add(id);
    report(options, { phase: 'packs', done: ++listed });
    const p = info.get(id);
    if (!p) {
      plan.deleteUnindexed.push(id);
      stats.bytes.unindexed += size;
      continue;
    }
    if (p.usedSize + p.unusedSize !== size && p.usedBlobs !== 0)
      throw refuse(
        `pack ${id} has ${size} bytes, but its index entries add up to ${p.usedSize + p.unusedSize}; ` +
          'the index needs repair before prune',
      );
    if (p.usedBlobs === 0) stats.packs.unused++;
    else if (p.unusedBlobs === 0) stats.packs.used++;
    else stats.packs.partlyUsed++;
    const mustCompress =
      repo.config.version >= 2 &&
      (p.type === 'tree' || options.repackUncompressed === true) &&
      p.uncompressed;
    if (p.usedBlobs === 0) {
      plan.delete.push(id);
      stats.blobs.delete += p.unusedBlobs;
      stats.bytes.delete += p.unusedSize;
    } else if (p.unusedBlobs === 0 && p.type !== 'mixed' && !mustCompress) {
      if (size >= targetPackSize) stats.packs.keep++;
      else smallCandidates.push({ ...p, id, mustCompress });
    } else {
      candidates.push({ ...p, id, mustCompress });
    }
  }
  for (const [id, p] of info) {
    if (present.has(id)) continue;
    if (p.usedBlobs > 0)
      throw refuse(`pack ${id} is missing, and holds blobs that snapshots use (check reports which)`);
    plan.dropMissing.push(id);
    stats.blobs.delete += p.unusedBlobs;
    stats.bytes.delete += p.unusedSize;
  }

  // Too few small packs are not worth it (and a single one would be repacked forever).
  if (smallCandidates.length < 10) stats.packs.keep += smallCandidates.length;
  else candidates.push(...smallCandidates);
  const total = (p: PackInfo) => p.usedSize + p.unusedSize;
  candidates.sort((a, b) => {
    if (a.type !== 'data' && b.type === 'data') return -1;
    if (b.type !== 'data' && a.type === 'data') return 1;
    if (total(a) < targetPackSize && total(b) >= targetPackSize) return -1;
    if (total(b) < targetPackSize && total(a) >= targetPackSize) return 1;
    const x = a.unusedSize * b.usedSize;
    const y = b.unusedSize * a.usedSize;
    return x > y ? -1 : x < y ? 1 : 0;
  });
  const maxUnusedAfter = options.maxUnusedBytes ?? Math.floor((fraction / (1 - fraction)) * stats.bytes.used);
  const maxRepack = options.maxRepackBytes ?? Number.POSITIVE_INFINITY;
  for (const p of candidates) {
    const reachedUnused = stats.bytes.unused - stats.bytes.delete - stats.bytes.repackRemove < maxUnusedAfter;
    const reachedRepack = stats.bytes.repack + total(p) >= maxRepack;
    const largeEnough = total(p) >= targetPackSize;
    if (reachedRepack || (p.type === 'data' && !p.mustCompress && reachedUnused && largeEnough)) {
      stats.packs.keep++;
      continue;
    }
    plan.repack.push(p.id);
    stats.blobs.repack += p.unusedBlobs + p.usedBlobs;
    stats.bytes.repack += total(p);
    stats.blobs.repackRemove += p.unusedBlobs;
    stats.bytes.repackRemove += p.unusedSize;
  }
  stats.packs.unindexed = plan.deleteUnindexed.length;
  stats.packs.repack = plan.repack.length;
  stats.packs.delete = plan.delete.length;
  stats.unusedAfter =
    stats.bytes.unused + stats.bytes.duplicate - stats.bytes.delete - stats.bytes.repackRemove;

  // The used blobs to copy while repacking: those without a copy in a pack that stays.
  const keepCopies = { data: new BlobSet(), tree: new BlobSet() };
  if (plan.repack.length > 0) {
    const going = new Set([...plan.delete, ...plan.repack]);
    const staying = { data: new BlobSet(), tree: new BlobSet() };
    for (const blob of entries)
      if (present.has(blob.pack) && !going.has(blob.pack)) staying[blob.type].add(blob.id);
    const repack = new Set(plan.repack);
    for (const blob of entries)
      if (repack.has(blob.pack) && keep[blob.type].has(blob.id) && !staying[blob.type].has(blob.id))
        keepCopies[blob.type].add(blob.id);
  }
  plan.repackBlobs = keepCopies.data.size + keepCopies.tree.size;
  return { plan, packs, keepCopies };
}

function report(options: PruneOptions, value: MaintenanceProgress): void {
  options.onProgress?.(value);
}
