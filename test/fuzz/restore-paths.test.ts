// Hostile trees given to the commands that write files from a repository's trees: the volume restorer
// (restoreSnapshot, which a pod volume restore runs into the volume's directory) and `cairn volume get
// --to DIR` (restoreVolumePath). A tree is untrusted input: whoever can write the repository can put any
// name in it, any symlink, two entries of one name, any size. Nothing may be written outside the target:
// every such entry is skipped and named as a problem. And a pack with one byte flipped writes no file
// whose content failed its MAC. (`cairn backup download` writes the archive as one file and extracts
// nothing; the archive reader's own refusals are in archive.test.ts.)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import {
  MemoryBackend,
  Repository,
  encodeNode,
  encodeTree,
  newSnapshotJson,
  polynomialToHex,
  randomPolynomial,
  restoreSnapshot,
  type Node,
} from '../../src/repo/index.ts';
import { RestoreTargetExistsError, restoreVolumePath } from '../../src/volumes/index.ts';
import { flip } from '../helpers/bytes.ts';
import { recordReliability } from '../helpers/reliability.ts';

const time = { unixNano: 1_700_000_000_000_000_000n, utcOffsetMinutes: 0 };
const base = {
  mode: 0o644,
  mtime: time,
  atime: time,
  ctime: time,
  uid: process.getuid?.() ?? 0,
  gid: process.getgid?.() ?? 0,
};
const file = (name: string, content: string[], extra: Partial<Node> = {}): Node => ({
  ...base,
  name,
  type: 'file',
  size: 1,
  content,
  ...extra,
});
const dir = (name: string, subtree: string): Node => ({
  ...base,
  name,
  type: 'dir',
  mode: 2 ** 31 + 0o755,
  content: null,
  subtree,
});
const link = (name: string, target: string): Node => ({
  ...base,
  name,
  type: 'symlink',
  mode: 2 ** 27 + 0o777,
  linkTarget: target,
  content: null,
});

/** A tree blob of `nodes` in the order given, duplicates and all (encodeTree refuses those). */
const rawTree = (nodes: Node[]) => Buffer.from(`{"nodes":[${nodes.map(encodeNode).join(',')}]}\n`);

async function newRepo(backend = new MemoryBackend()): Promise<Repository> {
  const polynomial = polynomialToHex(randomPolynomial((n) => randomBytes(n)));
  return Repository.init(backend, {
    password: 'paths',
    keyParams: { N: 1024, r: 8, p: 1 },
    polynomial,
    packSize: 1024 * 1024,
  });
}

/** A scratch directory holding `target` and `outside`, a directory nothing may be written into. */
async function scratch(t: TestContext): Promise<{ target: string; outside: string; root: string }> {
  const root = await mkdtemp(join(tmpdir(), 'cairn-paths-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const outside = join(root, 'outside');
  await mkdir(outside);
  return { root, target: join(root, 'target'), outside };
}

/** Every path under `dir` (lstat: symlinks are not followed), relative to it. */
async function tree(dirPath: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dirPath)).sort()) {
    out.push(`${prefix}${name}`);
    if ((await lstat(join(dirPath, name))).isDirectory())
      out.push(...(await tree(join(dirPath, name), `${prefix}${name}/`)));
  }
  return out;
}

async function assertNothingOutside(root: string, outside: string, what: string): Promise<void> {
  assert.deepEqual(await readdir(outside), [], `${what}: nothing written into the outside directory`);
  assert.deepEqual((await readdir(root)).sort(), ['outside', 'target'], `${what}: nothing beside the target`);
  assert.equal(
    (await lstat(outside)).mode & 0o777,
    0o755 & ~process.umask() & 0o777,
    `${what}: its mode unchanged`,
  );
}

