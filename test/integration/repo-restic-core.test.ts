// Debian's restic is the independent checker of the repository core: repositories restic makes, Cairn
// opens and reads (config, keys, index, snapshots, trees, data blobs, locks); repositories Cairn makes,
// restic opens, lists, prints and checks with --read-data. Local temporary directories only; no testbed.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import {
  LocalBackend,
  LockConflictError,
  Repository,
  WrongPasswordError,
  findKey,
  masterKeyToJson,
  parseLock,
} from '../../src/repo/index.ts';
import { rejection } from '../helpers/bytes.ts';

const polynomial = '3da3358b4dc173';
const keyParams = { N: 1024, r: 8, p: 1 };

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function workDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-restic-core-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs restic on a local repository; never rejects: the exit code is part of the result. */
function restic(
  repo: string,
  args: string[],
  options: { password?: string; cwd?: string } = {},
): Promise<Run> {
  return new Promise((resolve) =>
    execFile(
      'restic',
      ['--repo', repo, '--no-cache', ...args],
      {
        cwd: options.cwd,
        env: {
          ...process.env,
          RESTIC_PASSWORD: options.password ?? 'pw',
          RESTIC_CACHE_DIR: join(repo, '..', 'restic-cache'),
        },
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'buffer',
      },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
          stdout: stdout.toString('latin1'),
          stderr: stderr.toString(),
        }),
    ),
  );
}

async function ok(
  repo: string,
  args: string[],
  options: { password?: string; cwd?: string } = {},
): Promise<string> {
  const run = await restic(repo, args, options);
  assert.equal(run.code, 0, `restic ${args.join(' ')}: ${run.stderr}${run.stdout}`);
  return run.stdout;
}

async function files(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [])).filter((name) => /^[0-9a-f]{64}$/.test(name));
}

interface TreeNode {
  name: string;
  type: string;
  subtree?: string;
  content?: string[] | null;
}

