// CSI volume snapshots on the testbed's real CSI driver, external-snapshotter and snapshot-controller:
// `backup create --snapshot-volumes` snapshots a claim and keeps the snapshot (its content Retain) when the
// namespace goes; the restore makes the claim from it and the pod reads identical files; deleting the
// backup deletes the snapshot. A snapshot that is not ready in time fails the backup, naming the claim.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { KubeClient, KubeObject } from '../../src/kube/index.ts';
import { cairn } from '../helpers/cli.ts';
import {
  busyboxPod,
  kubectl,
  TESTBED_IMAGES,
  TESTBED_STORAGE,
  testbedNode,
  waitForPodLine,
  waitForPodReady,
} from '../helpers/node.ts';
import { clusterClient, eventually, testbedEnv, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;
before(() => {
  client = clusterClient('a');
});

async function home(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-csi-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return { ...process.env, XDG_CONFIG_HOME: join(dir, 'config'), XDG_DATA_HOME: join(dir, 'data') };
}

/** A claim of the testbed's CSI class, and a pod that writes files into it once (kept when restored). */
async function appWithClaim(namespace: string) {
  await client.json({
    method: 'POST',
    path: `/api/v1/namespaces/${namespace}/persistentvolumeclaims`,
    body: {
      metadata: { name: 'data' },
      spec: {
        storageClassName: TESTBED_STORAGE.csiClass,
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: '64Mi' } },
      },
    },
  });
  await client.json({
    method: 'POST',
    path: `/api/v1/namespaces/${namespace}/pods`,
    body: busyboxPod({
      name: 'app',
      script:
        '[ -e /data/kept.txt ] || { echo kept > /data/kept.txt && head -c 2000000 /dev/urandom > /data/random.bin ' +
        '&& mkdir -p /data/sub && seq 1 10000 > /data/sub/numbers.txt; }; echo ready; exec sleep 3600',
      volumes: { data: { persistentVolumeClaim: { claimName: 'data' } } },
    }),
  });
  await waitForPodReady(client, namespace, 'app');
  await waitForPodLine(namespace, 'app', 'ready');
}