describe('the volume restorer, given hostile trees', () => {
  it('skips entries named .., ../x, /etc/x, a/../../x, ., empty or with a NUL, naming each, writing nothing outside', async (t) => {
    const repo = await newRepo();
    const data = Buffer.from('escaped');
    const { id } = await repo.saveBlob('data', data);
    const names = ['..', '../x', '/etc/x', 'a/../../x', '.', '', 'nul\0x'];
    const nodes = names.map((name) => file(name, [id]));
    const sub = (await repo.saveBlob('tree', rawTree(nodes))).id;
    const root = (await repo.saveBlob('tree', rawTree([...nodes, dir('sub', sub)]))).id;
    await repo.flush();
    const { root: scratchRoot, target, outside } = await scratch(t);
    const { problems } = await restoreSnapshot(repo, {
      treeId: root,
      target: join(target, 'deep'),
      lock: false,
    });
    assert.equal(problems.length, 2 * names.length, JSON.stringify(problems));
    for (const name of names)
      assert.ok(
        problems.some((p) => p.path.endsWith(name) && /is not a file name/.test(p.reason)),
        name,
      );
    assert.deepEqual(await tree(target), ['deep', 'deep/sub']);
    await assertNothingOutside(scratchRoot, outside, 'unsafe names');
    recordReliability({
      section: 'Bad input',
      subject: 'volume restore (restoreSnapshot): tree entry names',
      tried: 'entries named .., ../x, /etc/x, a/../../x, ., empty, with a NUL; at the top and one level down',
      cases: 2 * names.length,
      outcome: 'skipped, each named as a problem ("is not a file name")',
      lost: 'nothing written outside the target',
    });
  });

  it('does not follow a symlink of the tree that points outside, whatever comes after it with the same name', async (t) => {
    let cases = 0;
    for (const order of ['directory first', 'symlink first'] as const) {
      const repo = await newRepo();
      const { id } = await repo.saveBlob('data', Buffer.from('escaped'));
      const { root: scratchRoot, target, outside } = await scratch(t);
      const inner = (await repo.saveBlob('tree', rawTree([file('f', [id]), link('l', outside)]))).id;
      const escape = link('evil', outside);
      const nodes = order === 'symlink first' ? [escape, dir('evil', inner)] : [dir('evil', inner), escape];
      // A second `evil` below, pointing at the target's parent by a relative path, and a file through it.
      const sub = (
        await repo.saveBlob('tree', rawTree([link('up', '../..'), dir('up', inner), file('up', [id])]))
      ).id;
      const root = (await repo.saveBlob('tree', rawTree([...nodes, dir('sub', sub)]))).id;
      await repo.flush();
      for (const workers of [0, 2]) {
        await rm(target, { recursive: true, force: true });
        const { problems } = await restoreSnapshot(repo, { treeId: root, target, workers, lock: false });
        cases++;
        await assertNothingOutside(scratchRoot, outside, `${order}, ${workers} workers`);
        assert.ok(
          problems.some(
            (p) => p.path === 'evil' && /second entry named "evil" in one directory/.test(p.reason),
          ),
          JSON.stringify(problems),
        );
        assert.ok(
          problems.some(
            (p) => p.path === 'sub/up' && /second entry named "up" in one directory/.test(p.reason),
          ),
        );
        // The first entry of each name is restored as the tree says; a symlink is made, never followed.
        if (order === 'symlink first') assert.equal(await readlink(join(target, 'evil')), outside);
        else assert.deepEqual(await tree(join(target, 'evil')), ['f', 'l']);
        assert.equal(await readlink(join(target, 'sub', 'up')), '../..');
      }
    }
    recordReliability({
      section: 'Bad input',
      subject: 'volume restore (restoreSnapshot): symlinks',
      tried:
        'a symlink out of the target and a directory or file of the same name, either order; relative and absolute',
      cases,
      outcome:
        'the first entry restored (a symlink made, not followed); the second skipped, named as a problem',
      lost: 'nothing written outside the target',
    });
  });

  it('makes hard links only to files it restored, and writes a file claiming 2^53 bytes at its real length', async (t) => {
    const repo = await newRepo();
    const data = Buffer.from('linked content');
    const { id } = await repo.saveBlob('data', data);
    const nodes = [
      file('first', [id], { inode: 7n, links: 3, size: Number.MAX_SAFE_INTEGER }),
      file('second', [id], { inode: 7n, links: 3 }),
      file('..', [id], { inode: 8n, links: 2 }),
      file('orphan', [id], { inode: 8n, links: 2 }),
    ];
    const root = (await repo.saveBlob('tree', rawTree(nodes))).id;
    await repo.flush();
    const { root: scratchRoot, target, outside } = await scratch(t);
    const { problems, stats } = await restoreSnapshot(repo, { treeId: root, target, lock: false });
    assert.equal(stats.hardLinks, 1);
    assert.deepEqual(await readFile(join(target, 'first')), data);
    assert.equal((await lstat(join(target, 'second'))).ino, (await lstat(join(target, 'first'))).ino);
    assert.deepEqual(
      await readFile(join(target, 'orphan')),
      data,
      'its first link was skipped: it is written itself',
    );
    assert.deepEqual(
      problems.map((p) => p.path),
      ['..'],
    );
    await assertNothingOutside(scratchRoot, outside, 'hard links');
    recordReliability({
      section: 'Bad input',
      subject: 'volume restore (restoreSnapshot): hard links and sizes',
      tried: 'hard-link groups (one led by an entry named ..), a file node claiming 2^53-1 bytes',
      cases: 2,
      outcome: 'links made to restored files only; the file written at the length of its blobs',
      lost: 'nothing written outside the target; no allocation of the claimed size',
    });
  });

  it('cairn volume get --to DIR (restoreVolumePath): refuses a symlink already in DIR, and skips the tree’s own tricks', async (t) => {
    const repo = await newRepo();
    const { id } = await repo.saveBlob('data', Buffer.from('escaped'));
    const { root: scratchRoot, target, outside } = await scratch(t);
    const inner = (await repo.saveBlob('tree', rawTree([file('f', [id])]))).id;
    const data = (
      await repo.saveBlob('tree', rawTree([link('evil', outside), dir('evil', inner), file('../x', [id])]))
    ).id;
    const root = (await repo.saveBlob('tree', encodeTree([dir('data', data)]))).id;
    const snapshotId = await repo.saveJson(
      'snapshots',
      newSnapshotJson({ time: '2026-01-02T03:04:05Z', tree: root, paths: ['/'] }),
    );
    await repo.flush();
    const get = (path: string, overwrite: boolean) =>
      restoreVolumePath({ repo, snapshotId, path, target, overwrite, lock: false });

    // DIR holds a symlink where the tree has a directory: without --overwrite, refused before writing.
    await mkdir(target);
    await symlink(outside, join(target, 'data'));
    const refused = await get('data', false).then(
      () => assert.fail('restored through the symlink'),
      (e: unknown) => e,
    );
    assert.ok(refused instanceof RestoreTargetExistsError, String(refused));
    await assertNothingOutside(scratchRoot, outside, 'existing symlink, no --overwrite');
    // With --overwrite the symlink is replaced by the directory, not followed.
    const replaced = await get('data', true);
    assert.ok((await lstat(join(target, 'data'))).isDirectory());
    await assertNothingOutside(scratchRoot, outside, 'existing symlink, --overwrite');
    assert.deepEqual(
      replaced.problems.map((p) => p.path).sort(),
      ['data/../x', 'data/evil'],
      JSON.stringify(replaced.problems),
    );
    // The whole volume (/) into a fresh DIR: the same entries skipped.
    await rm(target, { recursive: true });
    const whole = await get('/', false);
    assert.deepEqual(whole.problems.map((p) => p.path).sort(), ['data/../x', 'data/evil']);
    await assertNothingOutside(scratchRoot, outside, 'whole volume');
    recordReliability({
      section: 'Bad input',
      subject: 'cairn volume get --to DIR (restoreVolumePath)',
      tried:
        'a symlink out of DIR already there (with and without --overwrite); a tree symlink out plus a directory of its name; ../x',
      cases: 3,
      outcome:
        'refused (RestoreTargetExistsError) or the symlink replaced, not followed; hostile entries skipped and named',
      lost: 'nothing written outside DIR',
    });
  });
});

