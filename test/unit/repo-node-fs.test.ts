import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import {
  applyMetadata,
  goFileMode,
  nodeFromStat,
  readAccountNames,
  readNode,
  unixPermissions,
  UnsupportedFileTypeError,
} from '../../src/repo/node-fs.ts';
import { FileMode, hasFileMode, type Node, type NodeTime } from '../../src/repo/tree.ts';

const run = promisify(execFile);

async function scratch(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-node-fs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const at = (unixNano: bigint): NodeTime => ({ unixNano, utcOffsetMinutes: 0 });

describe('nodes from the filesystem', () => {
  it('maps unix st_mode to Go’s os.FileMode bits, not the S_IF* bits', () => {
    const cases: [number, number][] = [
      [0o100644, 0o644],
      [0o040755, FileMode.dir + 0o755],
      [0o120777, FileMode.symlink + 0o777],
      [0o010600, FileMode.namedPipe + 0o600],
      [0o140755, FileMode.socket + 0o755],
      [0o060660, FileMode.device + 0o660],
      [0o020666, FileMode.device + FileMode.charDevice + 0o666],
      [0o104755, FileMode.setuid + 0o755],
      [0o102640, FileMode.setgid + 0o640],
      [0o041777, FileMode.dir + FileMode.sticky + 0o777],
    ];
    for (const [unix, go] of cases) {
      assert.equal(goFileMode(unix), go, unix.toString(8));
      assert.equal(unixPermissions(go), unix & 0o7777, unix.toString(8));
    }
    assert.equal(FileMode.dir + 0o755, 2147484141); // what restic stores for a 0755 directory
  });

  it('makes nodes from lstat with nanosecond times in the given zone, atime as mtime unless asked', async (t) => {
    const dir = await scratch(t);
    await writeFile(join(dir, 'file'), 'twelve bytes');
    await run('touch', ['-d', '2023-11-14 22:13:20.123456789 UTC', join(dir, 'file')]);
    await run('touch', ['-a', '-d', '2024-01-01 00:00:00.5 UTC', join(dir, 'file')]);
    const stats = await lstat(join(dir, 'file'), { bigint: true });
    const names = { user: (uid: number) => `user${uid}`, group: (gid: number) => `group${gid}` };
    const node = nodeFromStat('file', stats, { names, utcOffset: () => -210 });
    assert.deepEqual(node, {
      name: 'file',
      type: 'file',
      mode: 0o644 & ~process.umask() & 0o777,
      mtime: { unixNano: 1_700_000_000_123_456_789n, utcOffsetMinutes: -210 },
      atime: { unixNano: 1_700_000_000_123_456_789n, utcOffsetMinutes: -210 },
      ctime: { unixNano: stats.ctimeNs, utcOffsetMinutes: -210 },
      uid: Number(stats.uid),
      gid: Number(stats.gid),
      user: `user${stats.uid}`,
      group: `group${stats.gid}`,
      inode: stats.ino,
      deviceId: stats.dev,
      size: 12,
      links: 1,
      content: [],
    });
    const withAtime = nodeFromStat('file', stats, { withAtime: true, utcOffset: () => 0 });
    assert.deepEqual(withAtime.atime, at(1_704_067_200_500_000_000n));
    assert.equal(withAtime.user, undefined);
  });

  it('reads symlink targets and gives directories no size, links or content', async (t) => {
    const dir = await scratch(t);
    await mkdir(join(dir, 'sub'));
    await symlink('../elsewhere', join(dir, 'link'));
    const link = await readNode(join(dir, 'link'));
    assert.equal(link.type, 'symlink');
    assert.equal(link.linkTarget, '../elsewhere');
    assert.equal(link.links, 1);
    const sub = await readNode(join(dir, 'sub'));
    assert.equal(sub.type, 'dir');
    assert.equal(hasFileMode(sub.mode, FileMode.dir), true);
    assert.equal(hasFileMode(sub.mode, FileMode.symlink), false);
    assert.deepEqual([sub.size, sub.links, sub.content], [undefined, undefined, null]);
  });

  it('refuses an entry of a type restic has no node for', async (t) => {
    const dir = await scratch(t);
    const stats = await lstat(dir, { bigint: true });
    const odd = Object.assign(Object.create(Object.getPrototypeOf(stats) as object) as typeof stats, stats, {
      mode: 0o170000n,
    });
    assert.throws(() => nodeFromStat('odd', odd), UnsupportedFileTypeError);
  });

  it('reads user and group names from passwd and group files, the first entry for an id winning', async (t) => {
    const dir = await scratch(t);
    await writeFile(
      join(dir, 'passwd'),
      'root:x:0:0:root:/root:/bin/sh\n# comment\nalice:x:1000:1000::/home/alice:/bin/sh\nalias:x:1000:1000::/:/bin/sh\n',
    );
    await writeFile(join(dir, 'group'), 'root:x:0:\nstaff:x:50:alice\n');
    const names = await readAccountNames({ passwd: join(dir, 'passwd'), group: join(dir, 'group') });
    assert.deepEqual([names.user(0), names.user(1000), names.user(4242)], ['root', 'alice', '']);
    assert.deepEqual([names.group(50), names.group(1000)], ['staff', '']);
    const none = await readAccountNames({ passwd: join(dir, 'missing'), group: join(dir, 'missing') });
    assert.equal(none.user(0), '');
  });
});

describe('applying node metadata', () => {
  const file = (fields: Partial<Node>): Node => ({
    name: 'f',
    type: 'file',
    mode: 0o644,
    mtime: at(0n),
    atime: at(0n),
    ctime: at(0n),
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    content: [],
    ...fields,
  });

  it('sets mode with setgid, owner, and times to within a quarter microsecond', async (t) => {
    const dir = await scratch(t);
    const path = join(dir, 'f');
    await writeFile(path, 'x');
    const asRoot = process.getuid?.() === 0;
    const node = file({
      mode: FileMode.setgid + 0o640,
      mtime: at(1_700_000_000_123_456_789n),
      atime: at(1_600_000_000_987_654_321n),
      ...(asRoot ? { uid: 4321, gid: 8765 } : {}),
    });
    assert.deepEqual(applyMetadata(path, node), []);
    const stats = await lstat(path, { bigint: true });
    assert.equal(Number(stats.mode) & 0o7777, 0o2640);
    const off = (a: bigint, b: bigint) => Number(a > b ? a - b : b - a);
    assert.ok(off(stats.mtimeNs, 1_700_000_000_123_456_789n) < 250, `mtime ${stats.mtimeNs}`);
    assert.ok(off(stats.atimeNs, 1_600_000_000_987_654_321n) < 250, `atime ${stats.atimeNs}`);
    if (asRoot) assert.deepEqual([stats.uid, stats.gid], [4321n, 8765n]);
    else t.diagnostic('not root: owner not changed');
  });

  it('sets times before 1970, and a symlink’s own times without following it', async (t) => {
    const dir = await scratch(t);
    await writeFile(join(dir, 'target'), 'x');
    await symlink('target', join(dir, 'link'));
    const before = await lstat(join(dir, 'target'), { bigint: true });
    const node = file({
      type: 'symlink',
      mode: FileMode.symlink + 0o777,
      mtime: at(-86_400_500_000_000n),
      linkTarget: 'target',
      content: null,
    });
    assert.deepEqual(applyMetadata(join(dir, 'link'), node), []);
    assert.equal((await lstat(join(dir, 'link'), { bigint: true })).mtimeNs, -86_400_500_000_000n);
    assert.equal((await lstat(join(dir, 'target'), { bigint: true })).mtimeNs, before.mtimeNs);
  });

  it('tries every step and reports the ones that failed', async (t) => {
    const dir = await scratch(t);
    const problems = applyMetadata(join(dir, 'missing'), file({}));
    assert.deepEqual(
      problems.map((p) => [p.operation, (p.error as NodeJS.ErrnoException).code]),
      [
        ['lchown', 'ENOENT'],
        ['chmod', 'ENOENT'],
        ['utimes', 'ENOENT'],
      ],
    );
  });
});
