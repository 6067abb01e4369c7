// pruneRepository: removes what only forgotten snapshots used and keeps every blob a snapshot uses
// (check passes afterwards, every remaining snapshot's blobs load), repacks a half-used pack, keeps a
// partly used one when the unused share is tolerated, deletes extra copies of duplicated blobs and packs
// no index lists, indexes once the packs several index files list, refuses to run on a repository that
// misses used data, changes nothing in a dry run, and leaves a repository check passes when interrupted
// at any step (the next prune finishes the job).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MemoryBackend,
  PruneRefusedError,
  checkRepository,
  indexFileJson,
  parseIndexFile,
  pruneRepository,
  sha256,
  type Backend,
  type Handle,
  type Repository,
} from '../../src/repo/index.ts';
import {
  FaultyBackend,
  blobsOf,
  filesOf,
  loadAll,
  memoryRepo,
  reopen,
  saveSnapshot,
  saveTree,
  type FileTree,
} from '../helpers/repo-maint.ts';

/** Distinct, incompressible-enough content: `n` KiB chunks that differ from every other call's. */
let counter = 0;
function content(kib: number): string {
  let text = '';
  for (let i = 0; i < kib; i++) text += sha256(Buffer.from(`chunk ${counter++}`)).repeat(16);
  return text;
}

async function packsOf(repo: Repository): Promise<Set<string>> {
  const packs = new Set<string>();
  for await (const { name } of repo.list('data')) packs.add(name);
  return packs;
}

async function assertHealthy(backend: Backend, snapshots: { tree: string }[]) {
  const repo = await reopen(backend);
  const result = await checkRepository(repo, { readData: true });
  assert.deepEqual(result.errors, [], 'check finds no errors');
  for (const { tree } of snapshots) assert.ok((await loadAll(repo, tree)) > 0);
  return result;
}