describe('the volume restorer, given a pack with one byte flipped', () => {
  it('writes no file whose content failed its MAC, and every other file whole', async (t) => {
    const backend = new MemoryBackend();
    const repo = await newRepo(backend);
    const good = randomBytes(4000);
    const bad = randomBytes(5000);
    const goodId = (await repo.saveBlob('data', good)).id;
    const badId = (await repo.saveBlob('data', bad)).id;
    const root = (await repo.saveBlob('tree', encodeTree([file('good', [goodId]), file('bad', [badId])]))).id;
    await repo.flush();
    const [entry] = await repo.lookupBlob('data', badId);
    assert.ok(entry);
    const handle = { type: 'data', name: entry.pack } as const;
    const loadPack = () => repo.loadPackRange(entry.pack, 0, entry.offset + entry.length);
    const original = await loadPack();
    // Positions across the blob: its IV, its ciphertext, its MAC.
    const positions = [
      0,
      1,
      15,
      16,
      100,
      Math.floor(entry.length / 2),
      entry.length - 17,
      entry.length - 16,
      entry.length - 1,
    ];
    const { root: scratchRoot, target, outside } = await scratch(t);
    let cases = 0;
    for (const at of positions)
      for (const workers of [0, 2]) {
        const saved = await savePack(backend, handle, flip(original, entry.offset + at));
        await rm(target, { recursive: true, force: true });
        const { problems } = await restoreSnapshot(repo, { treeId: root, target, workers, lock: false });
        cases++;
        assert.deepEqual(
          problems.map((p) => p.path),
          ['bad'],
          `byte ${at}, ${workers} workers`,
        );
        assert.match(problems[0]?.reason ?? '', /ciphertext verification failed|is corrupt/);
        assert.deepEqual(await readdir(target), ['good'], 'no bad file, no temporary file');
        assert.deepEqual(await readFile(join(target, 'good')), good);
        await saved.restore();
      }
    await assertNothingOutside(scratchRoot, outside, 'tampered pack');
    recordReliability({
      section: 'Security',
      subject: 'volume restore (restoreSnapshot): tampered pack',
      tried:
        'one byte flipped in a blob (IV, ciphertext, MAC), blobs verified on the main thread and in workers',
      cases,
      outcome:
        'the file refused (MacError named as its problem), never written under its name; other files whole',
      lost: 'nothing written from unauthenticated bytes',
    });
  });
});

/** Replaces a pack's bytes in the repository's backend; `restore()` puts the original back. */
async function savePack(
  backend: MemoryBackend,
  handle: { type: 'data'; name: string },
  bytes: Buffer,
): Promise<{ restore(): Promise<void> }> {
  const before = await backend.load(handle);
  const full = Buffer.concat([bytes, before.subarray(bytes.length)]);
  await backend.remove(handle);
  await backend.save(handle, full);
  return {
    restore: async () => {
      await backend.remove(handle);
      await backend.save(handle, before);
    },
  };
}
