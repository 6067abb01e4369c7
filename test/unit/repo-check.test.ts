// checkRepository: a whole repository checks clean; each kind of damage is found and named (a missing
// pack, a pack of the wrong size, a used blob no index lists, a snapshot whose tree is missing, an index
// file that does not load, and with readData a changed byte in a pack); blobs no snapshot uses are
// counted, not reported; the same problems come in the same order however the concurrent reads finish;
// the check takes a non-exclusive lock.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  LockConflictError,
  MemoryBackend,
  checkRepository,
  indexFileJson,
  parseIndexFile,
  type Backend,
  type CheckProblem,
  type FileInfo,
  type FileType,
  type Handle,
  type IndexPack,
  type LoadOptions,
  type Repository,
  type SignalOptions,
} from '../../src/repo/index.ts';
import { decodeTree } from '../../src/repo/tree.ts';
import { memoryRepo, overwrite, reopen, saveSnapshot, type FileTree } from '../helpers/repo-maint.ts';

const FILES: FileTree = {
  'a.txt': 'alpha\n'.repeat(500),
  'b.bin': Buffer.alloc(3000, 7),
  sub: { 'c.txt': 'gamma\n', deeper: { 'd.txt': 'delta\n'.repeat(300) } },
};

async function packOf(repo: Repository, type: 'data' | 'tree', id: string): Promise<string> {
  const [entry] = await repo.lookupBlob(type, id);
  assert.ok(entry, `${type} blob ${id} is indexed`);
  return entry.pack;
}

/** The first data blob of the first file of a tree. */
async function firstDataBlob(repo: Repository, tree: string): Promise<string> {
  const file = decodeTree(await repo.loadBlob('tree', tree)).find((n) => n.type === 'file');
  assert.ok(file?.content?.[0], 'a file with content');
  return file.content[0];
}

/** Rewrites every index file through `edit` (a new file for each changed one, the old one removed). */
async function editIndex(repo: Repository, edit: (packs: IndexPack[]) => IndexPack[]): Promise<void> {
  const names: string[] = [];
  for await (const { name } of repo.list('index')) names.push(name);
  for (const name of names) {
    const file = parseIndexFile(await repo.loadJson('index', name), name);
    const packs = edit(file.packs);
    if (JSON.stringify(packs) === JSON.stringify(file.packs)) continue;
    await repo.saveJson('index', indexFileJson({ supersedes: [], packs }));
    await repo.removeFile('index', name);
  }
}

const codes = (problems: CheckProblem[]) => problems.map((p) => p.code);

/**
 * A backend whose loads finish in an order of their own: each waits a number of event-loop turns that
 * its file name and `salt` decide (no clock), so concurrent loads overtake one another.
 */
