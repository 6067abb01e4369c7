// `cairn volume ls|get` and `cairn repo ...` on a real backup: a pod on the testbed's node with an emptyDir
// holding a few files and subdirectories is backed up with `--node-agent local`; its files are listed and
// restored from the backup, and the namespace's repository is listed, checked, given a new password
// (which Debian's restic then proves), thinned out and pruned.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, lstat, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import type { KubeClient } from '../../src/kube/index.ts';
import { cairn, type CliResult } from '../helpers/cli.ts';
import { busyboxPod, kubectl, testbedNode, waitForPodLine, waitForPodReady } from '../helpers/node.ts';
import { clusterClient, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';

const run = promisify(execFile);

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const output = (result: CliResult) => `exit ${result.code}\n${result.stdout}${result.stderr}`;

/** Runs a shell command in the pod's container; its stdout. */
async function inPod(namespace: string, script: string): Promise<string> {
  const result = await kubectl(['exec', '-n', namespace, 'app', '--', 'sh', '-c', script]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

/** The pod's view of a file in /data: its digest, permission bits and modification time (seconds). */
async function podFile(namespace: string, path: string) {
  const [digest] = (await inPod(namespace, `sha256sum /data/${path}`)).split(/\s+/);
  const [mode, mtime] = (await inPod(namespace, `stat -c '%a %Y' /data/${path}`)).trim().split(' ');
  return { digest, mode: Number.parseInt(mode ?? '', 8), mtime: Number(mtime) };
}

/** The same of a restored local file. */
async function localFile(path: string) {
  const stat = await lstat(path);
  return {
    digest: sha256(await readFile(path)),
    mode: stat.mode & 0o7777,
    mtime: Math.floor(stat.mtimeMs / 1000),
  };
}

// The pod's files: a small one with its own mode and time, a 3 MB random one, a deeper directory, a link.
const WRITE_FILES = [
  'cd /data',
  'mkdir -p sub/deeper',
  "printf 'hello, volume\\n' > hello.txt",
  'chmod 640 hello.txt',
  "touch -d '2024-03-04 05:06:07' hello.txt",
  'head -c 3000000 /dev/urandom > sub/big.bin',
  'seq 1 20000 > sub/deeper/numbers.txt',
  'chmod 600 sub/deeper/numbers.txt',
  "touch -d '2023-01-02 03:04:05' sub/deeper/numbers.txt",
  'chmod 750 sub/deeper',
  'ln -s hello.txt link',
].join(' && ');

describe('cairn volume and cairn repo on a backup of a pod volume', () => {
  it('lists and restores files of the volume, and looks after its repository', async (t) => {
    const client: KubeClient = clusterClient('a');
    const dir = await mkdtemp(join(tmpdir(), 'cairn-volcli-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const config = join(dir, 'config');
    // TZ: the snapshot records times at the offset of the zone it was taken in.
    const env = { ...process.env, TZ: 'UTC', XDG_CONFIG_HOME: config, XDG_DATA_HOME: join(dir, 'data') };
    const location = join(dir, 'data', 'cairn', 'locations', 'default');
    const ns = await testNamespace(t, client, 'volcli');
    const repository = join(location, 'restic', ns);
    const passwordFile = join(config, 'cairn', 'keys', `default.restic-${ns}.password`);
    const restic = (args: string[], password = passwordFile) =>
      run('restic', ['-r', repository, '--password-file', password, '--no-cache', ...args], {
        maxBuffer: 64 * 1024 * 1024,
      });

    const pod = busyboxPod({
      name: 'app',
      script: `{ [ -e /data/hello.txt ] || { ${WRITE_FILES}; }; } && echo ready && exec sleep 3600`,
      volumes: { data: { emptyDir: {} }, config: { configMap: { name: 'kube-root-ca.crt' } } },
    });
    (pod.metadata as Record<string, unknown>).annotations = {
      'backup.cairn.dev/backup-volumes': 'data,config',
    };
    await client.json({ method: 'POST', path: `/api/v1/namespaces/${ns}/pods`, body: pod });
    await waitForPodReady(client, ns, 'app');
    await waitForPodLine(ns, 'app', 'ready');
    const kubeletRoot = testbedNode('a').rootDir;
    const backUp = async (name: string) => {
      const result = await cairn(
        [
          'backup',
          'create',
          name,
          '--include-namespaces',
          ns,
          '--node-agent',
          'local',
          '--kubelet-root',
          kubeletRoot,
        ],
        env,
      );
      assert.equal(result.code, 0, output(result));
      assert.match(result.stdout, new RegExp(`^Backup "${name}" Completed`, 'm'));
    };
    const first = `volcli-${uniqueSuffix()}`;
    await backUp(first);
    const volume = `${ns}/app/data`;

    await t.test('volume ls lists the root of the volume as ls -l would', async () => {
      const result = await cairn(['volume', 'ls', first, volume], env);
      assert.equal(result.code, 0, output(result));
      const lines = result.stdout.trimEnd().split('\n');
      assert.match(lines[0] ?? '', /^TYPE\s+MODE\s+SIZE\s+MODIFIED\s+NAME$/);
      assert.match(result.stdout, /^file\s+-rw-r-----\s+14\s+2024-03-04 05:06:07 \+0000\s+hello\.txt$/m);
      assert.match(result.stdout, /^symlink\s+lrwxrwxrwx\s+-\s+\S+ \S+ \S+\s+link -> hello\.txt$/m);
      assert.match(result.stdout, /^dir\s+drwxr-xr-x\s+-\s+\S+ \S+ \S+\s+sub\/$/m);
      assert.equal(lines.length, 4, result.stdout); // the header and three entries: .cairn is not there
    });

    await t.test('volume ls lists a subdirectory, and with -r everything below it', async () => {
      const sub = await cairn(['volume', 'ls', first, volume, 'sub'], env);
      assert.equal(sub.code, 0, output(sub));
      assert.match(sub.stdout, /^file\s+-rw-r--r--\s+3000000\s+.*\sbig\.bin$/m);
      assert.match(sub.stdout, /^dir\s+drwxr-x---\s+-\s+.*\sdeeper\/$/m);
      assert.doesNotMatch(sub.stdout, /numbers/);
      const recursive = await cairn(['volume', 'ls', first, volume, 'sub', '-r'], env);
      assert.equal(recursive.code, 0, output(recursive));
      assert.match(
        recursive.stdout,
        /^file\s+-rw-------\s+108894\s+2023-01-02 03:04:05 \+0000\s+deeper\/numbers\.txt$/m,
      );
    });

    await t.test('volume ls -o json gives every entry with its mode, size, time and owner', async () => {
      const result = await cairn(['volume', 'ls', first, volume, '-o', 'json'], env);
      assert.equal(result.code, 0, output(result));
      const listing = JSON.parse(result.stdout) as {
        backup: string;
        volume: string;
        snapshotID: string;
        path: string;
        entries: {
          name: string;
          path: string;
          type: string;
          mode: string;
          size: number;
          mtime: string;
          uid: number;
          linkTarget?: string;
        }[];
      };
      assert.equal(listing.backup, first);
      assert.equal(listing.volume, volume);
      assert.match(listing.snapshotID, /^[0-9a-f]{64}$/);
      assert.deepEqual(
        listing.entries.map((e) => [e.name, e.path, e.type, e.mode]),
        [
          ['hello.txt', '/hello.txt', 'file', '-rw-r-----'],
          ['link', '/link', 'symlink', 'lrwxrwxrwx'],
          ['sub/', '/sub', 'dir', 'drwxr-xr-x'],
        ],
      );
      const hello = listing.entries[0];
      assert.equal(hello?.size, 14);
      assert.match(hello?.mtime ?? '', /^2024-03-04T05:06:07(\.0+)?(Z|\+00:00)$/);
      assert.equal(hello?.uid, 0);
      assert.equal(listing.entries[1]?.linkTarget, 'hello.txt');
    });

    const out = join(dir, 'out');
    await t.test('volume get restores a file byte for byte, with its mode and time', async () => {
      const result = await cairn(['volume', 'get', first, volume, 'hello.txt', '--to', out], env);
      assert.equal(result.code, 0, output(result));
      assert.match(
        result.stdout,
        new RegExp(
          `^Restored "hello.txt" of pod volume ${volume} .* to ${out}/hello\\.txt: 1 file, 0 directories`,
          'm',
        ),
      );
      assert.deepEqual(await localFile(join(out, 'hello.txt')), await podFile(ns, 'hello.txt'));
      assert.equal((await localFile(join(out, 'hello.txt'))).mode, 0o640);
    });

    await t.test('volume get restores a directory with everything in it', async () => {
      const result = await cairn(['volume', 'get', first, volume, 'sub', '--to', out], env);
      assert.equal(result.code, 0, output(result));
      assert.match(result.stdout, /: 2 files, 2 directories, 3\.1 MB\.$/m);
      for (const file of ['sub/big.bin', 'sub/deeper/numbers.txt'])
        assert.deepEqual(await localFile(join(out, file)), await podFile(ns, file), file);
      assert.equal((await lstat(join(out, 'sub', 'deeper'))).mode & 0o777, 0o750);
      const whole = join(dir, 'whole');
      const all = await cairn(['volume', 'get', first, volume, '/', '--to', whole], env);
      assert.equal(all.code, 0, output(all));
      assert.equal(await readlink(join(whole, 'link')), 'hello.txt');
      assert.deepEqual(await localFile(join(whole, 'sub/big.bin')), await podFile(ns, 'sub/big.bin'));
    });

    await t.test('volume get --to - writes one file to stdout', async () => {
      const { stdout } = await run(
        process.execPath,
        [
          join(import.meta.dirname, '../../bin/cairn.js'),
          'volume',
          'get',
          first,
          volume,
          'sub/big.bin',
          '--to',
          '-',
        ],
        {
          env,
          encoding: 'buffer',
          maxBuffer: 16 * 1024 * 1024,
        },
      );
      assert.equal(stdout.length, 3_000_000);
      assert.equal(sha256(stdout), (await podFile(ns, 'sub/big.bin')).digest);
      const directory = await cairn(['volume', 'get', first, volume, 'sub', '--to', '-'], env);
      assert.equal(directory.code, 1, output(directory));
      assert.match(directory.stderr, /is a dir, not a file: --to - writes one file; give --to DIR/);
    });

    await t.test('volume commands say what is wrong: backup, volume, path, existing files', async () => {
      const noBackup = await cairn(['volume', 'ls', 'no-such-backup', volume], env);
      assert.equal(noBackup.code, 1, output(noBackup));
      assert.match(
        noBackup.stderr,
        /^error: backup "no-such-backup" was not found in any location \(searched: default\)$/m,
      );

      const unknown = await cairn(['volume', 'ls', first, `${ns}/app/nope`], env);
      assert.equal(unknown.code, 1, output(unknown));
      // Every volume of the pod has a record, the service account token's projected volume too.
      assert.match(
        unknown.stderr,
        new RegExp(
          `^error: backup "${first}" has no pod volume ${ns}/app/nope: it has ${ns}/app/config \\(Skipped\\), ` +
            `${ns}/app/data \\(Completed\\), ${ns}/app/kube-api-access-\\w+ \\(Skipped\\)\n$`,
        ),
      );

      const skipped = await cairn(['volume', 'ls', first, `${ns}/app/config`], env);
      assert.equal(skipped.code, 1, output(skipped));
      assert.match(
        skipped.stderr,
        new RegExp(
          `^error: pod volume ${ns}/app/config was not backed up in backup "${first}": Skipped: .*configMap`,
          'm',
        ),
      );

      const notAVolume = await cairn(['volume', 'ls', first, 'app/data'], env);
      assert.equal(notAVolume.code, 1, output(notAVolume));
      assert.match(notAVolume.stderr, /does not name a pod volume: write NAMESPACE\/POD\/VOLUME/);

      for (const command of [['ls'], ['get']]) {
        const missing = await cairn(
          [
            'volume',
            ...command,
            first,
            volume,
            'sub/missing.txt',
            ...(command[0] === 'get' ? ['--to', out] : []),
          ],
          env,
        );
        assert.equal(missing.code, 1, output(missing));
        assert.equal(
          missing.stderr,
          `error: "sub/missing.txt" in pod volume ${volume} of backup "${first}": no such file or directory\n`,
        );
      }

      // A file that is there is kept, unless --overwrite.
      const target = join(out, 'hello.txt');
      await writeFile(target, 'changed here\n');
      const refused = await cairn(['volume', 'get', first, volume, 'hello.txt', '--to', out], env);
      assert.equal(refused.code, 1, output(refused));
      assert.equal(
        refused.stderr,
        `error: ${target} exists: nothing was written; pass --overwrite to replace them\n`,
      );
      assert.equal(await readFile(target, 'utf8'), 'changed here\n');
      const inDirectory = await cairn(['volume', 'get', first, volume, 'sub', '--to', out], env);
      assert.equal(inDirectory.code, 1, output(inDirectory));
      assert.match(
        inDirectory.stderr,
        /2 entries exist already \(.*sub\/big\.bin, .*sub\/deeper\/numbers\.txt\)/,
      );
      const replaced = await cairn(
        ['volume', 'get', first, volume, 'hello.txt', '--to', out, '--overwrite'],
        env,
      );
      assert.equal(replaced.code, 0, output(replaced));
      assert.deepEqual(await localFile(target), await podFile(ns, 'hello.txt'));
    });

    await t.test('repo get lists the repository and where its password is, never the password', async () => {
      const table = await cairn(['repo', 'get'], env);
      assert.equal(table.code, 0, output(table));
      assert.match(table.stdout, /^NAMESPACE\s+ID\s+SNAPSHOTS\s+PACKS\s+SIZE\s+STATUS\s+PASSWORD$/m);
      assert.match(
        table.stdout,
        new RegExp(`^${ns}\\s+[0-9a-f]{8}\\s+1\\s+[1-9]\\d*\\s+\\S+ \\S+\\s+Ready\\s+${passwordFile}$`, 'm'),
      );
      const json = await cairn(['repo', 'get', ns, '-o', 'json'], env);
      assert.equal(json.code, 0, output(json));
      const password = (await readFile(passwordFile, 'utf8')).trim();
      assert.ok(!json.stdout.includes(password) && !table.stdout.includes(password));
      const { repositories } = JSON.parse(json.stdout) as {
        repositories: {
          namespace: string;
          id: string;
          snapshots: number;
          packs: number;
          packBytes: number;
          state: string;
          passwordFile: string;
        }[];
      };
      assert.equal(repositories.length, 1);
      assert.equal(repositories[0]?.snapshots, 1);
      assert.equal(repositories[0]?.state, 'Ready');
      assert.equal(repositories[0]?.passwordFile, passwordFile);
      const { stdout: config } = await restic(['cat', 'config']);
      assert.equal(repositories[0]?.id, (JSON.parse(config) as { id: string }).id);
      const unknown = await cairn(['repo', 'get', 'no-such-namespace'], env);
      assert.equal(unknown.code, 1, output(unknown));
      assert.match(unknown.stderr, /has no volume-data repository for namespace no-such-namespace/);
    });

    await t.test('repo check --read-data reads every pack and finds no problem', async () => {
      const result = await cairn(['repo', 'check', ns, '--read-data'], env);
      assert.equal(result.code, 0, output(result));
      assert.match(result.stdout, /1 snapshots, .*; read [1-9]\d* packs .*\nNo errors\.\n$/);
    });

    await t.test('repo password says where the password is, and --show prints it', async () => {
      const where = await cairn(['repo', 'password', ns], env);
      assert.equal(where.code, 0, output(where));
      assert.equal(where.stdout, `${passwordFile}\n`);
      const shown = await cairn(['repo', 'password', ns, '--show'], env);
      assert.equal(shown.code, 0, output(shown));
      assert.equal(shown.stdout, await readFile(passwordFile, 'utf8'));
    });

    const oldPassword = join(dir, 'old.password');
    await copyFile(passwordFile, oldPassword);
    await t.test('repo rotate-key that fails leaves the old password working', async () => {
      // Another rotation's new file, which refuses this one before the password file is replaced.
      await writeFile(`${passwordFile}.new`, 'not mine\n');
      const result = await cairn(['repo', 'rotate-key', ns], env);
      assert.equal(result.code, 1, output(result));
      assert.match(
        result.stderr,
        /was not changed: replacing the password in the file .* failed: .*\.new exists: another `cairn repo rotate-key` is running.*; the old password still opens it/,
      );
      assert.equal(await readFile(passwordFile, 'utf8'), await readFile(oldPassword, 'utf8'));
      await restic(['snapshots']); // the old password opens it
      const { stdout: keys } = await restic(['key', 'list', '--json']);
      assert.equal((JSON.parse(keys) as unknown[]).length, 1, 'the new key file was removed again');
      await rm(`${passwordFile}.new`);
    });

    await t.test(
      'repo rotate-key gives a new password that restic uses, and the old one no longer opens',
      async () => {
        const result = await cairn(['repo', 'rotate-key', ns], env);
        assert.equal(result.code, 0, output(result));
        assert.match(
          result.stdout,
          new RegExp(
            `has a new password, kept in ${passwordFile} \\(key file keys/[0-9a-f]{8} added, keys/[0-9a-f]{8} removed\\)`,
          ),
        );
        assert.notEqual(await readFile(passwordFile, 'utf8'), await readFile(oldPassword, 'utf8'));
        await assert.rejects(restic(['snapshots'], oldPassword), /wrong password|no key found/);
        await restic(['check']);
        const { stdout: keys } = await restic(['key', 'list', '--json']);
        assert.equal((JSON.parse(keys) as unknown[]).length, 1);
      },
    );

    const second = `volcli-${uniqueSuffix()}`;
    await t.test('a second backup uses the new password', async () => {
      await inPod(ns, 'rm /data/sub/big.bin && echo second > /data/second.txt');
      await backUp(second);
      const listed = await cairn(['volume', 'ls', second, volume], env);
      assert.equal(listed.code, 0, output(listed));
      assert.match(listed.stdout, /\ssecond\.txt$/m);
      const { stdout } = await restic(['snapshots', '--json']);
      assert.equal((JSON.parse(stdout) as unknown[]).length, 2);
    });

    await t.test('repo forget --dry-run says what it would remove and removes nothing', async () => {
      const result = await cairn(['repo', 'forget', ns, '--keep-last', '1', '--dry-run'], env);
      assert.equal(result.code, 0, output(result));
      assert.match(
        result.stdout,
        new RegExp(`^keep\\s+[0-9a-f]{8}\\s+.*/${ns}/pod/app/data\\s+${second}\\s+last snapshot$`, 'm'),
      );
      assert.match(result.stdout, new RegExp(`^remove\\s+[0-9a-f]{8}\\s+.*\\s+${first}$`, 'm'));
      assert.match(result.stdout, /Dry run: would remove 1 of 2 snapshots; nothing was removed\./);
      const { stdout } = await restic(['snapshots', '--json']);
      assert.equal((JSON.parse(stdout) as unknown[]).length, 2);
      const none = await cairn(['repo', 'forget', ns], env);
      assert.equal(none.code, 1, output(none));
      assert.match(none.stderr, /no --keep flag given/);
    });

    await t.test(
      'repo forget and repo prune remove the first backup snapshot and the data only it used',
      async () => {
        const forget = await cairn(['repo', 'forget', ns, '--keep-last', '1'], env);
        assert.equal(forget.code, 0, output(forget));
        assert.match(
          forget.stdout,
          new RegExp(`Removed 1 of 2 snapshots .*Their data stays until \`cairn repo prune ${ns}\``),
        );
        const gone = await cairn(['volume', 'ls', first, volume], env);
        assert.equal(gone.code, 1, output(gone));
        assert.match(gone.stderr, /is not in the repository .* \(removed by `cairn repo forget`\?\)/);

        const dryRun = await cairn(['repo', 'prune', ns, '--dry-run'], env);
        assert.equal(dryRun.code, 0, output(dryRun));
        assert.match(dryRun.stdout, /Dry run: nothing was changed\./);
        const prune = await cairn(['repo', 'prune', ns], env);
        assert.equal(prune.code, 0, output(prune));
        assert.match(prune.stdout, /^ {2}unused:\s+[1-9]\d* blobs \/ [\d.]+ MB$/m);
        assert.match(prune.stdout, /^Deleted [1-9]\d* packs, wrote \d+ .*; freed [\d.]+ MB\.$/m);
        const check = await cairn(['repo', 'check', ns, '--read-data'], env);
        assert.equal(check.code, 0, output(check));
        await restic(['check', '--read-data']);
        const { stdout } = await run(
          process.execPath,
          [
            join(import.meta.dirname, '../../bin/cairn.js'),
            'volume',
            'get',
            second,
            volume,
            'second.txt',
            '--to',
            '-',
          ],
          { env },
        );
        assert.equal(stdout, 'second\n');
      },
    );
  });
});
