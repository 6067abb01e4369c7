// A directory with one of everything a volume backup has to get right (nested and empty directories, an
// empty file, a symlink, a setgid file with mode 0640, a non-ASCII name, a hard-link pair, a sparse file,
// a random file, a fifo), and a comparison of two such trees entry by entry: type, mode, owner, size,
// mtime (to the microsecond), content hash, symlink target, and which entries share an inode.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import {
  chmod,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const NON_ASCII = 'Grüße, 世界 🎉.txt';

export interface RichTreeOptions {
  /** The sparse file's length in MiB (a few bytes written in it). Default 50. */
  sparseMiB?: number;
  /** The random file's length in MiB. Default 3. */
  randomMiB?: number;
  /**
   * Make the random file's bytes pseudo-random from this seed, the same for the same seed (where a test
   * needs a fixed chunking, say). Default: random bytes.
   */
  randomSeed?: string;
  /** Make a fifo too (a restore needs mkfifo). Default true. */
  fifo?: boolean;
}

/** `length` pseudo-random bytes from a seed: AES-256-CTR's key stream, the key the seed's SHA-256. */
function seededBytes(seed: string, length: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** Fills `dir` (which exists) and gives every entry a fixed mtime with sub-microsecond digits. */
export async function makeRichTree(dir: string, options: RichTreeOptions = {}): Promise<void> {
  await mkdir(join(dir, 'nested', 'deeper'), { recursive: true });
  await mkdir(join(dir, 'empty-dir'));
  await writeFile(join(dir, 'nested', 'a.txt'), 'file a\n');
  await writeFile(join(dir, 'nested', 'deeper', 'b.txt'), 'file b, further down\n');
  await writeFile(join(dir, 'empty'), '');
  await symlink('nested/a.txt', join(dir, 'link'));
  await symlink('/nowhere/at/all', join(dir, 'dangling'));
  await writeFile(join(dir, 'secret'), 'group only\n');
  await chmod(join(dir, 'secret'), 0o2640);
  await writeFile(join(dir, NON_ASCII), 'non-ASCII name\n');
  await writeFile(join(dir, 'hard-1'), 'two names, one inode\n');
  await link(join(dir, 'hard-1'), join(dir, 'nested', 'hard-2'));
  const sparse = await open(join(dir, 'sparse'), 'w');
  await sparse.truncate((options.sparseMiB ?? 50) * 1024 * 1024);
  await sparse.write(Buffer.from('a few bytes in the middle'), 0, 25, 10 * 1024 * 1024 + 123);
  await sparse.close();
  const randomLength = (options.randomMiB ?? 3) * 1024 * 1024;
  await writeFile(
    join(dir, 'random'),
    options.randomSeed === undefined
      ? randomBytes(randomLength)
      : seededBytes(options.randomSeed, randomLength),
  );
  if (options.fifo ?? true) await run('mkfifo', [join(dir, 'fifo')]);
  // Times last, children before their directories; symlinks keep theirs (lutimes is not needed here).
  let n = 0;
  const touch = async (path: string) => {
    n++;
    const seconds = 1_700_000_000 + n * 1000 + 0.123456;
    await utimes(path, seconds, seconds);
  };
  for (const path of [
    'nested/a.txt',
    'nested/deeper/b.txt',
    'nested/deeper',
    'nested/hard-2',
    'nested',
    'empty-dir',
    'empty',
    'secret',
    NON_ASCII,
    'sparse',
    'random',
  ])
    await touch(join(dir, path));
}

export interface TreeEntry {
  path: string;
  stats: BigIntStats;
  sha256?: string;
  linkTarget?: string;
}

/** Every entry below `dir` (not `dir` itself), sorted by path, with content hashes and link targets. */
export async function readTree(dir: string, at = ''): Promise<TreeEntry[]> {
  const entries: TreeEntry[] = [];
  for (const name of (await readdir(join(dir, at))).sort()) {
    const path = at ? `${at}/${name}` : name;
    const stats = await lstat(join(dir, path), { bigint: true });
    const entry: TreeEntry = { path, stats };
    if (stats.isFile())
      entry.sha256 = createHash('sha256')
        .update(await readFile(join(dir, path)))
        .digest('hex');
    if (stats.isSymbolicLink()) entry.linkTarget = await readlink(join(dir, path));
    entries.push(entry);
    if (stats.isDirectory()) entries.push(...(await readTree(dir, path)));
  }
  return entries;
}

/** Asserts that `restored` holds what `source` holds; `skip` paths are left out of `source`. */
export async function assertSameTree(
  source: string,
  restored: string,
  options: { skip?: (path: string) => boolean } = {},
): Promise<void> {
  const expected = (await readTree(source)).filter((e) => !options.skip?.(e.path));
  const actual = await readTree(restored);
  assert.deepEqual(
    actual.map((e) => e.path),
    expected.map((e) => e.path),
    'the same entries',
  );
  for (const [i, want] of expected.entries()) {
    const got = actual[i] as TreeEntry;
    const { path } = want;
    assert.equal(got.stats.mode, want.stats.mode, `${path}: mode`);
    assert.equal(got.stats.uid, want.stats.uid, `${path}: uid`);
    assert.equal(got.stats.gid, want.stats.gid, `${path}: gid`);
    if (want.stats.isFile()) {
      assert.equal(got.stats.size, want.stats.size, `${path}: size`);
      assert.equal(got.sha256, want.sha256, `${path}: content`);
    }
    assert.equal(got.linkTarget, want.linkTarget, `${path}: symlink target`);
    const drift = got.stats.mtimeNs - want.stats.mtimeNs;
    assert.ok(
      drift > -1000n && drift < 1000n,
      `${path}: mtime ${got.stats.mtimeNs} vs ${want.stats.mtimeNs}`,
    );
  }
  // Hard links: entries that share an inode in the source share one in the restored tree.
  const groups = (entries: TreeEntry[]) => {
    const byInode = new Map<bigint, string[]>();
    for (const e of entries)
      if (e.stats.isFile()) byInode.set(e.stats.ino, [...(byInode.get(e.stats.ino) ?? []), e.path]);
    return [...byInode.values()]
      .filter((paths) => paths.length > 1)
      .map((paths) => paths.join(' = '))
      .sort();
  };
  assert.deepEqual(groups(actual), groups(expected), 'the same hard links');
}
