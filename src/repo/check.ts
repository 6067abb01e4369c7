// `check`: is the repository whole? restic's checker (internal/checker, cmd/restic/cmd_check.go), with
// the problems returned as data, each naming the file or blob it is about.
//
// Structure (always): every index file loads (if one does not, that is reported and nothing else is
// checked, as restic stops there); every pack the index lists exists, with the size its index entries
// add up to (blobs, then a header of 37 bytes per blob, 41 for compressed ones, 32 bytes of encryption
// overhead and the 4-byte length); every snapshot loads, every tree below the snapshots loads and
// decodes (each tree once), and every data blob a file names and every subtree is in the index.
// Warnings, not errors: packs no index lists (left by an interrupted backup or prune; prune removes
// them), packs listed by several index files, packs mixing tree and data blobs. Blobs in the index that
// no snapshot uses are only counted: prune removes them.
//
// readData: every pack the index lists is read whole: its SHA-256 must be its name, its header must
// open and agree with the index, and every blob must decrypt, decompress and hash to its id.
//
// The repository is locked non-exclusively while checking: no prune or forget can run meanwhile, backups
// can. restic's check locks exclusively (`exclusive: true` does too). Beside a backup, the snapshot files
// are listed before the index files are loaded: a backup writes a snapshot only after the index files
// for its blobs, so every snapshot checked has its blobs in the index loaded. Packs a running backup
// has uploaded but not yet indexed show as `pack-unindexed` warnings.
import { handlePath } from './backend.ts';
import type { SignalOptions } from './environment.ts';
import { sha256 } from './ids.ts';
import { forEachInOrder } from './limit.ts';
import type { IndexEntry } from './master-index.ts';
import {
  BlobSet,
  blobsByPack,
  loadIndexFiles,
  packSizeOf,
  walkTrees,
  type MaintenanceProgress,
  type MaintenanceRepo,
  type TreeRef,
} from './maintenance.ts';
import { packHeaderSize, type BlobType, type PackBlob } from './pack.ts';
import { listSnapshots, loadSnapshots } from './snapshot-list.ts';

export type CheckProblemCode =
  /** An index file does not load or decode. */
  | 'index-unreadable'
  /** A pack the index lists is not in the repository. */
  | 'pack-missing'
  /** A pack's size is not what its index entries add up to. */
  | 'pack-size'
  /** Warning: a pack no index file lists. */
  | 'pack-unindexed'
  /** Warning: a pack several index files list. */
  | 'pack-indexed-twice'
  /** Warning: a pack holding tree and data blobs. */
  | 'pack-mixed'
  /** A snapshot file does not load or is not a snapshot. */
  | 'snapshot-unreadable'
  /** A tree a snapshot or a directory names is not in the index. */
  | 'tree-missing'
  /** A tree is in the index but does not load or decode. */
  | 'tree-unreadable'
  /** A node of a tree is invalid (a file without a content list, a directory without a subtree, ...). */
  | 'tree-invalid'
  /** A data blob a file names is not in the index. */
  | 'blob-missing'
  /** readData: a pack could not be read. */
  | 'pack-unreadable'
  /** readData: a pack's SHA-256 is not its name. */
  | 'pack-hash'
  /** readData: a pack's header does not open, or disagrees with the index. */
  | 'pack-header'
  /** readData: a blob does not decrypt, decompress, or hash to its id. */
  | 'blob-corrupt';

/** Something wrong (or, among warnings, odd) in the repository, naming what it is about. */
export interface CheckProblem {
  code: CheckProblemCode;
  message: string;
  indexFile?: string | undefined;
  pack?: string | undefined;
  snapshot?: string | undefined;
  tree?: string | undefined;
  blob?: string | undefined;
  blobType?: BlobType | undefined;
}

export interface CheckStats {
  indexFiles: number;
  /** Packs the index lists. */
  packs: number;
  /** Blob entries in the index. */
  blobs: number;
  snapshots: number;
  trees: number;
  /** Distinct data blobs the snapshots' files use. */
  dataBlobs: number;
  /** Index entries of blobs no snapshot uses (prune removes them). */
  unusedBlobs: number;
  /** readData: packs read, and their bytes. */
  packsRead: number;
  bytesRead: number;
}

export interface CheckResult {
  errors: CheckProblem[];
  warnings: CheckProblem[];
  stats: CheckStats;
}

export interface CheckOptions extends SignalOptions {
  /** Read every pack in full and verify every blob. Default false. */
  readData?: boolean | undefined;
  onProgress?: ((progress: MaintenanceProgress) => void) | undefined;
  /** Take a lock while checking. Default true; false when the caller holds a lock. */
  lock?: boolean | undefined;
  /** Lock exclusively, as restic's check does. Default false: backups may run meanwhile. */
  exclusive?: boolean | undefined;
  /** Packs read at once with readData. Default 2. */
  concurrency?: number | undefined;
}

const NULL_ID = '0'.repeat(64);

