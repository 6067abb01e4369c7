// `cairn backup create --node-agent local` backs up the files of pod volumes on the testbed's real node
// (an emptyDir, a local PersistentVolume and a CSI volume) into the location's restic-format repository,
// which Debian's restic then checks and restores byte for byte.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { before, describe, it } from 'node:test';
import type { PodVolumeBackup } from '../../src/api/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { decryptBuffer } from '../../src/storage/index.ts';
import { cairn, cairnBin } from '../helpers/cli.ts';
import {
  busyboxPod,
  kubectl,
  TESTBED_IMAGES,
  TESTBED_STORAGE,
  testbedNode,
  waitForPodLine,
  waitForPodReady,
} from '../helpers/node.ts';
import { clusterClient, eventually, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';

const run = promisify(execFile);
let client: KubeClient;
before(() => {
  client = clusterClient('a');
});

async function home(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-vol-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'config');
  const env = { ...process.env, XDG_CONFIG_HOME: config, XDG_DATA_HOME: join(dir, 'data') };
  const location = join(dir, 'data', 'cairn', 'locations', 'default');
  return { env, location, dir, keys: join(config, 'cairn', 'keys') };
}

async function claim(namespace: string, name: string, storageClass: string) {
  await client.json({
    method: 'POST',
    path: `/api/v1/namespaces/${namespace}/persistentvolumeclaims`,
    body: {
      metadata: { name },
      spec: {
        storageClassName: storageClass,
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: '64Mi' } },
      },
    },
  });
}

/** `sha256sum` of every file under the pod's /<volume>, as `kubectl exec` sees it: path → digest. */
async function podChecksums(
  namespace: string,
  pod: string,
  volume: string,
  cluster: 'a' | 'b' = 'a',
): Promise<Map<string, string>> {
  const result = await kubectl(
    [
      'exec',
      '-n',
      namespace,
      pod,
      '--',
      'sh',
      '-c',
      `cd /${volume} && find . -type f ! -path './.cairn/*' -exec sha256sum {} +`,
    ],
    { cluster },
  );
  assert.equal(result.code, 0, result.stderr);
  return new Map(
    result.stdout
      .trim()
      .split('\n')
      .map((line) => {
        const [digest, path] = line.split(/\s+/);
        return [(path ?? '').replace(/^\.\//, ''), digest ?? ''] as const;
      }),
  );
}

/** sha256 of every file under `dir`: relative path → digest. */
async function localChecksums(dir: string): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    sums.set(
      path.slice(dir.length + 1),
      createHash('sha256')
        .update(await readFile(path))
        .digest('hex'),
    );
  }
  return sums;
}

/** Deletes the namespace and waits until it is gone (its claims' volumes with it). */
async function deleteNamespace(namespace: string): Promise<void> {
  const result = await kubectl(['delete', 'namespace', namespace, '--wait=true', '--timeout=120s']);
  assert.equal(result.code, 0, result.stderr);
}