async function checksums(namespace: string, cluster: 'a' | 'b' = 'a'): Promise<string> {
  const result = await kubectl(
    // Without the marker a file-system restore leaves (.cairn/<restore uid>, as Velero's .velero/).
    [
      'exec',
      '-n',
      namespace,
      'app',
      '--',
      'sh',
      '-c',
      "cd /data && find . -type f -not -path './.cairn/*' | sort | xargs sha256sum",
    ],
    { cluster },
  );
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

/** After a test that restores into cluster b: the namespace there, and the backup (and its snapshots). */
async function cleanUpInB(clientB: KubeClient, env: NodeJS.ProcessEnv, ns: string, backup: string) {
  await clientB.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
  await cairn(['backup', 'delete', backup, '--confirm'], env);
}

const contentPath = (name: string) => `/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents/${name}`;

async function snapshotsIn(namespace: string): Promise<KubeObject[]> {
  return (
    await client.json<{ items: KubeObject[] }>({
      path: `/apis/snapshot.storage.k8s.io/v1/namespaces/${namespace}/volumesnapshots`,
    })
  ).items;
}

interface BackupJson {
  status: { phase: string; csiVolumeSnapshotsAttempted?: number; csiVolumeSnapshotsCompleted?: number };
}

describe('CSI volume snapshots', () => {
  it('snapshot a claim, keep the snapshot when the namespace goes, restore the claim from it with identical files, delete it with the backup', async (t) => {
    const env = await home(t);
    const ns = await testNamespace(t, client, 'csi');
    await appWithClaim(ns);
    const before = await checksums(ns);

    const name = `csi-${uniqueSuffix()}`;
    // A dry run says what would be snapshotted, and takes nothing.
    const planned = await cairn(
      ['backup', 'create', name, '--include-namespaces', ns, '--snapshot-volumes', '--dry-run'],
      env,
    );
    assert.equal(planned.code, 0, planned.stdout + planned.stderr);
    assert.match(
      planned.stdout,
      new RegExp(
        `^ {2}volume data \\(claim data\\): snapshot, chosen by snapshotVolumes: a CSI snapshot \\(driver ${TESTBED_STORAGE.csiDriver.replace(/\./g, '\\.')}, class ${TESTBED_STORAGE.snapshotClass}\\)$`,
        'm',
      ),
    );
    assert.match(
      planned.stdout,
      /^0 hooks would run, 0 volumes would be backed up, 1 snapshotted; 0 problems\.$/m,
    );
    assert.deepEqual(await snapshotsIn(ns), []);
    const made = await cairn(
      ['backup', 'create', name, '--include-namespaces', ns, '--snapshot-volumes', '-o', 'json'],
      env,
    );
    assert.equal(made.code, 0, made.stdout + made.stderr + (await failureDetails(made, name, env)));
    const backup = JSON.parse(made.stdout) as BackupJson;
    assert.equal(backup.status.phase, 'Completed');
    assert.equal(backup.status.csiVolumeSnapshotsAttempted, 1);
    assert.equal(backup.status.csiVolumeSnapshotsCompleted, 1);
    // The VolumeSnapshot is gone from the namespace; its content stays, Retain, bound to the snapshot.
    assert.deepEqual(await snapshotsIn(ns), []);
    const logs = await cairn(['backup', 'logs', name], env);
    const contentName = /VolumeSnapshotContent (snapcontent-[0-9a-f-]+)/.exec(logs.stdout)?.[1];
    assert.ok(contentName, logs.stdout);
    const described = await cairn(['backup', 'describe', name, '--details'], env);
    assert.match(
      described.stdout,
      /^CSI volume snapshots \(--details lists each\):\n {2}Attempted:\s+1\n {2}Completed:\s+1$/m,
    );
    assert.match(
      described.stdout,
      new RegExp(
        `^ {2}${ns}/data: snapshot \\S+ of volume pvc-[0-9a-f-]+ \\(driver ${TESTBED_STORAGE.csiDriver.replace(/\./g, '\\.')}, class ${TESTBED_STORAGE.snapshotClass}, VolumeSnapshotContent ${contentName}, size \\S+\\)$`,
        'm',
      ),
    );
    const content = await client.json<{ spec: { deletionPolicy: string } }>({
      path: contentPath(contentName),
    });
    assert.equal(content.spec.deletionPolicy, 'Retain');

    // The namespace (and its volume) goes; the snapshot does not.
    const deleted = await kubectl(['delete', 'namespace', ns, '--wait=true', '--timeout=120s']);
    assert.equal(deleted.code, 0, deleted.stderr);
    await client.json({ path: contentPath(contentName) });

    const restored = await cairn(
      ['restore', 'create', `r-${name}`, '--from-backup', name, '-o', 'json'],
      env,
    );
    assert.equal(restored.code, 0, restored.stdout + restored.stderr);
    assert.equal((JSON.parse(restored.stdout) as { status: { phase: string } }).status.phase, 'Completed');
    const claim = await client.json<{ spec: { dataSource?: { kind: string; name: string } } }>({
      path: `/api/v1/namespaces/${ns}/persistentvolumeclaims/data`,
    });
    assert.equal(claim.spec.dataSource?.kind, 'VolumeSnapshot');
    await waitForPodReady(client, ns, 'app');
    assert.equal(await checksums(ns), before);
    // The VolumeSnapshot the restore made is gone once the claim was bound; the backup's content stays.
    await eventually('the restore to release its VolumeSnapshot', async () =>
      (await snapshotsIn(ns)).length === 0 ? true : undefined,
    );
    await client.json({ path: contentPath(contentName) });
    // Restored again over the live claim: nothing is made from the snapshot, the claim is kept.
    const again = await cairn(['restore', 'create', `r2-${name}`, '--from-backup', name, '-o', 'json'], env);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.deepEqual(await snapshotsIn(ns), []);
    assert.equal(await checksums(ns), before);

    // Deleting it with a kubeconfig for another cluster is refused: its snapshots are not there.
    const wrong = await cairn(
      ['--kubeconfig', testbedEnv('KUBECONFIG_B'), 'backup', 'delete', name, '--confirm'],
      env,
    );
    assert.equal(wrong.code, 1, wrong.stdout + wrong.stderr);
    assert.match(wrong.stderr, new RegExp(`backup "${name}" has 1 CSI snapshots in another cluster`));
    assert.match(wrong.stderr, new RegExp(`Backup "${name}" was not deleted`));
    await client.json({ path: contentPath(contentName) });

    const gone = await cairn(['backup', 'delete', name, '--confirm'], env);
    assert.equal(gone.code, 0, gone.stdout + gone.stderr);
    assert.match(gone.stdout, new RegExp(`Deleted 1 CSI snapshots of backup "${name}"`));
    await eventually('the snapshot content to be deleted', async () =>
      (await client.send({ method: 'GET', path: contentPath(contentName) })).status === 404
        ? true
        : undefined,
    );
  });

  it('restore the snapshot into cluster B, where the claim never was, through a content made from its handle', async (t) => {
    // The testbed's clusters reach one storage system (as two clusters in one cloud account do): the
    // handle recorded in cluster A is a snapshot cluster B's driver can make a volume from.
    const env = await home(t);
    const ns = await testNamespace(t, client, 'csimig');
    await appWithClaim(ns);
    const before = await checksums(ns);
    const name = `csimig-${uniqueSuffix()}`;
    const clientB = clusterClient('b');
    t.after(() => cleanUpInB(clientB, env, ns, name));
    const made = await cairn(
      ['backup', 'create', name, '--include-namespaces', ns, '--snapshot-volumes', '-o', 'json'],
      env,
    );
    assert.equal(made.code, 0, made.stdout + made.stderr + (await failureDetails(made, name, env)));
    assert.equal((JSON.parse(made.stdout) as BackupJson).status.csiVolumeSnapshotsCompleted, 1);

    const restored = await cairn(['restore', 'create', `r-${name}`, '--from-backup', name, '-o', 'json'], {
      ...env,
      KUBECONFIG: testbedEnv('KUBECONFIG_B'),
    });
    assert.equal(restored.code, 0, restored.stdout + restored.stderr);
    assert.equal((JSON.parse(restored.stdout) as { status: { phase: string } }).status.phase, 'Completed');
    const claim = await clientB.json<{ spec: { dataSource?: { kind: string } } }>({
      path: `/api/v1/namespaces/${ns}/persistentvolumeclaims/data`,
    });
    assert.equal(claim.spec.dataSource?.kind, 'VolumeSnapshot');
    await waitForPodReady(clientB, ns, 'app');
    assert.equal(await checksums(ns, 'b'), before);
    // The VolumeSnapshot and content made in cluster B go once the claim is bound; cluster A's content,
    // the backup's, stays until the backup is deleted.
    await eventually('the restore to release its VolumeSnapshot in cluster B', async () =>
      (
        await clientB.json<{ items: unknown[] }>({
          path: `/apis/snapshot.storage.k8s.io/v1/namespaces/${ns}/volumesnapshots`,
        })
      ).items.length === 0
        ? true
        : undefined,
    );
  });

  it("move a snapshot's data into the repository, delete the snapshot, and restore the claim from the moved data in cluster B", async (t) => {
    const env = await home(t);
    const ns = await testNamespace(t, client, 'csimove');
    await appWithClaim(ns);
    const before = await checksums(ns);
    const name = `csimove-${uniqueSuffix()}`;
    const clientB = clusterClient('b');
    t.after(() => cleanUpInB(clientB, env, ns, name));
    const made = await cairn(
      [
        'backup',
        'create',
        name,
        '--include-namespaces',
        ns,
        // Moving snapshot data takes the snapshots: no --snapshot-volumes needed.
        '--snapshot-move-data',
        '--node-agent',
        'local',
        '--kubelet-root',
        testbedNode('a').rootDir,
        '--helper-image',
        TESTBED_IMAGES.busybox,
        '-o',
        'json',
      ],
      env,
    );
    assert.equal(made.code, 0, made.stdout + made.stderr + (await failureDetails(made, name, env)));
    const backup = JSON.parse(made.stdout) as BackupJson & {
      status: {
        podVolumeBackups?: { completed: number };
        snapshotDataMoves?: {
          attempted: number;
          completed: number;
          failed: number;
          bytes: number;
          seconds?: number;
        };
      };
    };
    assert.equal(backup.status.phase, 'Completed');
    assert.equal(backup.status.csiVolumeSnapshotsCompleted, 1);
    assert.equal(backup.status.podVolumeBackups?.completed, 1);
    const moves = backup.status.snapshotDataMoves;
    assert.deepEqual(
      { ...moves, bytes: (moves?.bytes ?? 0) > 2_000_000, seconds: (moves?.seconds ?? 0) > 0 },
      { attempted: 1, completed: 1, failed: 0, bytes: true, seconds: true },
    );
    // The snapshot is gone (its data is in the repository), and so is everything the mover made.
    await eventually('the moved snapshot and the mover objects to be deleted', async () => {
      const contents = await client.json<{ items: { spec: { volumeSnapshotRef: { namespace: string } } }[] }>(
        {
          path: '/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents',
        },
      );
      const pods = await client.json<{ items: KubeObject[] }>({ path: `/api/v1/namespaces/${ns}/pods` });
      const claims = await client.json<{ items: KubeObject[] }>({
        path: `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
      });
      return contents.items.every((c) => c.spec.volumeSnapshotRef.namespace !== ns) &&
        (await snapshotsIn(ns)).length === 0 &&
        pods.items.map((p) => p.metadata.name).join() === 'app' &&
        claims.items.map((c) => c.metadata.name).join() === 'data'
        ? true
        : undefined;
    });
    const described = await cairn(['backup', 'describe', name, '--details'], env);
    assert.match(
      described.stdout,
      /^Snapshot data moved into the repositories:\n {2}Attempted: +1\n {2}Completed: +1\n {2}Failed: +0$/m,
    );
    assert.match(
      described.stdout,
      new RegExp(
        `^ {2}${ns}/app/data \\(claim data\\): Completed: data moved from CSI snapshot snap-[0-9a-f]+, snapshot [0-9a-f]{8}`,
        'm',
      ),
    );
    assert.match(
      described.stdout,
      new RegExp(
        `^ {2}claim ${ns}/data: snapshot, chosen by snapshotMoveData: .*its data moved into the repository$`,
        'm',
      ),
    );

    // Cluster B has no such snapshot (a restore from it would need the storage): the moved data fills the
    // claim through the pod that mounts it.
    const restored = await cairn(
      [
        'restore',
        'create',
        `r-${name}`,
        '--from-backup',
        name,
        '--node-agent',
        'local',
        '--kubelet-root',
        testbedNode('b').rootDir,
        '--restore-helper-image',
        TESTBED_IMAGES.busybox,
        '-o',
        'json',
      ],
      { ...env, KUBECONFIG: testbedEnv('KUBECONFIG_B') },
    );
    assert.equal(restored.code, 0, restored.stdout + restored.stderr);
    assert.equal((JSON.parse(restored.stdout) as { status: { phase: string } }).status.phase, 'Completed');
    const claim = await clientB.json<{ spec: { dataSource?: unknown } }>({
      path: `/api/v1/namespaces/${ns}/persistentvolumeclaims/data`,
    });
    assert.equal(claim.spec.dataSource, undefined);
    await waitForPodReady(clientB, ns, 'app');
    assert.equal(await checksums(ns, 'b'), before);

    // Deleting the backup (as its TTL does) forgets the moved data in the repository.
    const gone = await cairn(['backup', 'delete', name, '--confirm'], env);
    assert.equal(gone.code, 0, gone.stdout + gone.stderr);
    assert.match(
      gone.stdout,
      new RegExp(`Forgot 1 volume snapshots of backup "${name}" in repository restic/${ns}/`),
    );
  });

  it('fail a snapshot that is not ready in time, naming the claim, and leave nothing behind', async (t) => {
    const env = await home(t);
    const ns = await testNamespace(t, client, 'csislow');
    await appWithClaim(ns);
    // With a 1 ms timeout the first look at the VolumeSnapshot decides; on a loaded machine the driver can
    // finish before the backup first looks, and a snapshot seen ready is not late. Such a run is made
    // again (at most three in all), and the snapshot it took is its backup's, deleted with it.
    let name = '';
    let made = { code: 0, stdout: '', stderr: '' };
    for (let attempt = 1; attempt <= 3; attempt++) {
      name = `csislow-${uniqueSuffix()}`;
      made = await cairn(
        [
          'backup',
          'create',
          name,
          '--include-namespaces',
          ns,
          '--snapshot-volumes',
          '--csi-snapshot-timeout',
          '1ms',
          '-o',
          'json',
        ],
        env,
      );
      if ((JSON.parse(made.stdout) as BackupJson).status.phase !== 'Completed') break;
      t.diagnostic(`attempt ${attempt}: the snapshot was ready at the first look; trying again`);
      const removed = await cairn(['backup', 'delete', name, '--confirm'], env);
      assert.equal(removed.code, 0, removed.stderr);
    }
    const backup = JSON.parse(made.stdout) as BackupJson;
    assert.equal(backup.status.phase, 'PartiallyFailed', made.stderr);
    assert.equal(backup.status.csiVolumeSnapshotsAttempted, 1);
    assert.equal(backup.status.csiVolumeSnapshotsCompleted, 0);
    const described = await cairn(['backup', 'describe', name], env);
    assert.match(
      described.stdout,
      /claim data: its VolumeSnapshot cairn-[0-9a-f]+ was not ready within 0 s \(--csi-snapshot-timeout\)/,
    );
    // Cairn deleted what it made before it returned, once the driver had answered the cut (deleted while
    // the sidecar still writes the content, the content can stay in deletion for good): the VolumeSnapshot
    // is gone or being deleted, and the snapshot controller and the CSI sidecar finish.
    for (const snapshot of await snapshotsIn(ns))
      assert.ok(
        snapshot.metadata.deletionTimestamp,
        `VolumeSnapshot ${snapshot.metadata.name} is not being deleted`,
      );
    let last: KubeObject[] = [];
    await eventually(
      'the unready VolumeSnapshot to be deleted',
      async () => {
        last = await snapshotsIn(ns);
        return last.length === 0 ? true : undefined;
      },
      180_000,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; still there: ${JSON.stringify(last)}`, { cause: error });
    });
  });
});

/** A failed backup's errors and log (describe --details, logs), for the assertion's message. */
async function failureDetails(
  made: { code: number },
  name: string,
  env: Record<string, string | undefined>,
): Promise<string> {
  if (made.code === 0) return '';
  const describe = await cairn(['backup', 'describe', name, '--details'], env);
  const logs = await cairn(['backup', 'logs', name], env);
  return `\n--- describe --details\n${describe.stdout}${describe.stderr}\n--- logs\n${logs.stdout.split('\n').slice(-40).join('\n')}`;
}