/** Checks the repository; problems are returned, not thrown (an abort or a failing lock is thrown). */
export async function checkRepository(
  repo: MaintenanceRepo,
  options: CheckOptions = {},
): Promise<CheckResult> {
  const { signal } = options;
  const exclusive = options.exclusive === true;
  const lock = options.lock === false ? undefined : await repo.lock({ exclusive, signal });
  try {
    return await check(repo, options);
  } finally {
    await lock?.release();
  }
}

async function check(repo: MaintenanceRepo, options: CheckOptions): Promise<CheckResult> {
  const { signal } = options;
  const progress = options.onProgress ?? (() => {});
  const errors: CheckProblem[] = [];
  const warnings: CheckProblem[] = [];
  const stats: CheckStats = {
    indexFiles: 0,
    packs: 0,
    blobs: 0,
    snapshots: 0,
    trees: 0,
    dataBlobs: 0,
    unusedBlobs: 0,
    packsRead: 0,
    bytesRead: 0,
  };
  const result = { errors, warnings, stats };

  // Snapshot files first (see the top of this file), then the index files.
  const snapshotIds = await listSnapshots(repo, { signal });
  const loaded = await loadIndexFiles(repo, {
    signal,
    onFile: (done, total) => progress({ phase: 'index', done, total }),
  });
  for (const { file, error } of loaded.errors)
    errors.push({
      code: 'index-unreadable',
      indexFile: file,
      message: `index file ${handlePath({ type: 'index', name: file })} does not load: ${error.message}`,
    });
  stats.indexFiles = loaded.files.length;
  stats.blobs = loaded.index.blobCount;
  stats.packs = loaded.index.packCount;
  if (errors.length > 0) return result; // restic stops here too: the rest would report every blob of them
  const packs = blobsByPack(loaded.index);
  for (const [pack, files] of loaded.packFiles)
    if (files.length > 1)
      warnings.push({
        code: 'pack-indexed-twice',
        pack,
        message: `pack ${pack} is listed in ${files.length} index files: ${files.join(', ')}`,
      });
  for (const [pack, blobs] of packs)
    if (blobs.some((b) => b.type !== blobs[0]?.type))
      warnings.push({ code: 'pack-mixed', pack, message: `pack ${pack} holds both tree and data blobs` });

  // Packs: those the index lists against those the repository has.
  const present = new Map<string, number>();
  for await (const { name, size } of repo.list('data', { signal })) present.set(name, size);
  const missing = new Set<string>();
  let done = 0;
  for (const [pack, blobs] of packs) {
    const size = present.get(pack);
    const expected = packSizeOf(blobs);
    if (size === undefined) {
      missing.add(pack);
      errors.push({ code: 'pack-missing', pack, message: `pack ${pack} does not exist` });
    } else if (size !== expected) {
      errors.push({
        code: 'pack-size',
        pack,
        message: `pack ${pack} has ${size} bytes, but its index entries add up to ${expected}`,
      });
    }
    progress({ phase: 'packs', done: ++done, total: packs.size });
  }
  for (const pack of present.keys())
    if (!packs.has(pack))
      warnings.push({
        code: 'pack-unindexed',
        pack,
        message: `pack ${pack} not referenced in any index`,
      });

  // Snapshots and their trees.
  const { snapshots, errors: snapshotErrors } = await loadSnapshots(repo, { signal, ids: snapshotIds });
  for (const { id, error } of snapshotErrors)
    errors.push({
      code: 'snapshot-unreadable',
      snapshot: id,
      message: `snapshot ${id} does not load: ${error.message}`,
    });
  stats.snapshots = snapshots.length;
  progress({ phase: 'snapshots', done: snapshots.length, total: snapshots.length });
  const dataBlobs = new BlobSet();
  const treeProblem = (ref: TreeRef, message: string): CheckProblem => ({
    code: 'tree-invalid',
    tree: ref.tree,
    message: `tree ${ref.tree}: ${message}`,
  });
  const trees = await walkTrees(
    repo,
    snapshots.map((s) => ({ tree: s.tree, snapshot: s.id })),
    {
      tree(ref, nodes) {
        stats.trees++;
        for (const node of nodes) {
          if (node.name === '') errors.push(treeProblem(ref, 'a node has an empty name'));
          if (node.type === 'file') {
            if (node.content === null)
              errors.push(treeProblem(ref, `file ${JSON.stringify(node.name)} has no content list`));
            for (const [i, blob] of (node.content ?? []).entries()) {
              if (blob === NULL_ID) {
                errors.push(treeProblem(ref, `file ${JSON.stringify(node.name)} blob ${i} has the null id`));
                continue;
              }
              if (!dataBlobs.add(blob)) continue;
              if (!loaded.index.has('data', blob))
                errors.push({
                  code: 'blob-missing',
                  tree: ref.tree,
                  blob,
                  blobType: 'data',
                  message: `tree ${ref.tree}: file ${JSON.stringify(node.name)} blob ${blob} not found in index`,
                });
            }
          } else if (node.type === 'dir') {
            if (node.subtree === undefined)
              errors.push(treeProblem(ref, `directory ${JSON.stringify(node.name)} has no subtree`));
            else if (node.subtree === NULL_ID)
              errors.push(treeProblem(ref, `directory ${JSON.stringify(node.name)} has the null subtree id`));
          }
        }
      },
      error(ref, error, notInIndex) {
        const from = ref.snapshot
          ? `snapshot ${ref.snapshot}`
          : `directory ${JSON.stringify(ref.name)} of tree ${ref.parent}`;
        errors.push({
          code: notInIndex ? 'tree-missing' : 'tree-unreadable',
          tree: ref.tree,
          snapshot: ref.snapshot,
          blobType: 'tree',
          message: notInIndex
            ? `tree ${ref.tree} (of ${from}) not found in index`
            : `tree ${ref.tree} (of ${from}) does not load: ${error.message}`,
        });
      },
    },
    { signal, onTree: (n) => progress({ phase: 'trees', done: n }) },
  );
  stats.dataBlobs = dataBlobs.size;
  for (const entry of loaded.index.entries())
    if (!(entry.type === 'tree' ? trees : dataBlobs).has(entry.id)) stats.unusedBlobs++;

  if (options.readData) {
    // Read a few at a time; their problems reported in the order of the packs, not of the reads' ends.
    const toRead = [...packs].filter(([pack]) => !missing.has(pack));
    let read = 0;
    await forEachInOrder(
      toRead,
      options.concurrency ?? 2,
      ([pack, blobs]) => readPack(repo, pack, blobs, stats, signal),
      (problems) => {
        errors.push(...problems);
        progress({ phase: 'read-data', done: ++read, total: toRead.length });
      },
    );
  }
  return result;
}