describe('restic 0.14 and the repository core', () => {
  it('(a) opens a repository restic initialised (format 2): config, polynomial, keys; refuses a wrong password', async (t) => {
    const dir = await workDir(t);
    const repoDir = join(dir, 'repo');
    await ok(repoDir, ['init', '--repository-version', '2']);
    const config = JSON.parse(await ok(repoDir, ['cat', 'config'])) as Record<string, unknown>;
    const backend = new LocalBackend({ root: repoDir });
    const repo = await Repository.open(backend, { password: 'pw' });
    assert.deepEqual(
      { version: repo.config.version, id: repo.config.id, chunker_polynomial: repo.config.chunkerPolynomial },
      config,
    );
    const keys = await repo.listKeys();
    assert.deepEqual(
      keys.map((k) => k.name),
      await files(join(repoDir, 'keys')),
    );
    assert.equal(keys[0]?.hostname, hostname());
    assert.equal(repo.keyName, keys[0]?.name);
    const masterkey = JSON.parse(await ok(repoDir, ['cat', 'masterkey'])) as object;
    assert.deepEqual(masterKeyToJson((await findKey(backend, 'pw')).key), masterkey);
    assert.ok(
      (await rejection(Repository.open(backend, { password: 'nope' }))) instanceof WrongPasswordError,
    );
  });

  it('(b) initialises a repository restic reads and checks, and adds a key restic opens it with', async (t) => {
    const dir = await workDir(t);
    const repoDir = join(dir, 'repo');
    const repo = await Repository.init(new LocalBackend({ root: repoDir }), {
      password: 'pw',
      polynomial,
      keyParams,
    });
    const config = JSON.parse(await ok(repoDir, ['cat', 'config'])) as Record<string, unknown>;
    assert.deepEqual(config, { version: 2, id: repo.config.id, chunker_polynomial: polynomial });
    const check = await ok(repoDir, ['check']);
    assert.match(check, /no errors were found/);

    const second = await repo.addKey('second password', { params: keyParams });
    for (const password of ['pw', 'second password'])
      assert.equal(
        (JSON.parse(await ok(repoDir, ['cat', 'config'], { password })) as { id: string }).id,
        repo.config.id,
      );
    const listed = await ok(repoDir, ['key', 'list'], { password: 'second password' });
    assert.ok(listed.includes(second.slice(0, 8)) && listed.includes(repo.keyName.slice(0, 8)), listed);
    assert.notEqual((await restic(repoDir, ['cat', 'config'], { password: 'third' })).code, 0);
  });

  it('(c) writes data and tree blobs in packs with an index: restic lists them, prints them, checks all data', async (t) => {
    const dir = await workDir(t);
    const repoDir = join(dir, 'repo');
    const repo = await Repository.init(new LocalBackend({ root: repoDir }), {
      password: 'pw',
      polynomial,
      keyParams,
      packSize: 256 * 1024,
    });
    const blobs = new Map<string, { type: 'data' | 'tree'; bytes: Buffer }>();
    const save = async (type: 'data' | 'tree', bytes: Buffer, compress?: boolean) => {
      const { id } = await repo.saveBlob(type, bytes, { compress });
      blobs.set(id, { type, bytes });
    };
    for (let n = 0; n < 12; n++) await save('data', randomBytes(30_000 + n)); // incompressible
    for (let n = 0; n < 12; n++) await save('data', Buffer.from(`line ${n}\n`.repeat(4000))); // compressible
    await save('data', Buffer.from('stored as is '.repeat(100)), false);
    await save('data', Buffer.alloc(0));
    await save('data', randomBytes(300 * 1024)); // larger than the pack size: a pack of its own
    await save('tree', Buffer.from('{"nodes":[]}\n'));
    await repo.close();

    const listed = (await ok(repoDir, ['list', 'blobs'])).trim().split('\n').sort();
    assert.deepEqual(listed, [...blobs].map(([id, { type }]) => `${type} ${id}`).sort());
    for (const [id, { type, bytes }] of [...blobs].slice(10, 30)) {
      const printed = await ok(repoDir, ['cat', 'blob', id]);
      assert.deepEqual(Buffer.from(printed, 'latin1'), bytes, `${type} blob ${id}`);
    }
    const check = await restic(repoDir, ['check', '--read-data']);
    assert.equal(check.code, 0, check.stderr + check.stdout);
    assert.match(check.stdout, /no errors were found/);
    t.diagnostic(
      `${blobs.size} blobs, ${repo.stats.packsUploaded} packs, ${repo.stats.indexFilesWritten} index file(s)`,
    );
  });

  it('(d) reads a backup restic made: its index, the snapshot, the trees and every data blob, verified', async (t) => {
    const dir = await workDir(t);
    const repoDir = join(dir, 'repo');
    const source = join(dir, 'volume');
    await mkdir(join(source, 'sub'), { recursive: true });
    const content = new Map<string, Buffer>([
      ['big.bin', randomBytes(2_500_000)],
      ['notes.txt', Buffer.from('volume data\n'.repeat(1000))],
      ['sub/empty', Buffer.alloc(0)],
    ]);
    for (const [path, bytes] of content) await writeFile(join(source, path), bytes);
    await ok(repoDir, ['init', '--repository-version', '2']);
    await ok(repoDir, ['backup', '--host', 'cairn-test', 'volume'], { cwd: dir });
    const repo = await Repository.open(new LocalBackend({ root: repoDir }), { password: 'pw' });
    const snapshots: string[] = [];
    for await (const { name } of repo.list('snapshots')) snapshots.push(name);
    assert.equal(snapshots.length, 1);
    const snapshot = (await repo.loadJson('snapshots', snapshots[0] as string)) as {
      tree: string;
      hostname: string;
    };
    assert.equal(snapshot.hostname, 'cairn-test');

    const found = new Map<string, Buffer>();
    const walk = async (treeId: string, path: string): Promise<void> => {
      const tree = JSON.parse((await repo.loadBlob('tree', treeId)).toString()) as { nodes: TreeNode[] };
      for (const node of tree.nodes) {
        const nodePath = path ? `${path}/${node.name}` : node.name;
        if (node.type === 'dir' && node.subtree) await walk(node.subtree, nodePath);
        if (node.type === 'file') {
          const parts = [];
          for (const id of node.content ?? []) parts.push(await repo.loadBlob('data', id));
          found.set(nodePath, Buffer.concat(parts));
        }
      }
    };
    await walk(snapshot.tree, '');
    const bySuffix = (path: string) => [...found].find(([p]) => p.endsWith(`volume/${path}`))?.[1];
    for (const [path, bytes] of content) assert.deepEqual(bySuffix(path), bytes, path);
    t.diagnostic(
      `${repo.indexStats.blobs} blobs in ${repo.indexStats.packs} packs, ${repo.indexStats.indexFiles} index file(s)`,
    );
  });

  it('(e) holds a lock restic sees and respects, reads restic’s lock, and removes it once its process is gone', async (t) => {
    const dir = await workDir(t);
    const repoDir = join(dir, 'repo');
    const warnings: string[] = [];
    const repo = await Repository.init(new LocalBackend({ root: repoDir }), {
      password: 'pw',
      polynomial,
      keyParams,
      logger: { warn: (message) => warnings.push(message) },
    });

    const ours = await repo.lock({ exclusive: true });
    assert.deepEqual((await ok(repoDir, ['list', 'locks', '--no-lock'])).trim().split('\n'), [ours.name]);
    const printed = JSON.parse(await ok(repoDir, ['cat', 'lock', ours.name, '--no-lock'])) as Record<
      string,
      unknown
    >;
    assert.equal(printed.exclusive, true);
    assert.equal(printed.pid, process.pid);
    assert.equal(printed.hostname, hostname());
    const refused = await restic(repoDir, ['backup', '--stdin', '--stdin-filename', 'x']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /already locked exclusively/);
    await ours.release();
    assert.deepEqual(await files(join(repoDir, 'locks')), []);

    // restic backs up from a stdin we keep open: it holds its lock meanwhile.
    const child = spawn('restic', ['--repo', repoDir, '--no-cache', 'backup', '--stdin'], {
      env: { ...process.env, RESTIC_PASSWORD: 'pw' },
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    t.after(() => child.kill('SIGKILL'));
    let lockName: string | undefined;
    for (let i = 0; i < 300 && !lockName; i++) {
      lockName = (await files(join(repoDir, 'locks')))[0];
      if (!lockName) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(lockName, 'restic wrote a lock');
    const theirs = parseLock(await repo.loadJson('locks', lockName), lockName);
    assert.deepEqual(
      { exclusive: theirs.exclusive, pid: theirs.pid, hostname: theirs.hostname },
      { exclusive: false, pid: child.pid, hostname: hostname() },
    );
    assert.ok(Math.abs(Date.parse(theirs.time) - Date.now()) < 5 * 60_000, theirs.time);
    const conflict = await rejection(repo.lock({ exclusive: true }));
    assert.ok(conflict instanceof LockConflictError, String(conflict));
    assert.match(conflict.message, new RegExp(`by pid ${child.pid} on ${hostname()}`));
    const shared = await repo.lock({ exclusive: false });
    await shared.release();

    child.kill('SIGKILL');
    await exited;
    assert.deepEqual(await files(join(repoDir, 'locks')), [lockName], 'a killed restic leaves its lock');
    const prune = await repo.lock({ exclusive: true });
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0] ?? '',
      new RegExp(`removing stale lock locks/${lockName} .*: pid ${child.pid} on`),
    );
    assert.deepEqual(await files(join(repoDir, 'locks')), [prune.name]);
    await repo.close();
    assert.deepEqual(await files(join(repoDir, 'locks')), [], 'close releases the locks');
  });
});