describe('file-system backup of pod volumes', () => {
  it('backs up an emptyDir, a local volume and a CSI volume that restic checks and restores byte for byte', async (t) => {
    const { env, location, keys, dir } = await home(t);
    const ns = await testNamespace(t, client, 'vol');
    await claim(ns, 'local-data', TESTBED_STORAGE.localClass);
    await claim(ns, 'csi-data', TESTBED_STORAGE.csiClass);
    // Written once: the restored pod finds its files and leaves them alone.
    const write = (v: string) =>
      `{ [ -e /${v}/kept.txt ] || { mkdir -p /${v}/sub/deeper && echo "${v} kept" > /${v}/kept.txt && ` +
      `head -c 3000000 /dev/urandom > /${v}/sub/random.bin && : > /${v}/sub/empty && ` +
      `ln -s kept.txt /${v}/link && seq 1 20000 > /${v}/sub/deeper/numbers.txt; }; }`;
    const pod = busyboxPod({
      name: 'app',
      script: `${['scratch', 'local', 'csi'].map(write).join(' && ')} && echo ready && exec sleep 3600`,
      volumes: {
        scratch: { emptyDir: {} },
        local: { persistentVolumeClaim: { claimName: 'local-data' } },
        csi: { persistentVolumeClaim: { claimName: 'csi-data' } },
        config: { configMap: { name: 'kube-root-ca.crt' } },
      },
    });
    (pod.metadata as Record<string, unknown>).annotations = {
      'backup.cairn.dev/backup-volumes': 'scratch,local,csi,config',
    };
    await client.json({ method: 'POST', path: `/api/v1/namespaces/${ns}/pods`, body: pod });
    await waitForPodReady(client, ns, 'app');
    await waitForPodLine(ns, 'app', 'ready');

    const name = `vol-${uniqueSuffix()}`;
    const kubeletRoot = testbedNode('a').rootDir;
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
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`^Backup "${name}" Completed`, 'm'));
    const described = await cairn(['backup', 'describe', name, '--details'], env);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /Pod volume backups .*\n {2}Completed: +3\n {2}Failed: +0\n/);
    assert.match(
      described.stdout,
      new RegExp(
        `^ {2}${ns}/app/local \\(claim local-data\\): Completed: file-system backup, snapshot [0-9a-f]{8}, 4 files, `,
        'm',
      ),
    );
    assert.match(described.stdout, new RegExp(`^ {2}${ns}/app/config: Skipped: a configMap volume`, 'm'));

    // The record of every volume, beside the archive (encrypted with the location's key).
    const key = Buffer.from(readFileSync(join(keys, 'default.key'), 'utf8').trim(), 'base64');
    const stored = readFileSync(join(location, 'backups', name, `${name}-podvolumebackups.json.gz`));
    const records = JSON.parse(gunzipSync(decryptBuffer(key, stored)).toString('utf8')) as PodVolumeBackup[];
    const byVolume = new Map(records.map((r) => [r.spec.volume, r]));
    for (const volume of ['scratch', 'local', 'csi'])
      assert.equal(
        byVolume.get(volume)?.status?.phase,
        'Completed',
        JSON.stringify(byVolume.get(volume)?.status),
      );
    assert.equal(byVolume.get('config')?.status?.phase, 'Skipped');
    assert.match(byVolume.get('config')?.status?.message ?? '', /configMap volume/);

    // restic, with the repository's own password, checks every byte and restores each snapshot.
    const repository = join(location, 'restic', ns);
    const passwordFile = join(keys, `default.restic-${ns}.password`);
    const restic = (args: string[]) =>
      run('restic', ['-r', repository, '--password-file', passwordFile, '--no-cache', ...args], {
        maxBuffer: 64 * 1024 * 1024,
      });
    await restic(['check', '--read-data']);
    for (const volume of ['scratch', 'local', 'csi']) {
      const record = byVolume.get(volume);
      assert.ok(record?.status?.snapshotID);
      const target = join(dir, `restored-${volume}`);
      await restic(['restore', record.status.snapshotID, '--target', target]);
      assert.deepEqual(await localChecksums(target), await podChecksums(ns, 'app', volume), volume);
    }

    // The namespace is deleted; the restore brings the pod back, waiting in its init container until
    // this process has written each volume's files, and the pod sees them as they were.
    const before = new Map<string, Map<string, string>>();
    for (const volume of ['scratch', 'local', 'csi'])
      before.set(volume, await podChecksums(ns, 'app', volume));
    await deleteNamespace(ns);
    const restored = await cairn(
      [
        'restore',
        'create',
        '--from-backup',
        name,
        '--node-agent',
        'local',
        '--kubelet-root',
        kubeletRoot,
        '--restore-helper-image',
        TESTBED_IMAGES.busybox,
      ],
      env,
    );
    assert.equal(restored.code, 0, restored.stdout + restored.stderr);
    assert.match(restored.stdout, /Completed/);
    await waitForPodReady(client, ns, 'app');
    for (const volume of ['scratch', 'local', 'csi']) {
      assert.deepEqual(await podChecksums(ns, 'app', volume), before.get(volume), volume);
      const link = await kubectl(['exec', '-n', ns, 'app', '--', 'readlink', `/${volume}/link`]);
      assert.equal(link.stdout, 'kept.txt\n', volume);
    }
  });
});