/** Reads a pack whole and verifies it against its name, its header and the index (restic's checkPack). */
async function readPack(
  repo: MaintenanceRepo,
  pack: string,
  blobs: IndexEntry[],
  stats: CheckStats,
  signal: AbortSignal | undefined,
): Promise<CheckProblem[]> {
  const problems: CheckProblem[] = [];
  let bytes: Buffer;
  try {
    bytes = await repo.backend.load({ type: 'data', name: pack }, { signal });
  } catch (error) {
    signal?.throwIfAborted();
    return [{ code: 'pack-unreadable', pack, message: `pack ${pack} does not load: ${messageOf(error)}` }];
  }
  stats.packsRead++;
  stats.bytesRead += bytes.length;
  const hash = sha256(bytes);
  if (hash !== pack)
    return [{ code: 'pack-hash', pack, message: `pack ${pack} has the SHA-256 ${hash}, not its name` }];

  let end = 0;
  for (const blob of blobs) {
    if (blob.offset !== end) {
      problems.push({
        code: 'pack-header',
        pack,
        message: `the index entries of pack ${pack} have gaps or overlap (blob ${blob.id} at ${blob.offset}, expected ${end})`,
      });
      break;
    }
    end = blob.offset + blob.length;
  }
  try {
    const header = await repo.parsePack(pack, bytes);
    const expectedHeader = packHeaderSize(blobs);
    if (header.headerSize !== expectedHeader)
      problems.push({
        code: 'pack-header',
        pack,
        message: `pack ${pack} has a ${header.headerSize}-byte header, the index entries make ${expectedHeader}`,
      });
    const key = (b: PackBlob) => `${b.type}:${b.id}:${b.offset}:${b.length}:${b.uncompressedLength ?? 0}`;
    const inIndex = new Set(blobs.map(key));
    const inHeader = new Set(header.blobs.map(key));
    for (const blob of header.blobs)
      if (!inIndex.has(key(blob)))
        problems.push({
          code: 'pack-header',
          pack,
          blob: blob.id,
          blobType: blob.type,
          message: `pack ${pack}: ${blob.type} blob ${blob.id} is not in the index or at another position`,
        });
    for (const entry of blobs)
      if (!inHeader.has(key(entry)))
        problems.push({
          code: 'pack-header',
          pack,
          blob: entry.id,
          blobType: entry.type,
          message: `pack ${pack}: the index places ${entry.type} blob ${entry.id} where the pack header does not`,
        });
  } catch (error) {
    problems.push({ code: 'pack-header', pack, message: `pack ${pack}: ${messageOf(error)}` });
  }
  for (const blob of blobs) {
    signal?.throwIfAborted();
    try {
      const ciphertext = bytes.subarray(blob.offset, blob.offset + blob.length);
      if (ciphertext.length !== blob.length) throw new Error('it runs past the end of the pack');
      await repo.openPackedBlob(pack, blob, ciphertext);
    } catch (error) {
      problems.push({
        code: 'blob-corrupt',
        pack,
        blob: blob.id,
        blobType: blob.type,
        message: `pack ${pack}: ${blob.type} blob ${blob.id}: ${messageOf(error)}`,
      });
    }
  }
  return problems;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
