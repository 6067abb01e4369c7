// The archiver, the restorer and the snapshot readers on a repository in memory: a directory with one of
// everything comes back as it was; a backup with a parent reads only what changed; exclusions; a
// corrupted pack never leaves a file under its name; aborts stop promptly.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import {
  link,
  lstat,
  mkdir,
  mkdtemp,
  readFile as readFileFs,
  readdir,
  rm,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { describe, it, type TestContext } from 'node:test';
import {
  Chunker,
  MemoryBackend,
  Repository,
  backupDirectory,
  findSnapshots,
  listSnapshot,
  polynomialFromHex,
  polynomialToHex,
  randomPolynomial,
  readFile,
  RepositoryFailedError,
  restoreSnapshot,
  sha256,
  type Handle,
  type Identity,
  type SignalOptions,
} from '../../src/repo/index.ts';
import { NON_ASCII, assertSameTree, makeRichTree } from '../helpers/rich-tree.ts';

const identity: Identity = { hostname: 'test-host', username: 'tester', pid: process.pid, uid: 0, gid: 0 };
const repoOptions = {
  password: 'archiver test',
  keyParams: { N: 1024, r: 8, p: 1 },
  packSize: 1024 * 1024,
  identity,
};

async function scratch(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-archiver-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** restic's test polynomial, for a test that needs a fixed chunking. */
const FIXED_POLYNOMIAL = '3da3358b4dc173';

async function newRepo(
  backend = new MemoryBackend(),
  polynomial = polynomialToHex(randomPolynomial((n) => randomBytes(n))),
) {
  const repo = await Repository.init(backend, { ...repoOptions, polynomial });
  return { backend, repo };
}

/** The ids of the chunks restic's chunker makes of `data` with the repository's polynomial. */
function chunkIds(repo: Repository, data: Buffer): string[] {
  const splitter = new Chunker(polynomialFromHex(repo.config.chunkerPolynomial)).split();
  const ids: string[] = [];
  let start = 0;
  for (let cut = splitter.next(data); cut >= 0; cut = splitter.next(data, start)) {
    ids.push(sha256(data.subarray(start, cut)));
    start = cut;
  }
  if (start < data.length) ids.push(sha256(data.subarray(start)));
  return ids;
}

describe('the archiver and the restorer', () => {
  it('back up a directory of every kind of entry and restore it as it was', async (t) => {
    const work = await scratch(t);
    const source = join(work, 'source');
    await mkdir(source);
    await makeRichTree(source);
    const { repo } = await newRepo();

    const result = await backupDirectory(repo, {
      source,
      hostname: 'node-1',
      tags: ['volume=data', 'pod=web-0'],
      identity,
    });
    assert.deepEqual(result.errors, []);
    assert.equal(result.stats.totalFiles, 9);
    assert.equal(result.stats.filesNew, 9);
    assert.equal(result.stats.dirsNew, 3);
    assert.ok(result.stats.dataBlobsAdded > 3 && result.stats.bytesAdded > 3 * 1024 * 1024);

    const target = join(work, 'restored');
    const restored = await restoreSnapshot(repo, { snapshotId: result.snapshotId, target });
    assert.deepEqual(restored.problems, []);
    await assertSameTree(source, target);
    const sparse = await lstat(join(target, 'sparse'));
    assert.equal(sparse.size, 50 * 1024 * 1024);
    assert.ok(sparse.blocks * 512 < 4 * 1024 * 1024, `the sparse file takes ${sparse.blocks} blocks`);
    assert.equal(restored.stats.hardLinks, 1);
    assert.equal(restored.stats.symlinks, 2);
    assert.equal(restored.stats.specials, 1);
    assert.ok(restored.stats.sparseBytes > 40 * 1024 * 1024);
    assert.deepEqual(
      (await readdir(target, { recursive: true })).filter((name) => name.includes('.cairn-restore-')),
      [],
      'no temporary files are left',
    );
  });

  it('write a snapshot in restic’s shape, and find, list and read it back', async (t) => {
    const source = await scratch(t);
    await mkdir(join(source, 'dir'));
    await writeFile(join(source, 'dir', 'file.txt'), 'hello\n');
    await writeFile(join(source, NON_ASCII), 'non-ASCII\n');
    const { repo } = await newRepo();
    const time = new Date('2026-01-02T03:04:05.678Z');
    const first = await backupDirectory(repo, {
      source,
      paths: ['/volumes/data'],
      hostname: 'node-1',
      tags: ['a', 'b'],
      excludes: ['.cairn'],
      time,
      utcOffset: () => 90,
      identity,
    });
    const json = (await repo.loadJson('snapshots', first.snapshotId)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json), [
      'time',
      'tree',
      'paths',
      'hostname',
      'username',
      'excludes',
      'tags',
    ]);
    assert.equal(json['time'], '2026-01-02T04:34:05.678+01:30');
    assert.deepEqual(json['paths'], ['/volumes/data']);
    const second = await backupDirectory(repo, {
      source,
      paths: ['/volumes/data'],
      hostname: 'node-2',
      parent: first.snapshotId.slice(0, 8),
      time: new Date('2026-01-03T00:00:00Z'),
      utcOffset: () => 90,
      identity: { ...identity, uid: 1000, gid: 1000 },
    });
    const secondJson = (await repo.loadJson('snapshots', second.snapshotId)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(secondJson), [
      'time',
      'parent',
      'tree',
      'paths',
      'hostname',
      'username',
      'uid',
      'gid',
    ]);
    assert.equal(secondJson['parent'], first.snapshotId);
    assert.equal(second.treeId, first.treeId, 'an unchanged directory gives the same tree');

    assert.deepEqual(
      (await findSnapshots(repo)).map((s) => s.id),
      [second.snapshotId, first.snapshotId],
      'newest first',
    );
    assert.deepEqual(
      (await findSnapshots(repo, { tags: ['a'] })).map((s) => s.id),
      [first.snapshotId],
    );
    assert.deepEqual(
      (await findSnapshots(repo, { hostname: 'node-2', paths: ['/volumes/data'] })).map((s) => s.id),
      [second.snapshotId],
    );

    const listed = [];
    for await (const entry of listSnapshot(repo, first.snapshotId, '/', { recursive: true }))
      listed.push(`${entry.path} ${entry.node.type}`);
    assert.deepEqual(listed, [`/${NON_ASCII} file`, '/dir dir', '/dir/file.txt file'], 'in byte order');
    const top = [];
    for await (const entry of listSnapshot(repo, first.snapshotId, 'dir')) top.push(entry.path);
    assert.deepEqual(top, ['/dir/file.txt']);
    assert.equal(await text(await readFile(repo, first.snapshotId, '/dir/file.txt')), 'hello\n');
    await assert.rejects(readFile(repo, first.snapshotId, '/dir'), /not a regular file/);
    await assert.rejects(readFile(repo, first.snapshotId, '/missing'), /no such file/);
  });

  it('read only the changed file of a backup with a parent and add only its changed chunks', async (t) => {
    const work = await scratch(t);
    const source = join(work, 'source');
    await mkdir(source);
    // A fixed chunking, in several chunks: with random bytes and a random polynomial, 3 MiB are one
    // chunk about one time in twelve (no cut in the 2.5 MiB after the 512 KiB minimum).
    await makeRichTree(source, { fifo: false, randomSeed: 'a backup with a parent' });
    const { repo } = await newRepo(new MemoryBackend(), FIXED_POLYNOMIAL);
    const first = await backupDirectory(repo, { source, identity });

    const before = await readFileFs(join(source, 'random'));
    const after = Buffer.from(before);
    after.write('changed', 100);
    await writeFile(join(source, 'random'), after);
    const oldIds = new Set(chunkIds(repo, before));
    const changedChunks = chunkIds(repo, after).filter((id) => !oldIds.has(id));
    assert.ok(changedChunks.length >= 1 && changedChunks.length < chunkIds(repo, after).length);

    const second = await backupDirectory(repo, { source, parent: first.snapshotId, identity });
    assert.deepEqual(second.errors, []);
    assert.equal(second.stats.bytesRead, after.length, 'only the changed file is read');
    assert.equal(second.stats.filesChanged, 1);
    assert.equal(second.stats.filesUnmodified, 8);
    assert.equal(second.stats.dataBlobsAdded, changedChunks.length, 'only its changed chunks are added');
    assert.equal(second.stats.dirsUnmodified, 3);

    const target = join(work, 'restored');
    const restored = await restoreSnapshot(repo, { snapshotId: second.snapshotId, target });
    assert.deepEqual(restored.problems, []);
    await assertSameTree(source, target);

    const without = await backupDirectory(repo, { source, identity });
    assert.equal(without.stats.bytesRead > 50 * 1024 * 1024, true, 'without a parent everything is read');
    assert.equal(without.stats.dataBlobsAdded, 0, 'and deduplicated');
  });

  it('store the same snapshot whether files are chunked in worker threads or on the main thread', async (t) => {
    const work = await scratch(t);
    const source = join(work, 'source');
    await makeRichTree(source, { fifo: false, randomSeed: 'workers or not' });
    // Several files of several chunks each, some shared: the workers' chunks come back in order and
    // duplicates are stored once.
    const big = randomBytes(5 * 1024 * 1024);
    for (let i = 0; i < 4; i++)
      await writeFile(join(source, `big-${i}`), Buffer.concat([randomBytes(i), big]));
    await writeFile(join(source, 'medium'), randomBytes(200 * 1024));
    const { repo: inWorkers } = await newRepo(new MemoryBackend(), FIXED_POLYNOMIAL);
    const { repo: onMain } = await newRepo(new MemoryBackend(), FIXED_POLYNOMIAL);
    const time = new Date('2026-12-06T10:00:00Z');
    const a = await backupDirectory(inWorkers, { source, identity, time, workers: 2 });
    const b = await backupDirectory(onMain, { source, identity, time, workers: 0 });
    assert.deepEqual(a.errors, []);
    assert.equal(a.treeId, b.treeId, 'the same trees, so the same content ids in the same order');
    assert.equal(a.stats.dataBlobsAdded, b.stats.dataBlobsAdded);
    assert.ok(inWorkers.stats.blobsKnown > 0, 'shared chunks were found known, not stored again');
    const target = join(work, 'restored');
    assert.deepEqual((await restoreSnapshot(inWorkers, { snapshotId: a.snapshotId, target })).problems, []);
    await assertSameTree(source, target);
  });

  it('store the same trees when the walk goes on past files waiting for the workers, with and without a parent', async (t) => {
    const work = await scratch(t);
    const source = join(work, 'source');
    // First a directory of more larger files than the workers take at once (16), so that files wait in
    // line while the walk goes on; then more small files than are sealed at once (256), in nested
    // directories, which the walk reaches while the workers still have the larger ones.
    await mkdir(join(source, 'a-larger'), { recursive: true });
    const shared = randomBytes(700 * 1024);
    for (let i = 0; i < 24; i++)
      await writeFile(
        join(source, 'a-larger', `f${String(i).padStart(2, '0')}`),
        i % 4 === 0 ? Buffer.concat([Buffer.from([i]), shared]) : randomBytes(65 * 1024 + i * 20_000),
      );
    for (let i = 0; i < 6; i++)
      for (let j = 0; j < 3; j++) {
        const dir = join(source, `b-small-${i}`, `c${j}`);
        await mkdir(dir, { recursive: true });
        for (let k = 0; k < 20; k++)
          await writeFile(join(dir, `s${k}`), `small ${i} ${j} ${k}\n`.repeat(k + 1));
      }
    const { repo: inWorkers } = await newRepo(new MemoryBackend(), FIXED_POLYNOMIAL);
    const { repo: onMain } = await newRepo(new MemoryBackend(), FIXED_POLYNOMIAL);
    const time = new Date('2026-12-07T10:00:00Z');
    const a = await backupDirectory(inWorkers, { source, identity, time, workers: 1 });
    const b = await backupDirectory(onMain, { source, identity, time, workers: 0 });
    assert.deepEqual(a.errors, []);
    assert.equal(a.stats.totalFiles, 24 + 360);
    assert.equal(a.treeId, b.treeId, 'the same trees, whatever order the files were done in');
    assert.equal(a.stats.dataBlobsAdded, b.stats.dataBlobsAdded);
    assert.equal(a.stats.treeBlobsAdded, b.stats.treeBlobsAdded);

    // Some files change; the backups with a parent read only those, and again agree.
    await writeFile(join(source, 'a-larger', 'f03'), randomBytes(300 * 1024));
    await writeFile(join(source, 'b-small-4', 'c1', 's7'), 'changed\n');
    const c = await backupDirectory(inWorkers, { source, identity, time, workers: 1, parent: a.snapshotId });
    const d = await backupDirectory(onMain, { source, identity, time, workers: 0, parent: b.snapshotId });
    assert.equal(c.treeId, d.treeId);
    assert.notEqual(c.treeId, a.treeId);
    assert.equal(c.stats.filesChanged, 2);
    assert.equal(c.stats.filesUnmodified, 24 + 360 - 2);
    assert.equal(c.stats.dirsChanged, 3, 'a-larger, b-small-4 and b-small-4/c1 (the root is no node)');
    const target = join(work, 'restored');
    assert.deepEqual((await restoreSnapshot(inWorkers, { snapshotId: c.snapshotId, target })).problems, []);
    await assertSameTree(source, target);
  });

  it('fail a backup whose packs cannot be stored, stopping the walk, with files still in line for the workers', async (t) => {
    const work = await scratch(t);
    const source = join(work, 'source');
    for (let d = 0; d < 4; d++) {
      await mkdir(join(source, `d${d}`), { recursive: true });
      for (let i = 0; i < 20; i++) await writeFile(join(source, `d${d}`, `f${i}`), randomBytes(300 * 1024));
    }
    let reads = 0;
    class FailingBackend extends MemoryBackend {
      override save(handle: Handle, bytes: Buffer, options?: SignalOptions): Promise<void> {
        if (handle.type === 'data') return Promise.reject(new Error('the store is full'));
        return super.save(handle, bytes, options);
      }
    }
    const { repo } = await newRepo(new FailingBackend());
    await assert.rejects(
      backupDirectory(repo, {
        source,
        identity,
        workers: 1,
        onProgress: (progress) => (reads = progress.filesDone),
        progressIntervalMs: 0,
      }),
      (error: unknown) =>
        error instanceof RepositoryFailedError && /the store is full/.test(String(error.cause)),
    );
    assert.ok(reads < 80, `the walk stopped: ${reads} of 80 files were done`);
  });

  it('count the source for progress beside the backup, leaving out excluded paths, on a worker or not', async (t) => {
    const work = await scratch(t);
    const source = join(work, 'source');
    await mkdir(join(source, 'keep', 'deeper'), { recursive: true });
    await mkdir(join(source, '.cairn'), { recursive: true });
    await writeFile(join(source, 'keep', 'a'), 'a'.repeat(1000));
    await writeFile(join(source, 'keep', 'deeper', 'b'), 'b'.repeat(2000));
    await writeFile(join(source, 'c'), 'c'.repeat(3000));
    await writeFile(join(source, '.cairn', 'marker'), 'x'.repeat(500));
    for (const leaveOut of [
      { excludePaths: ['.cairn'] }, // counted on a worker thread
      { exclude: (path: string) => path === '.cairn' }, // counted on the main thread
    ]) {
      const { repo } = await newRepo();
      const totals: ({ files: number; bytes: number } | undefined)[] = [];
      const result = await backupDirectory(repo, {
        source,
        identity,
        ...leaveOut,
        onProgress: (progress) => totals.push(progress.total),
        progressIntervalMs: 0,
      });
      assert.equal(result.stats.totalFiles, 3);
      assert.deepEqual(totals.at(-1), { files: 3, bytes: 6000 }, 'the last report has the whole count');
      const paths: string[] = [];
      for await (const entry of listSnapshot(repo, result.snapshotId, '/', { recursive: true }))
        paths.push(entry.path);
      assert.ok(!paths.some((path) => path.includes('.cairn')), `not in the snapshot: ${paths.join(', ')}`);
      assert.ok(paths.includes('/keep/deeper/b'), paths.join(', '));
    }
  });

  it('restore small files whole in the blob workers: contents, zeros, modes, times, hard links, what is in the way', async (t) => {
    const work = await scratch(t);
    const source = join(work, 'source');
    await mkdir(join(source, 'd'), { recursive: true });
    await writeFile(join(source, 'zeros-1'), Buffer.alloc(10_000)); // one blob of zeros, two files
    await writeFile(join(source, 'd', 'zeros-2'), Buffer.alloc(10_000));
    await writeFile(join(source, 'private'), 'private\n', { mode: 0o600 });
    await writeFile(join(source, 'd', 'script'), '#!/bin/sh\n', { mode: 0o755 });
    await writeFile(join(source, 'linked'), 'linked\n');
    await link(join(source, 'linked'), join(source, 'd', 'linked-too'));
    for (let i = 0; i < 40; i++) await writeFile(join(source, 'd', `f${i}`), `file ${i}\n`.repeat(i + 1));
    await utimes(join(source, 'private'), new Date('2020-01-02T03:04:05Z'), new Date('2020-01-02T03:04:05Z'));
    const { repo } = await newRepo();
    const { snapshotId } = await backupDirectory(repo, { source, identity, workers: 0 });
    const target = join(work, 'restored');
    // Something in the way of two files: a directory (with a file in it) and a file.
    await mkdir(join(target, 'd', 'f7', 'inside'), { recursive: true });
    await writeFile(join(target, 'private'), 'old');
    const result = await restoreSnapshot(repo, { snapshotId, target, workers: 1 });
    assert.deepEqual(result.problems, []);
    assert.equal(result.stats.files, 45);
    assert.equal(result.stats.hardLinks, 1);
    assert.equal(result.stats.sparseBytes, 20_000, 'the zeros are holes');
    await assertSameTree(source, target);
    const left = (await readdir(target, { recursive: true })).filter((name) =>
      name.includes('.cairn-restore'),
    );
    assert.deepEqual(left, [], 'no temporary file left');
  });

  it('leave out what the exclude function names, and restore a single path', async (t) => {
    const work = await scratch(t);
    const source = join(work, 'source');
    await mkdir(join(source, '.cairn'), { recursive: true });
    await writeFile(join(source, '.cairn', 'state'), 'ours');
    await mkdir(join(source, 'keep', '.cairn'), { recursive: true });
    await writeFile(join(source, 'keep', '.cairn', 'theirs'), 'not at the root: kept');
    await writeFile(join(source, 'keep', 'skip.tmp'), 'excluded');
    await writeFile(join(source, 'keep', 'file'), 'kept');
    const { repo } = await newRepo();
    const exclude = (path: string) => path === '.cairn' || path.endsWith('.tmp');
    const result = await backupDirectory(repo, { source, exclude, identity });
    const paths = [];
    for await (const entry of listSnapshot(repo, result.snapshotId, '/', { recursive: true }))
      paths.push(entry.path);
    assert.deepEqual(paths, ['/keep', '/keep/.cairn', '/keep/.cairn/theirs', '/keep/file']);

    const target = join(work, 'one-file');
    const one = await restoreSnapshot(repo, { snapshotId: result.snapshotId, target, include: '/keep/file' });
    assert.deepEqual(one.problems, []);
    assert.deepEqual(await readdir(target, { recursive: true }), ['keep', 'keep/file']);
    await assert.rejects(
      restoreSnapshot(repo, { snapshotId: result.snapshotId, target, include: '/keep/nothing' }),
      /no such file/,
    );
  });

  it('fail the restore of a file whose blob is corrupted, naming blob and pack, and leave nothing under its name', async (t) => {
    const work = await scratch(t);
    const source = join(work, 'source');
    await mkdir(source);
    await writeFile(join(source, 'good'), 'fine\n');
    await writeFile(join(source, 'bad'), randomBytes(2 * 1024 * 1024));
    const { backend, repo } = await newRepo();
    const result = await backupDirectory(repo, { source, identity });
    const bad = [];
    for await (const entry of listSnapshot(repo, result.snapshotId, '/bad')) bad.push(entry.node);
    const blob = bad[0]?.content?.[0] as string;
    const [where] = await repo.lookupBlob('data', blob);
    assert.ok(where);
    const handle = { type: 'data', name: where.pack } as const;
    const pack = await backend.load(handle);
    pack.writeUInt8(pack.readUInt8(where.offset + 100) ^ 0x01, where.offset + 100);
    await backend.remove(handle);
    await backend.save(handle, pack);

    const reopened = await Repository.open(backend, repoOptions);
    const target = join(work, 'restored');
    const restored = await restoreSnapshot(reopened, { snapshotId: result.snapshotId, target });
    assert.equal(restored.problems.length, 1);
    assert.equal(restored.problems[0]?.path, 'bad');
    assert.match(restored.problems[0]?.reason ?? '', new RegExp(`${blob}.*${where.pack}`));
    assert.deepEqual(await readdir(target), ['good'], 'no file under its name, no temporary file');
  });

  it('stop a backup and a restore promptly when their signal aborts', async (t) => {
    const work = await scratch(t);
    const source = join(work, 'source');
    await mkdir(source);
    for (let i = 0; i < 8; i++) await writeFile(join(source, `file-${i}`), randomBytes(1024 * 1024));
    const { repo } = await newRepo();

    // Promptly, by the work done after the abort rather than by the clock (a loaded machine may take any
    // time): only what was in flight completes (a read or a blob write per file being processed, at most
    // `concurrency` files of 1 MiB), nothing new is started. Progress is reported at every step.
    const MiB = 1024 * 1024;
    const concurrency = 2;
    const controller = new AbortController();
    let atAbort = -1;
    let reported = 0;
    const backup = backupDirectory(repo, {
      source,
      identity,
      signal: controller.signal,
      concurrency,
      progressIntervalMs: 0,
      onProgress: (progress) => {
        reported = Math.max(reported, progress.bytesDone);
        if (progress.bytesDone > 0 && atAbort < 0) {
          atAbort = progress.bytesDone;
          controller.abort(new Error('stop'));
        }
      },
    });
    await assert.rejects(backup, /stop/);
    assert.ok(atAbort > 0);
    assert.ok(reported - atAbort <= concurrency * MiB, `${reported - atAbort} bytes read after the abort`);
    assert.ok(repo.stats.plaintextBytes < 6 * MiB, 'it stopped before reading everything');
    const locks = [];
    for await (const lock of repo.list('locks')) locks.push(lock);
    assert.deepEqual(locks, [], 'its lock is released');
    assert.deepEqual(await findSnapshots(repo), [], 'no snapshot is written');

    const full = await backupDirectory(repo, { source, identity });
    const restoreController = new AbortController();
    let restoreAtAbort = -1;
    let restoreReported = 0;
    const target = join(work, 'restored');
    const restore = restoreSnapshot(repo, {
      snapshotId: full.snapshotId,
      target,
      signal: restoreController.signal,
      concurrency,
      progressIntervalMs: 0,
      onProgress: (progress) => {
        restoreReported = Math.max(restoreReported, progress.bytesDone);
        if (progress.bytesDone > 0 && restoreAtAbort < 0) {
          restoreAtAbort = progress.bytesDone;
          restoreController.abort(new Error('stop restoring'));
        }
      },
    });
    await assert.rejects(restore, /stop restoring/);
    assert.ok(restoreAtAbort > 0);
    assert.ok(
      restoreReported - restoreAtAbort <= concurrency * MiB,
      `${restoreReported - restoreAtAbort} bytes written after the abort`,
    );
    for await (const lock of repo.list('locks')) assert.fail(`lock ${lock.name} is left`);
    const left = await readdir(target);
    assert.ok(left.length < 8, 'not every file was restored');
    assert.deepEqual(
      left.filter((name) => name.includes('.cairn-restore-')),
      [],
      'no temporary files are left',
    );
  });

  it('report unreadable entries and go on with the rest', async (t) => {
    const work = await scratch(t);
    const source = join(work, 'source');
    await mkdir(join(source, 'dir'), { recursive: true });
    await writeFile(join(source, 'dir', 'file'), 'kept');
    await writeFile(join(source, 'vanishing'), 'gone before it is read');
    const { repo } = await newRepo();
    // An exclude function runs between listing and lstat: removing the file there makes lstat fail.
    const result = await backupDirectory(repo, {
      source,
      identity,
      exclude: (path) => {
        if (path === 'vanishing') rmSync(join(source, 'vanishing'));
        return false;
      },
    });
    assert.equal(result.errors.length, 1);
    assert.equal(result.errors[0]?.path, 'vanishing');
    assert.match(result.errors[0]?.reason ?? '', /ENOENT/);
    const paths = [];
    for await (const entry of listSnapshot(repo, result.snapshotId, '/', { recursive: true }))
      paths.push(entry.path);
    assert.deepEqual(paths, ['/dir', '/dir/file']);
  });
});
