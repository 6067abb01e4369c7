// Cairn's archiver and restorer beside restic 0.14 on one local repository: what Cairn backs up, restic
// checks (reading all data), lists, restores, dumps and diffs as its own; what restic backs up, Cairn
// restores, lists and reads; and a file restic stored is not stored again by Cairn (same chunks, same ids).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import {
  LocalBackend,
  Repository,
  backupDirectory,
  listSnapshot,
  readFile as readSnapshotFile,
  restoreSnapshot,
} from '../../src/repo/index.ts';
import { resticChecker, type ResticChecker } from '../helpers/restic-checker.ts';
import { NON_ASCII, assertSameTree, makeRichTree } from '../helpers/rich-tree.ts';

const PASSWORD = 'cairn-format-test'; // the checker's

function open(checker: ResticChecker) {
  return Repository.open(new LocalBackend({ root: join(checker.work, 'repo') }), { password: PASSWORD });
}

const noCache = ['--no-cache'];

async function resticSnapshots(checker: ResticChecker) {
  return JSON.parse((await checker.restic(['snapshots', '--json', ...noCache])).toString('utf8')) as {
    id: string;
    tree: string;
    paths: string[];
    hostname: string;
    tags?: string[];
    parent?: string;
  }[];
}

describe('the archiver beside restic', () => {
  it('backs up a directory that restic checks, lists, restores and dumps as its own', async (t) => {
    const checker = await resticChecker(t);
    const source = join(checker.work, 'source');
    await mkdir(source);
    await makeRichTree(source, { sparseMiB: 4, randomMiB: 3 });
    const repo = await open(checker);
    const result = await backupDirectory(repo, {
      source,
      paths: ['/volumes/data'],
      hostname: 'node-1',
      tags: ['pod=web-0', 'volume=data'],
    });
    assert.deepEqual(result.errors, []);
    await repo.close();

    await checker.restic(['check', '--read-data', ...noCache]);
    const [snapshot] = await resticSnapshots(checker);
    assert.equal(snapshot?.id, result.snapshotId);
    assert.equal(snapshot?.tree, result.treeId);
    assert.deepEqual(snapshot?.paths, ['/volumes/data']);
    assert.equal(snapshot?.hostname, 'node-1');
    assert.deepEqual(snapshot?.tags, ['pod=web-0', 'volume=data']);

    const listed = (await checker.restic(['ls', '--json', ...noCache, result.snapshotId]))
      .toString('utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { struct_type: string; path?: string })
      .filter((entry) => entry.struct_type === 'node')
      .map((entry) => entry.path);
    for (const path of ['/random', '/sparse', '/nested', '/nested/deeper/b.txt', `/${NON_ASCII}`, '/fifo'])
      assert.ok(listed.includes(path), `restic ls lists ${path} (${listed.join(', ')})`);

    const target = join(checker.work, 'restic-restored');
    await checker.restic(['restore', ...noCache, result.snapshotId, '--target', target]);
    await assertSameTree(source, target);

    for (const path of ['random', `nested/deeper/b.txt`, NON_ASCII]) {
      const dumped = await checker.restic(['dump', ...noCache, result.snapshotId, `/${path}`]);
      assert.ok(dumped.equals(await readFile(join(source, path))), `restic dump /${path}`);
    }
  });

  it('restores, lists and reads what restic backed up', async (t) => {
    const checker = await resticChecker(t);
    const source = join(checker.work, 'source');
    await mkdir(source);
    await makeRichTree(source, { sparseMiB: 4, randomMiB: 3 });
    await checker.backup(source);
    const [snapshot] = await resticSnapshots(checker);
    assert.ok(snapshot);

    const repo = await open(checker);
    const target = join(checker.work, 'cairn-restored');
    const restored = await restoreSnapshot(repo, { snapshotId: snapshot.id, target });
    assert.deepEqual(restored.problems, []);
    await assertSameTree(source, target);

    const top = [];
    for await (const entry of listSnapshot(repo, snapshot.id.slice(0, 8))) top.push(entry.path);
    assert.ok(top.includes('/random') && top.includes('/nested') && !top.includes('/nested/a.txt'));
    const bytes = await buffer(await readSnapshotFile(repo, snapshot.id, '/random'));
    assert.ok(bytes.equals(await readFile(join(source, 'random'))));
    await repo.close();
  });

  it('backs up with a parent: restic checks it and its diff shows exactly the changed file', async (t) => {
    const checker = await resticChecker(t);
    const source = join(checker.work, 'source');
    await mkdir(source);
    for (let i = 0; i < 10; i++) await writeFile(join(source, `file-${i}`), randomBytes(64 * 1024 + i));
    const repo = await open(checker);
    const first = await backupDirectory(repo, { source });
    await writeFile(join(source, 'file-3'), randomBytes(64 * 1024));
    const second = await backupDirectory(repo, { source, parent: first.snapshotId });
    assert.equal(second.stats.filesChanged, 1);
    assert.equal(second.stats.filesUnmodified, 9);
    await repo.close();

    await checker.restic(['check', '--read-data', ...noCache]);
    const snapshots = await resticSnapshots(checker);
    assert.equal(snapshots.find((s) => s.id === second.snapshotId)?.parent, first.snapshotId);
    const diff = (await checker.restic(['diff', ...noCache, first.snapshotId, second.snapshotId]))
      .toString('utf8')
      .split('\n')
      .filter((line) => /^[-+MTU?] /.test(line));
    assert.deepEqual(diff, ['M    /file-3']);
  });

  it('adds no data blobs for a file restic already stored in the repository', async (t) => {
    const checker = await resticChecker(t);
    const theirs = join(checker.work, 'theirs');
    const ours = join(checker.work, 'ours');
    await mkdir(theirs);
    await mkdir(ours);
    await writeFile(join(theirs, 'big'), randomBytes(4 * 1024 * 1024));
    await copyFile(join(theirs, 'big'), join(ours, 'same-content'));
    await checker.backup(theirs);

    const repo = await open(checker);
    const result = await backupDirectory(repo, { source: ours });
    assert.equal(result.stats.bytesRead, 4 * 1024 * 1024);
    assert.equal(result.stats.dataBlobsAdded, 0, 'every chunk was restic’s already');
    await repo.close();
    await checker.restic(['check', '--read-data', ...noCache]);
  });
});
