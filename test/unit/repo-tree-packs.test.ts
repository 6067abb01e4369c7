// Whole tree packs (src/repo/tree-packs.ts): a backup with a parent, and a restore, read each tree pack
// once instead of one ranged read per directory; a pack too large to keep is read blob by blob; the
// packs kept stay within the limit, the least recently used going first; a failed pack read falls back
// to the blob's own read, whose error names the file.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import {
  MemoryBackend,
  Repository,
  backupDirectory,
  polynomialToHex,
  randomPolynomial,
  restoreSnapshot,
  type Handle,
  type Identity,
  type LoadOptions,
} from '../../src/repo/index.ts';
import { TreePacks } from '../../src/repo/tree-packs.ts';

const identity: Identity = { hostname: 'test-host', username: 'tester', pid: process.pid, uid: 0, gid: 0 };

/** The reference backend, counting the reads of data files (whole or ranged) by file name. */
class CountingBackend extends MemoryBackend {
  readonly dataLoads: { name: string; ranged: boolean }[] = [];
  override load(handle: Handle, options?: LoadOptions): Promise<Buffer> {
    if (handle.type === 'data')
      this.dataLoads.push({
        name: handle.name,
        ranged: options?.offset !== undefined || options?.length !== undefined,
      });
    return super.load(handle, options);
  }
}

async function scratch(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-tree-packs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** 40 directories of 3 small files each, 2 levels deep. */
async function manyDirectories(root: string): Promise<void> {
  for (let i = 0; i < 8; i++)
    for (let j = 0; j < 5; j++) {
      const dir = join(root, `d${i}`, `e${j}`);
      await mkdir(dir, { recursive: true });
      for (let k = 0; k < 3; k++) await writeFile(join(dir, `f${k}`), `file ${i}/${j}/${k}\n`);
    }
}

/** A first backup of manyDirectories into a new repository on a CountingBackend. */
async function backedUp(t: TestContext) {
  const work = await scratch(t);
  const source = join(work, 'source');
  await manyDirectories(source);
  const backend = new CountingBackend();
  const first = await backupDirectory(await newRepo(backend), { source, identity, workers: 0 });
  return { work, source, backend, first };
}

async function newRepo(backend: MemoryBackend): Promise<Repository> {
  return Repository.init(backend, {
    password: 'tree packs',
    keyParams: { N: 1024, r: 8, p: 1 },
    polynomial: polynomialToHex(randomPolynomial((n) => randomBytes(n))),
    identity,
  });
}

describe('whole tree packs', () => {
  it('read each tree pack once, whole, in a backup with a parent and in a restore', async (t) => {
    const { work, source, backend, first } = await backedUp(t);
    assert.equal(backend.dataLoads.length, 0, 'a first backup reads no pack');

    // A second repository object, as a later backup opens it: nothing is kept from the first.
    const again = await Repository.open(backend, { password: 'tree packs', identity });
    const second = await backupDirectory(again, { source, identity, workers: 0, parent: first.snapshotId });
    assert.equal(second.stats.filesUnmodified, 120);
    assert.equal(second.treeId, first.treeId);
    const read = backend.dataLoads.splice(0);
    assert.ok(read.length > 0, 'the parent’s trees were read');
    assert.ok(
      read.every((l) => !l.ranged),
      `every read was of a whole pack, none of one tree: ${JSON.stringify(read)}`,
    );
    assert.equal(read.length, new Set(read.map((l) => l.name)).size, 'no pack was read twice');
    assert.ok(read.length < 5, `${read.length} reads for the 49 trees of the parent`);

    const restored = await restoreSnapshot(again, { snapshotId: second.snapshotId, target: join(work, 'r') });
    assert.deepEqual(restored.problems, []);
    const treeReads = backend.dataLoads.filter((l) => !l.ranged);
    assert.ok(treeReads.length < 5, `the restore read ${treeReads.length} whole packs for its trees`);
    assert.equal(treeReads.length, new Set(treeReads.map((l) => l.name)).size, 'no tree pack read twice');
  });

  it('read a blob alone from a pack too large to keep, and keep packs within the limit, least recently used first', async () => {
    const backend = new CountingBackend();
    const big = randomBytes(3000);
    const small1 = randomBytes(1000);
    const small2 = randomBytes(1000);
    for (const [name, bytes] of [
      ['a'.repeat(64), big],
      ['b'.repeat(64), small1],
      ['c'.repeat(64), small2],
    ] as const)
      await backend.save({ type: 'data', name }, bytes);
    const packs = new TreePacks(backend, 2500);
    const blob = { type: 'tree' as const, id: 'f'.repeat(64), offset: 10, length: 20 };

    // Larger than half the limit: not kept, so the caller reads the blob alone.
    assert.equal(await packs.ciphertext('a'.repeat(64), blob), undefined);
    assert.deepEqual(backend.dataLoads.splice(0), []);

    assert.deepEqual(await packs.ciphertext('b'.repeat(64), blob), small1.subarray(10, 30));
    assert.deepEqual(
      await packs.ciphertext('b'.repeat(64), { ...blob, offset: 900 }),
      small1.subarray(900, 920),
    );
    assert.deepEqual(backend.dataLoads.splice(0), [{ name: 'b'.repeat(64), ranged: false }], 'read once');

    // Two packs of 1000 bytes fit within 2500; a blob past the pack's end is not served from the copy.
    assert.deepEqual(await packs.ciphertext('c'.repeat(64), blob), small2.subarray(10, 30));
    assert.equal(await packs.ciphertext('c'.repeat(64), { ...blob, offset: 990 }), undefined);
    await packs.ciphertext('b'.repeat(64), blob);
    assert.deepEqual(backend.dataLoads.splice(0), [{ name: 'c'.repeat(64), ranged: false }]);

    // A third pack of 1000 bytes passes the limit: the least recently used (c) goes, b stays.
    await backend.save({ type: 'data', name: 'd'.repeat(64) }, randomBytes(1000));
    await packs.ciphertext('d'.repeat(64), blob);
    await packs.ciphertext('b'.repeat(64), blob);
    await packs.ciphertext('c'.repeat(64), blob);
    assert.deepEqual(
      backend.dataLoads.splice(0).map((l) => l.name[0]),
      ['d', 'c'],
      'b was kept; c was read again',
    );

    packs.clear();
    await packs.ciphertext('b'.repeat(64), blob);
    assert.deepEqual(
      backend.dataLoads.splice(0).map((l) => l.name[0]),
      ['b'],
      'read again after clear()',
    );
  });

  it('fall back to the blob’s own read when its pack is missing, whose error names the file', async (t) => {
    const { work, backend, first } = await backedUp(t);
    for await (const { name } of backend.list('data')) await backend.remove({ type: 'data', name });
    const again = await Repository.open(backend, { password: 'tree packs', identity });
    const { problems } = await restoreSnapshot(again, {
      snapshotId: first.snapshotId,
      target: join(work, 'r'),
    });
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.path, '/');
    assert.match(problems[0]?.reason ?? '', /^file data\/[0-9a-f]{2}\/[0-9a-f]{64} not found in memory$/);
  });
});