describe('pruneRepository', () => {
  it('removes what only forgotten snapshots used and keeps every blob the others use', async () => {
    const { repo, backend } = await memoryRepo();
    const shared = content(2);
    const gone = await saveSnapshot(repo, { 'old.txt': content(3), 'shared.txt': shared });
    const staying = await saveSnapshot(repo, {
      'new.txt': content(2),
      'shared.txt': shared,
      d: { x: content(1) },
    });
    const goneBlobs = await blobsOf(repo, gone.tree);
    const stayingBlobs = await blobsOf(repo, staying.tree);
    await repo.removeFile('snapshots', gone.id);
    const before = await packsOf(repo);

    const { plan, stats } = await pruneRepository(repo);
    assert.ok(plan.delete.length + plan.repack.length > 0, 'something to do');
    assert.ok(stats.packsDeleted > 0);
    assert.ok(stats.bytesFreed > 0);
    assert.equal(stats.blobs.used, stayingBlobs.data.size + stayingBlobs.tree.size);

    const result = await assertHealthy(backend, [staying]);
    assert.deepEqual(result.warnings, []);
    assert.equal(result.stats.unusedBlobs, 0, 'nothing unused is left');
    const fresh = await reopen(backend);
    for (const id of goneBlobs.data)
      assert.equal(await fresh.hasBlob('data', id), stayingBlobs.data.has(id), `data blob ${id}`);
    assert.equal(await fresh.hasBlob('tree', gone.tree), false);
    for (const pack of plan.delete) assert.ok(before.has(pack) && !(await packsOf(fresh)).has(pack));
    // The repository object that pruned forgot the deleted packs: a removed blob is stored again.
    const [oldFile] = goneBlobs.data;
    assert.equal(await repo.hasBlob('data', oldFile as string), stayingBlobs.data.has(oldFile as string));
  });

  it('repacks a half-used pack: its used blobs move to a new pack and the old pack goes', async () => {
    const { repo, backend } = await memoryRepo();
    // Both snapshots' data in one pack, their trees in one tree pack: save both before flushing.
    const files1: FileTree = { 'one.txt': content(4) };
    const files2: FileTree = { 'two.txt': content(4) };
    const tree1 = await saveTree(repo, files1);
    const tree2 = await saveTree(repo, files2);
    await repo.flush();
    await repo.saveJson('snapshots', {
      time: '2024-01-01T00:00:00Z',
      tree: tree2,
      paths: ['/'],
      hostname: 'h',
    });
    const packs = await packsOf(repo);
    assert.equal(packs.size, 2, 'one data pack, one tree pack');
    const [dataEntry] = await repo.lookupBlob('data', [...(await blobsOf(repo, tree1)).data][0] as string);

    const { plan, stats } = await pruneRepository(repo);
    assert.deepEqual(plan.delete, []);
    assert.deepEqual(new Set(plan.repack), packs, 'the data pack (half unused) and the tree pack');
    assert.equal(plan.repackBlobs, 4 + 1);
    assert.equal(stats.packs.partlyUsed, 2);
    assert.equal(stats.packsWritten, 2);
    assert.equal(stats.packsDeleted, 2);
    const after = await packsOf(repo);
    assert.ok(dataEntry && !after.has(dataEntry.pack), 'the old pack is gone');
    assert.equal(after.size, 2);
    const result = await assertHealthy(backend, [{ tree: tree2 }]);
    assert.equal(result.stats.unusedBlobs, 0);
    assert.equal(result.stats.indexFiles, 1, 'one new index file superseded the old ones');
    const [indexName] = [...(await filesOf(backend)).keys()].filter((k) => k.startsWith('index/'));
    const index = parseIndexFile(await repo.loadJson('index', (indexName as string).slice(6)), 'index');
    assert.ok(index.supersedes.length >= 2, 'it names the files it supersedes');
  });

  it('keeps a partly used data pack while the unused share stays within maxUnusedFraction', async () => {
    const { repo, backend } = await memoryRepo({ packSize: 64 * 1024 });
    const tree1 = await saveTree(repo, { 'small.txt': content(1) });
    const tree2 = await saveTree(repo, { 'large.txt': content(30) });
    await repo.flush();
    await repo.saveJson('snapshots', {
      time: '2024-01-01T00:00:00Z',
      tree: tree2,
      paths: ['/'],
      hostname: 'h',
    });
    const dataPack = (await repo.lookupBlob('data', [...(await blobsOf(repo, tree1)).data][0] as string))[0]
      ?.pack;

    const tolerant = await pruneRepository(repo, { maxUnusedFraction: 0.5, dryRun: true });
    assert.ok(!tolerant.plan.repack.includes(dataPack as string), 'a 1-in-31 unused share is tolerated');
    assert.ok(tolerant.stats.unusedAfter > 0);
    const strict = await pruneRepository(repo, { maxUnusedFraction: 0 });
    assert.ok(strict.plan.repack.includes(dataPack as string), 'with 0 nothing unused may stay');
    const result = await assertHealthy(backend, [{ tree: tree2 }]);
    assert.equal(result.stats.unusedBlobs, 0);
  });

  it('deletes the extra copies of a duplicated blob and the packs no index lists', async () => {
    const { repo, backend } = await memoryRepo();
    const files = { 'f.txt': content(2) };
    const snap = await saveSnapshot(repo, files);
    // A second copy of every data blob, in a pack of its own (as concurrent backups leave them).
    for (const id of (await blobsOf(repo, snap.tree)).data)
      await repo.saveBlob('data', await repo.loadBlob('data', id), { duplicate: true });
    await repo.flush();
    const stray = Buffer.from('a pack an interrupted backup left, in no index');
    await backend.save({ type: 'data', name: sha256(stray) }, stray);
    const before = await checkRepository(await reopen(backend));
    assert.deepEqual(
      before.warnings.map((w) => w.code),
      ['pack-unindexed'],
    );

    const { plan, stats } = await pruneRepository(repo);
    assert.deepEqual(plan.deleteUnindexed, [sha256(stray)]);
    assert.equal(stats.blobs.duplicate, 2);
    assert.equal(plan.delete.length, 1, 'the pack of copies');
    const fresh = await reopen(backend);
    for (const id of (await blobsOf(fresh, snap.tree)).data)
      assert.equal((await fresh.lookupBlob('data', id)).length, 1, 'one copy left');
    const result = await assertHealthy(backend, [snap]);
    assert.deepEqual(result.warnings, []);
  });

  it('changes nothing in a dry run, and reports the plan the real run then carries out', async () => {
    const { repo, backend } = await memoryRepo();
    const gone = await saveSnapshot(repo, { 'a.txt': content(3) });
    await saveSnapshot(repo, { 'b.txt': content(3) });
    await repo.removeFile('snapshots', gone.id);
    const before = await filesOf(backend);
    const dry = await pruneRepository(repo, { dryRun: true });
    assert.equal(dry.dryRun, true);
    assert.ok(dry.plan.delete.length > 0);
    assert.equal(dry.stats.packsDeleted, 0);
    assert.deepEqual(await filesOf(backend), before, 'not a file changed');
    const real = await pruneRepository(repo);
    assert.deepEqual(real.plan, dry.plan);
    assert.notDeepEqual(await filesOf(backend), before);
  });

  it('refuses, changing nothing, when a blob a snapshot uses is in no index', async () => {
    const { repo, backend } = await memoryRepo();
    const snap = await saveSnapshot(repo, { 'a.txt': content(2) });
    await saveSnapshot(repo, { 'b.txt': content(2) });
    // Drop the data pack of the first snapshot from the index.
    const [entry] = await repo.lookupBlob('data', [...(await blobsOf(repo, snap.tree)).data][0] as string);
    for await (const { name } of repo.list('index')) {
      const file = parseIndexFile(await repo.loadJson('index', name), name);
      if (!file.packs.some((p) => p.id === entry?.pack)) continue;
      await repo.saveJson(
        'index',
        indexFileJson({ supersedes: [], packs: file.packs.filter((p) => p.id !== entry?.pack) }),
      );
      await repo.removeFile('index', name);
    }
    const before = await filesOf(backend);
    await assert.rejects(pruneRepository(await reopen(backend)), (error: unknown) => {
      assert.ok(error instanceof PruneRefusedError);
      assert.match(error.message, /used data blobs are not in the index/);
      return true;
    });
    assert.deepEqual(await filesOf(backend), before);
  });

  it('refuses when a pack holding used blobs is missing', async () => {
    const { repo, backend } = await memoryRepo();
    const snap = await saveSnapshot(repo, { 'a.txt': content(2) });
    const [entry] = await repo.lookupBlob('data', [...(await blobsOf(repo, snap.tree)).data][0] as string);
    await backend.remove({ type: 'data', name: entry?.pack as string });
    await assert.rejects(
      pruneRepository(await reopen(backend)),
      /pack .* is missing, and holds blobs that snapshots use/,
    );
  });

  it('indexes packs that several index files list once, also when there is nothing else to do', async () => {
    // What a prune interrupted midway through deleting the old index files may leave: old index files
    // that list only packs the new index file lists too.
    const { repo, backend } = await memoryRepo();
    const snap = await saveSnapshot(repo, { 'a.txt': content(2) });
    const [original] = [...(await filesOf(backend)).keys()].filter((k) => k.startsWith('index/'));
    const copy = await repo.saveJson(
      'index',
      (await repo.loadJson('index', (original as string).slice(6))) as object,
    );
    const before = await checkRepository(await reopen(backend));
    assert.deepEqual(before.errors, []);
    assert.ok(before.warnings.length > 0);
    assert.ok(before.warnings.every((w) => w.code === 'pack-indexed-twice' && w.message.includes(copy)));

    const { plan, stats } = await pruneRepository(await reopen(backend));
    assert.deepEqual([plan.delete, plan.repack, plan.deleteUnindexed], [[], [], []], 'no pack to delete');
    assert.equal(stats.indexFilesWritten, 1);
    assert.equal(stats.indexFilesDeleted, 2);
    const result = await assertHealthy(backend, [snap]);
    assert.deepEqual(result.warnings, []);
    assert.equal(result.stats.indexFiles, 1);
  });

  describe('interrupted', () => {
    /** A repository with a forgotten snapshot whose data shares packs with a kept one, and more. */
    async function scene() {
      const memory = new MemoryBackend();
      const { repo } = await memoryRepo({ backend: memory, packSize: 4096 });
      const keep1 = await saveSnapshot(repo, { 'a.txt': content(3), 'b.txt': content(2) });
      await saveTree(repo, { 'c.txt': content(3) }); // no snapshot uses it
      const keepTree = await saveTree(repo, { 'd.txt': content(3), e: { 'f.txt': content(2) } });
      await repo.flush();
      await repo.saveJson('snapshots', {
        time: '2024-01-01T00:00:00Z',
        tree: keepTree,
        paths: ['/'],
        hostname: 'h',
      });
      await repo.close();
      return { memory, snapshots: [keep1, { tree: keepTree }] };
    }

    type Fails = (op: 'save' | 'remove', h: Handle) => boolean;
    type Warning = 'pack-unindexed' | 'pack-indexed-twice';
    // Where the prune fails (the chosen operations fail after `failAfter` of them succeeded), and the
    // warnings check may give for the state it leaves: packs written but in no index yet, or not yet
    // deleted once no index lists them; packs listed in the new index file and in old ones not yet
    // deleted. Which old index files are left when their deletion stops midway depends on their (random)
    // names: the packs only they listed are then indexed twice (those that stay) or not at all (those
    // to delete).
    const points: [string, Fails, number, Warning[]][] = [
      [
        'while writing the repacked packs',
        (op, h) => op === 'save' && h.type === 'data',
        1,
        ['pack-unindexed'],
      ],
      [
        'before the index of the new packs',
        (op, h) => op === 'save' && h.type === 'index',
        0,
        ['pack-unindexed'],
      ],
      ['before the new index', (op, h) => op === 'save' && h.type === 'index', 1, []],
      [
        'before deleting the old index files',
        (op, h) => op === 'remove' && h.type === 'index',
        0,
        ['pack-indexed-twice'],
      ],
      [
        'midway through deleting the old index files',
        (op, h) => op === 'remove' && h.type === 'index',
        1,
        ['pack-indexed-twice', 'pack-unindexed'],
      ],
      [
        'midway through deleting packs',
        (op, h) => op === 'remove' && h.type === 'data',
        1,
        ['pack-unindexed'],
      ],
    ];
    for (const [when, fails, failAfter, allowed] of points)
      it(`${when}, leaves a repository check passes, and the next prune finishes`, async () => {
        const { memory, snapshots } = await scene();
        const faulty = new FaultyBackend(memory, { fails, failAfter });
        const repo = await reopen(faulty);
        const outcome = await pruneRepository(repo, { maxUnusedFraction: 0 }).then(
          (result) => result,
          (error: unknown) => error as Error,
        );
        assert.ok(faulty.failures.length > 0, 'the failure was injected');
        if (!(outcome instanceof Error)) assert.ok(outcome.notDeleted.length > 0, 'a pack deletion failed');
        faulty.heal();
        for await (const { name } of memory.list('locks')) await memory.remove({ type: 'locks', name }); // the crashed process's lock
        const between = await assertHealthy(memory, snapshots);
        const unexpected = between.warnings.filter((w) => !(allowed as string[]).includes(w.code));
        assert.deepEqual(unexpected, [], `only ${allowed.join(', ') || 'no'} warnings`);

        await pruneRepository(await reopen(memory), { maxUnusedFraction: 0 });
        const after = await assertHealthy(memory, snapshots);
        assert.deepEqual(after.warnings, []);
        assert.equal(after.stats.unusedBlobs, 0);
      });
  });
});