class ScrambledBackend implements Backend {
  readonly description = 'scrambled memory';
  readonly #inner: Backend;
  readonly #salt: number;
  constructor(inner: Backend, salt: number) {
    this.#inner = inner;
    this.#salt = salt;
  }
  async load(handle: Handle, options?: LoadOptions): Promise<Buffer> {
    const turns = (parseInt(handle.name.slice(0, 2), 16) + this.#salt) % 7;
    for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    return this.#inner.load(handle, options);
  }
  save(handle: Handle, bytes: Buffer, options?: SignalOptions): Promise<void> {
    return this.#inner.save(handle, bytes, options);
  }
  stat(handle: Handle, options?: SignalOptions): Promise<FileInfo | undefined> {
    return this.#inner.stat(handle, options);
  }
  list(type: Exclude<FileType, 'config'>, options?: SignalOptions): AsyncIterable<FileInfo> {
    return this.#inner.list(type, options);
  }
  remove(handle: Handle, options?: SignalOptions): Promise<void> {
    return this.#inner.remove(handle, options);
  }
}

describe('checkRepository', () => {
  it('finds nothing wrong in a whole repository, with and without reading all data', async () => {
    const { repo } = await memoryRepo({ packSize: 4096 });
    await saveSnapshot(repo, FILES);
    await saveSnapshot(repo, { ...FILES, 'e.txt': 'epsilon\n' });
    const progress: string[] = [];
    const quick = await checkRepository(repo, { onProgress: (p) => progress.push(p.phase) });
    assert.deepEqual(quick.errors, []);
    assert.deepEqual(quick.warnings, []);
    assert.equal(quick.stats.snapshots, 2);
    assert.equal(quick.stats.trees, 4, 'two roots, and sub and deeper once each');
    assert.equal(quick.stats.unusedBlobs, 0);
    assert.equal(quick.stats.packsRead, 0);
    assert.ok(quick.stats.packs > 2);
    assert.ok(progress.includes('trees') && progress.includes('packs'));

    const full = await checkRepository(repo, { readData: true });
    assert.deepEqual(full.errors, []);
    assert.equal(full.stats.packsRead, full.stats.packs);
    assert.ok(full.stats.bytesRead > 0);
  });

  it('reports a pack the index lists that is missing, naming the pack', async () => {
    const { repo, backend } = await memoryRepo();
    const { tree } = await saveSnapshot(repo, FILES);
    const pack = await packOf(repo, 'data', await firstDataBlob(repo, tree));
    await backend.remove({ type: 'data', name: pack });
    const result = await checkRepository(repo);
    assert.deepEqual(codes(result.errors), ['pack-missing']);
    assert.equal(result.errors[0]?.pack, pack);
    assert.match(result.errors[0]?.message ?? '', new RegExp(`pack ${pack} does not exist`));
  });

  it('reports a pack whose size is not what its index entries add up to', async () => {
    const { repo, backend } = await memoryRepo();
    const { tree } = await saveSnapshot(repo, FILES);
    const pack = await packOf(repo, 'tree', tree);
    const bytes = await backend.load({ type: 'data', name: pack });
    await overwrite(backend, { type: 'data', name: pack }, Buffer.concat([bytes, Buffer.from('extra')]));
    const result = await checkRepository(repo);
    assert.deepEqual(codes(result.errors), ['pack-size']);
    assert.equal(result.errors[0]?.pack, pack);
    assert.match(result.errors[0]?.message ?? '', new RegExp(`${bytes.length + 5} bytes.*${bytes.length}`));
  });

  it('reports a data blob a file uses that no index lists, naming the tree and the blob', async () => {
    const { repo, backend } = await memoryRepo({ packSize: 1024 }); // one data blob a pack
    const { tree } = await saveSnapshot(repo, { 'only.txt': 'just this file\n' });
    const blob = await firstDataBlob(repo, tree);
    const pack = await packOf(repo, 'data', blob);
    await editIndex(repo, (packs) => packs.filter((p) => p.id !== pack));
    const result = await checkRepository(await reopen(backend));
    assert.deepEqual(codes(result.errors), ['blob-missing']);
    assert.equal(result.errors[0]?.blob, blob);
    assert.equal(result.errors[0]?.tree, tree);
    assert.match(result.errors[0]?.message ?? '', /file "only\.txt" blob .* not found in index/);
    assert.deepEqual(codes(result.warnings), ['pack-unindexed'], 'the pack itself is still there');
    assert.equal(result.warnings[0]?.pack, pack);
    assert.match(result.warnings[0]?.message ?? '', /not referenced in any index/);
  });

  it('reports a snapshot that points at a tree that is not in the repository', async () => {
    const { repo } = await memoryRepo();
    await saveSnapshot(repo, FILES);
    const missing = 'ab'.repeat(32);
    const snapshot = await repo.saveJson('snapshots', {
      time: '2024-01-01T00:00:00Z',
      tree: missing,
      paths: ['/x'],
      hostname: 'h',
    });
    const result = await checkRepository(repo);
    assert.deepEqual(codes(result.errors), ['tree-missing']);
    assert.equal(result.errors[0]?.tree, missing);
    assert.equal(result.errors[0]?.snapshot, snapshot);
    assert.match(
      result.errors[0]?.message ?? '',
      new RegExp(`of snapshot ${snapshot}\\) not found in index`),
    );
  });

  it('reports a snapshot file that is not a snapshot', async () => {
    const { repo } = await memoryRepo();
    await saveSnapshot(repo, FILES);
    const bad = await repo.saveJson('snapshots', { time: 'yesterday', paths: [] });
    const result = await checkRepository(repo);
    assert.deepEqual(codes(result.errors), ['snapshot-unreadable']);
    assert.equal(result.errors[0]?.snapshot, bad);
  });

  it('reports an index file that does not load and checks nothing further, as restic', async () => {
    const { repo, backend } = await memoryRepo();
    await saveSnapshot(repo, FILES);
    const name = 'cd'.repeat(32);
    await backend.save({ type: 'index', name }, Buffer.from('not an index'));
    const result = await checkRepository(repo);
    assert.deepEqual(codes(result.errors), ['index-unreadable']);
    assert.equal(result.errors[0]?.indexFile, name);
    assert.equal(result.stats.snapshots, 0, 'no further checks');
  });

  it('with readData reports a changed byte in a pack, naming the pack; without, sees nothing', async () => {
    const { repo, backend } = await memoryRepo();
    const { tree } = await saveSnapshot(repo, FILES);
    const pack = await packOf(repo, 'data', await firstDataBlob(repo, tree));
    const bytes = await backend.load({ type: 'data', name: pack });
    bytes[10] = (bytes[10] ?? 0) ^ 0x01;
    await overwrite(backend, { type: 'data', name: pack }, bytes);

    assert.deepEqual((await checkRepository(repo)).errors, [], 'the structure is intact');
    const result = await checkRepository(repo, { readData: true });
    assert.deepEqual(codes(result.errors), ['pack-hash']);
    assert.equal(result.errors[0]?.pack, pack);
    assert.match(result.errors[0]?.message ?? '', new RegExp(`pack ${pack} has the SHA-256 [0-9a-f]{64}`));
  });

  it('with readData reports index entries that disagree with the pack header', async () => {
    const { repo, backend } = await memoryRepo();
    await saveSnapshot(repo, { ...FILES, 'random.bin': randomBytes(5000) });
    // Swap the lengths the index records for two neighbouring data blobs of different lengths.
    let changed = '';
    await editIndex(repo, (packs) =>
      packs.map((p) => {
        const i = p.blobs.findIndex((a, j) => {
          const b = p.blobs[j + 1];
          return a.type === 'data' && b !== undefined && a.length !== b.length;
        });
        const [a, b] = [p.blobs[i], p.blobs[i + 1]];
        if (changed || !a || !b) return p;
        changed = p.id;
        const blobs = [...p.blobs];
        blobs[i] = { ...a, length: b.length };
        blobs[i + 1] = { ...b, offset: a.offset + b.length, length: a.length };
        return { id: p.id, blobs };
      }),
    );
    assert.ok(changed, 'a pack to change');
    const result = await checkRepository(await reopen(backend), { readData: true });
    const problems = result.errors.filter((e) => e.pack === changed);
    assert.ok(
      problems.some((p) => p.code === 'pack-header'),
      JSON.stringify(result.errors),
    );
    assert.ok(
      problems.some((p) => p.code === 'blob-corrupt'),
      JSON.stringify(result.errors),
    );
    assert.ok(result.errors.every((e) => e.pack === changed));
  });

  it('counts blobs no snapshot uses without reporting them', async () => {
    const { repo } = await memoryRepo();
    await saveSnapshot(repo, FILES);
    const gone = await saveSnapshot(repo, { 'other.txt': 'only in the forgotten snapshot\n' });
    await repo.removeFile('snapshots', gone.id);
    const result = await checkRepository(repo);
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.warnings, []);
    assert.equal(result.stats.unusedBlobs, 2, 'the file’s data blob and the root tree');
  });

  it('warns of a pack that several index files list', async () => {
    const { repo } = await memoryRepo();
    await saveSnapshot(repo, FILES);
    const names: string[] = [];
    for await (const { name } of repo.list('index')) names.push(name);
    const file = parseIndexFile(await repo.loadJson('index', names[0] as string), 'index');
    await repo.saveJson('index', indexFileJson({ supersedes: [], packs: file.packs.slice(0, 1) }));
    const result = await checkRepository(repo);
    assert.deepEqual(result.errors, []);
    assert.deepEqual(codes(result.warnings), ['pack-indexed-twice']);
  });

  it('reports the same problems in the same order however the concurrent reads finish', async () => {
    const memory = new MemoryBackend();
    const { repo } = await memoryRepo({ backend: memory, packSize: 4096 });
    const trees: string[] = [];
    for (let i = 0; i < 4; i++)
      trees.push((await saveSnapshot(repo, { [`f${i}.txt`]: `file ${i}\n`.repeat(400 + i), ...FILES })).tree);
    // Damage: a changed byte in three data packs, a missing tree pack, a pack listed twice.
    const dataPacks = new Set<string>();
    for (const [i, tree] of trees.entries()) {
      const node = decodeTree(await repo.loadBlob('tree', tree)).find((n) => n.name === `f${i}.txt`);
      dataPacks.add(await packOf(repo, 'data', node?.content?.[0] as string));
    }
    for (const pack of [...dataPacks].slice(0, 3)) {
      const bytes = await memory.load({ type: 'data', name: pack });
      bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] ?? 0) ^ 0x01;
      await overwrite(memory, { type: 'data', name: pack }, bytes);
    }
    await memory.remove({ type: 'data', name: await packOf(repo, 'tree', trees[1] as string) });
    const indexNames: string[] = [];
    for await (const { name } of repo.list('index')) indexNames.push(name);
    const file = parseIndexFile(await repo.loadJson('index', indexNames[0] as string), 'index');
    await repo.saveJson('index', indexFileJson({ supersedes: [], packs: file.packs.slice(0, 1) }));

    const results = [];
    for (const salt of [0, 3, 5]) {
      const scrambled = await reopen(new ScrambledBackend(memory, salt));
      const { errors, warnings } = await checkRepository(scrambled, { readData: true, concurrency: 3 });
      results.push({ errors, warnings });
    }
    const [first] = results;
    assert.ok(first && first.errors.length >= 5, JSON.stringify(first?.errors.map((e) => e.code)));
    for (const code of ['pack-hash', 'pack-missing', 'tree-unreadable'] as const)
      assert.ok(
        first.errors.some((e) => e.code === code),
        code,
      );
    assert.deepEqual(codes(first.warnings), ['pack-indexed-twice']);
    for (const other of results.slice(1)) assert.deepEqual(other, first);
  });

  it('holds a non-exclusive lock: it runs beside another reader, and not beside an exclusive lock', async () => {
    const { repo, backend } = await memoryRepo();
    await saveSnapshot(repo, FILES);
    const other = await reopen(backend);
    const shared = await other.lock({ exclusive: false });
    assert.deepEqual((await checkRepository(repo)).errors, []);
    await shared.release();
    const exclusive = await other.lock({ exclusive: true });
    await assert.rejects(checkRepository(repo), LockConflictError);
    await exclusive.release();
    const asked: boolean[] = [];
    const lock = repo.lock.bind(repo);
    repo.lock = (options) => {
      asked.push(options.exclusive);
      return lock(options);
    };
    await checkRepository(repo);
    await checkRepository(repo, { exclusive: true });
    assert.deepEqual(asked, [false, true], 'non-exclusive unless asked to lock as restic does');
    const left: string[] = [];
    for await (const { name } of repo.list('locks')) left.push(name);
    assert.deepEqual(left, [], 'the lock is released');
  });

  it('raises no false alarm about a backup that finishes while it runs: snapshots are listed before the index', async () => {
    const { repo, backend } = await memoryRepo();
    await saveSnapshot(repo, FILES);
    const backup = await reopen(backend);
    const list = repo.list.bind(repo);
    let backedUp = false;
    repo.list = async function* (type, options) {
      yield* list(type, options);
      if (type === 'index' && !backedUp) {
        backedUp = true; // a backup writes its packs, its index file, then its snapshot
        await saveSnapshot(backup, { 'new.txt': 'written while the check ran\n' });
      }
    };
    const result = await checkRepository(repo);
    assert.ok(backedUp);
    assert.deepEqual(result.errors, []);
    assert.equal(result.stats.snapshots, 1, 'the new snapshot came after the list');
  });
});