describe('file-system backup of pod volumes, again and elsewhere', () => {
  it('backs up only what changed: after 1% of the files change, about 1% is stored anew (opt-out mode); deleting a backup forgets its snapshot', async (t) => {
    const { env, location, keys } = await home(t);
    const ns = await testNamespace(t, client, 'incr');
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/pods`,
      body: busyboxPod({
        name: 'app',
        script:
          'for i in $(seq 1 100); do head -c 100000 /dev/urandom > /data/file-$i; done; echo ready; exec sleep 3600',
        volumes: { data: { emptyDir: {} } },
      }),
    });
    await waitForPodReady(client, ns, 'app');
    await waitForPodLine(ns, 'app', 'ready');
    const kubeletRoot = testbedNode('a').rootDir;
    const backup = async (name: string) => {
      const result = await cairn(
        [
          'backup',
          'create',
          name,
          '--include-namespaces',
          ns,
          '--default-volumes-to-fs-backup',
          '--node-agent',
          'local',
          '--kubelet-root',
          kubeletRoot,
          '-o',
          'json',
        ],
        env,
      );
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const status = (JSON.parse(result.stdout) as { status: { podVolumeBackups: Record<string, number> } })
        .status.podVolumeBackups;
      assert.equal(status.completed, 1, JSON.stringify(status));
      return status;
    };
    const firstName = `incr-1-${uniqueSuffix()}`;
    const first = await backup(firstName);
    assert.ok((first.bytes ?? 0) >= 10_000_000, JSON.stringify(first));
    // The service account token is a projected volume: skipped, with its reason.
    assert.ok((first.skipped ?? 0) >= 1, JSON.stringify(first));
    const change = await kubectl([
      'exec',
      '-n',
      ns,
      'app',
      '--',
      'sh',
      '-c',
      'head -c 100000 /dev/urandom > /data/file-7',
    ]);
    assert.equal(change.code, 0, change.stderr);
    const second = await backup(`incr-2-${uniqueSuffix()}`);
    assert.equal(second.bytes, first.bytes);
    // One file of 100 changed: what is stored anew is that file (compressed random data does not shrink)
    // and the trees, not the rest.
    assert.ok((second.bytesUploaded ?? 0) > 100_000, JSON.stringify(second));
    assert.ok(
      (second.bytesUploaded ?? 0) < 0.03 * (first.bytesUploaded ?? 0),
      JSON.stringify({ first, second }),
    );

    // Deleting the first backup forgets its snapshot; a prune then frees the data only it used (the old
    // file-7), and restic finds the second backup's snapshot whole.
    const deleted = await cairn(['backup', 'delete', firstName, '--confirm'], env);
    assert.equal(deleted.code, 0, deleted.stdout + deleted.stderr);
    assert.match(
      deleted.stdout,
      new RegExp(`^Forgot 1 volume snapshots of backup "${firstName}" in repository restic/${ns}/`, 'm'),
    );
    const pruned = await cairn(['repo', 'prune', ns], env);
    assert.equal(pruned.code, 0, pruned.stdout + pruned.stderr);
    const repository = join(location, 'restic', ns);
    const passwordFile = join(keys, `default.restic-${ns}.password`);
    const restic = (args: string[]) =>
      run('restic', ['-r', repository, '--password-file', passwordFile, '--no-cache', ...args]);
    await restic(['check', '--read-data']);
    const { stdout } = await restic(['snapshots', '--json']);
    const snapshots = JSON.parse(stdout) as { tags?: string[] }[];
    assert.equal(snapshots.length, 1);
    assert.ok(!snapshots[0]?.tags?.includes(`backup=${firstName}`), "the deleted backup's snapshot is gone");
  });

  it('writes a volume’s data to every location of a backup, and restores it from the second when the first is lost', async (t) => {
    const { env, location, keys, dir } = await home(t);
    const ns = await testNamespace(t, client, 'twice');
    const clientB = clusterClient('b');
    t.after(async () => {
      await clientB.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
    });
    const offsite = join(dir, 'offsite');
    const made = await cairn(['location', 'create', 'offsite', '--provider', 'fs', '--path', offsite], env);
    assert.equal(made.code, 0, made.stdout + made.stderr);
    const pod = busyboxPod({
      name: 'app',
      script:
        '[ -e /data/a ] || { head -c 300000 /dev/urandom > /data/a && mkdir /data/d && echo hi > /data/d/b; }; ' +
        'echo ready; exec sleep 3600',
      volumes: { data: { emptyDir: {} } },
    });
    (pod.metadata as Record<string, unknown>).annotations = { 'backup.cairn.dev/backup-volumes': 'data' };
    await client.json({ method: 'POST', path: `/api/v1/namespaces/${ns}/pods`, body: pod });
    await waitForPodReady(client, ns, 'app');
    await waitForPodLine(ns, 'app', 'ready');
    const before = await podChecksums(ns, 'app', 'data');
    const name = `twice-${uniqueSuffix()}`;
    const backup = await cairn(
      [
        'backup',
        'create',
        name,
        '--include-namespaces',
        ns,
        '--storage-location',
        'default,offsite',
        '--node-agent',
        'local',
        '--kubelet-root',
        testbedNode('a').rootDir,
        '-o',
        'json',
      ],
      env,
    );
    assert.equal(backup.code, 0, backup.stdout + backup.stderr);
    const counts = (JSON.parse(backup.stdout) as { status: { podVolumeBackups: Record<string, number> } })
      .status.podVolumeBackups;
    // One volume, a snapshot in each location's repository.
    assert.equal(counts.completed, 2, JSON.stringify(counts));
    for (const [where, root] of [
      ['default', location],
      ['offsite', offsite],
    ] as const) {
      const restic = (args: string[]) =>
        run('restic', [
          '-r',
          join(root, 'restic', ns),
          '--password-file',
          join(keys, `${where}.restic-${ns}.password`),
          '--no-cache',
          ...args,
        ]);
      await restic(['check', '--read-data']);
      const snapshots = JSON.parse((await restic(['snapshots', '--json'])).stdout) as { tags?: string[] }[];
      assert.equal(snapshots.length, 1, where);
      assert.ok(snapshots[0]?.tags?.includes(`backup=${name}`), where);
    }
    const described = await cairn(
      ['backup', 'describe', name, '--details', '--storage-location', 'offsite'],
      env,
    );
    assert.equal(described.code, 0, described.stderr);
    assert.match(
      described.stdout,
      new RegExp(`Pod volumes \\(their data in location "offsite"\\):\\n  ${ns}/app/data: Completed`),
    );

    // The first location's repositories are lost: the second location's copy restores the data alone.
    await rm(join(location, 'restic'), { recursive: true });
    const restore = await cairn(
      [
        'restore',
        'create',
        '--from-backup',
        name,
        '--storage-location',
        'offsite',
        '--node-agent',
        'local',
        '--kubelet-root',
        testbedNode('b').rootDir,
        '--restore-helper-image',
        TESTBED_IMAGES.busybox,
      ],
      { ...env, KUBECONFIG: process.env.KUBECONFIG_B },
    );
    assert.equal(restore.code, 0, restore.stdout + restore.stderr);
    await waitForPodReady(clientB, ns, 'app');
    assert.deepEqual(await podChecksums(ns, 'app', 'data', 'b'), before);
  });

  it('migrates a namespace with its volume data into another cluster', async (t) => {
    const { env } = await home(t);
    const ns = await testNamespace(t, client, 'mig');
    const clientB = clusterClient('b');
    t.after(async () => {
      await clientB.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
    });
    await claim(ns, 'data', TESTBED_STORAGE.localClass);
    const pod = busyboxPod({
      name: 'db',
      script:
        '[ -e /data/table.db ] || { head -c 2000000 /dev/urandom > /data/table.db && mkdir -p /data/wal && ' +
        'echo 42 > /data/wal/0001; }; echo ready; exec sleep 3600',
      volumes: { data: { persistentVolumeClaim: { claimName: 'data' } } },
    });
    (pod.metadata as Record<string, unknown>).annotations = { 'backup.velero.io/backup-volumes': 'data' };
    await client.json({ method: 'POST', path: `/api/v1/namespaces/${ns}/pods`, body: pod });
    await waitForPodReady(client, ns, 'db');
    await waitForPodLine(ns, 'db', 'ready');
    const before = await podChecksums(ns, 'db', 'data');
    const name = `mig-${uniqueSuffix()}`;
    const backup = await cairn(
      [
        'backup',
        'create',
        name,
        '--include-namespaces',
        ns,
        '--node-agent',
        'local',
        '--kubelet-root',
        testbedNode('a').rootDir,
      ],
      env,
    );
    assert.equal(backup.code, 0, backup.stdout + backup.stderr);

    const restore = await cairn(
      [
        'restore',
        'create',
        '--from-backup',
        name,
        '--node-agent',
        'local',
        '--kubelet-root',
        testbedNode('b').rootDir,
        '--restore-helper-image',
        TESTBED_IMAGES.busybox,
      ],
      { ...env, KUBECONFIG: process.env.KUBECONFIG_B },
    );
    assert.equal(restore.code, 0, restore.stdout + restore.stderr);
    await waitForPodReady(clientB, ns, 'db');
    assert.deepEqual(await podChecksums(ns, 'db', 'data', 'b'), before);
  });
});

describe('file-system backup of pod volumes, interrupted', () => {
  it('leaves a repository restic checks after kill -9 mid-upload, and the next backup takes over the stale lock', async (t) => {
    const { env, location, keys } = await home(t);
    const ns = await testNamespace(t, client, 'kill');
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/pods`,
      body: busyboxPod({
        name: 'app',
        script:
          'for i in $(seq 1 12); do head -c 16000000 /dev/urandom > /data/big-$i; done; echo ready; exec sleep 3600',
        volumes: { data: { emptyDir: {} } },
      }),
    });
    await waitForPodReady(client, ns, 'app');
    await waitForPodLine(ns, 'app', 'ready');
    const kubeletRoot = testbedNode('a').rootDir;
    const args = (name: string) => [
      'backup',
      'create',
      name,
      '--include-namespaces',
      ns,
      '--default-volumes-to-fs-backup',
      '--node-agent',
      'local',
      '--kubelet-root',
      kubeletRoot,
    ];
    // Killed once some packs of the volume are stored: the upload is under way.
    const repository = join(location, 'restic', ns);
    const child = spawn(process.execPath, [cairnBin, ...args(`kill-1-${uniqueSuffix()}`)], { env });
    const exited = new Promise((done) => child.on('exit', done));
    await eventually(
      'a pack of the volume stored',
      async () => {
        const packs = await readdir(join(repository, 'data'), { recursive: true }).catch(() => []);
        return packs.some((p) => /^[0-9a-f]{2}\/[0-9a-f]{64}$/.test(p)) ? true : undefined;
      },
      120_000,
    );
    child.kill('SIGKILL');
    await exited;
    const locks = await readdir(join(repository, 'locks'));
    assert.equal(locks.length, 1, 'the killed backup left its lock');

    // restic 0.14 leaves stale locks to its `unlock`: it checks beside the lock the killed backup left.
    const passwordFile = join(keys, `default.restic-${ns}.password`);
    await run('restic', [
      '-r',
      repository,
      '--password-file',
      passwordFile,
      '--no-cache',
      '--no-lock',
      'check',
      '--read-data',
    ]);

    const next = await cairn(args(`kill-2-${uniqueSuffix()}`), env);
    assert.equal(next.code, 0, next.stdout + next.stderr);
    assert.match(next.stdout, /Completed/);
    assert.match(next.stderr, /^warning: .*stale lock/im, 'the stale lock is named on standard error');
    assert.equal(
      (await readdir(join(repository, 'locks')).catch(() => [])).length,
      0,
      'the stale lock was removed (with a warning), and the new backup released its own',
    );
    await run('restic', [
      '-r',
      repository,
      '--password-file',
      passwordFile,
      '--no-cache',
      'check',
      '--read-data',
    ]);
    const { stdout } = await run('restic', [
      '-r',
      repository,
      '--password-file',
      passwordFile,
      '--no-cache',
      'snapshots',
      '--json',
    ]);
    assert.equal((JSON.parse(stdout) as unknown[]).length, 1, 'one snapshot: the killed backup wrote none');
  });
});
