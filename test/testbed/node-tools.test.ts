// The Go programs the testbed's node runs (testbed/go/node-tools) and the CSI sidecars
// (testbed/go/csi-sidecars), against the testbed's real control plane. There is no kubelet here: the
// tests play the scheduler's part (the selected-node annotation) and read the volumes' directories
// directly.
//
// - `go test ./...` in the module: the CSI sanity suite (csi-test's pkg/sanity) against cairn-csi with
//   real bind mounts (as root), pause's signals and zombie reaping, the provisioner's decisions.
// - local-provisioner: a claim selected for its node gets a `local` PV and a directory; deleting the
//   claim removes both.
// - cairn-csi with csi-provisioner, csi-snapshotter and snapshot-controller, started as the node starts
//   them: a claim binds, a VolumeSnapshot becomes ready to use, and a claim made from it holds the
//   files of the first volume as they were when the snapshot was taken.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { before, describe, it, type TestContext } from 'node:test';
import { parse } from 'yaml';
import { startProcess, stopProcess, type ProcessRecord } from '../../testbed/lib/process.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { repoRoot } from '../helpers/cli.ts';
import { clusterClient, eventually, testbedEnv, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';

const run = promisify(execFile);
const moduleDir = join(repoRoot, 'testbed', 'go', 'node-tools');

/** `build.sh <component>`: builds it into the testbed cache unless it is there, and gives its directory. */
async function build(component: 'node-tools' | 'csi-sidecars'): Promise<string> {
  const { stdout } = await run('bash', [join(repoRoot, 'testbed', 'scripts', 'build.sh'), component], {
    cwd: repoRoot,
    maxBuffer: 16 * 1024 * 1024,
  });
  const line = stdout.split('\n').find((l) => l.startsWith(`${component}=`));
  if (!line) throw new Error(`build.sh ${component} printed no ${component}=<dir> line: ${stdout}`);
  return line.slice(component.length + 1);
}

/** Clean-up steps of one test, run last first when it ends (processes stop before their files go). */
function cleanups(t: TestContext): (step: () => Promise<unknown>) => void {
  const steps: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const step of steps.reverse()) await step();
  });
  return (step) => steps.push(step);
}

/** A process started for one test and stopped by its pid when the test ends; logs in `dir`. */
function start(
  defer: (step: () => Promise<unknown>) => void,
  dir: string,
  name: string,
  command: string,
  args: string[],
): ProcessRecord {
  const record = startProcess({ name, command, args, log: join(dir, `${name}.log`) });
  defer(() => stopProcess(record));
  return record;
}

function logTail(record: ProcessRecord, lines = 20): string {
  try {
    return readFileSync(record.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Waits as `eventually` does; a timeout says what the processes logged last. */
async function eventuallyWithLogs<T>(
  what: string,
  processes: ProcessRecord[],
  probe: () => Promise<T | undefined>,
): Promise<T> {
  try {
    return await eventually(what, probe, 120_000);
  } catch (error) {
    const logs = processes.map((p) => `--- ${p.name} (${p.log}):\n${logTail(p)}`).join('\n');
    throw new Error(`${(error as Error).message}\n${logs}`, { cause: error });
  }
}

interface Claim {
  metadata: { uid: string };
  spec: { volumeName?: string };
  status?: { phase?: string };
}
interface Volume {
  metadata: { annotations?: Record<string, string> };
  spec: {
    capacity: { storage: string };
    local?: { path: string };
    csi?: { driver: string; volumeHandle: string };
    claimRef?: { uid?: string; name?: string };
    persistentVolumeReclaimPolicy: string;
    nodeAffinity?: {
      required?: { nodeSelectorTerms: { matchExpressions: { key: string; values: string[] }[] }[] };
    };
  };
}

/** The claim's volume once the claim is Bound. */
async function boundVolume(
  client: KubeClient,
  namespace: string,
  name: string,
  processes: ProcessRecord[],
): Promise<{ claim: Claim; volume: Volume; volumeName: string }> {
  const claim = await eventuallyWithLogs(`claim ${namespace}/${name} to be bound`, processes, async () => {
    const c = await client.json<Claim>({
      path: `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${name}`,
    });
    return c.status?.phase === 'Bound' && c.spec.volumeName ? c : undefined;
  });
  const volumeName = claim.spec.volumeName ?? '';
  const volume = await client.json<Volume>({ path: `/api/v1/persistentvolumes/${volumeName}` });
  return { claim, volume, volumeName };
}

async function gone(client: KubeClient, path: string): Promise<true | undefined> {
  return (await client.send({ path })).status === 404 ? true : undefined;
}

describe('the testbed node tools (testbed/go/node-tools, testbed/go/csi-sidecars)', () => {
  it(
    'pass their Go tests (`go test ./...`: the CSI sanity suite, pause, the provisioner)',
    { timeout: 30 * 60_000 },
    async (t) => {
      const go = spawnSync('go', ['version'], { encoding: 'utf8' });
      if ((go.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
        const reason = 'go is not on PATH: the Go tests of testbed/go/node-tools need the Go toolchain';
        console.log(`skipped: ${reason}`);
        t.skip(reason);
        return;
      }
      const result = await run('go', ['test', '-count=1', './...'], {
        cwd: moduleDir,
        maxBuffer: 64 * 1024 * 1024,
      }).catch((error: { stdout?: string; stderr?: string; message: string }) => {
        assert.fail(
          `go test ./... failed in ${moduleDir}:\n${error.stdout ?? ''}${error.stderr ?? error.message}`,
        );
      });
      // Each package passed: an `ok` line for every package with tests.
      for (const pkg of ['cmd/pause', 'internal/csidriver', 'internal/localprovisioner']) {
        assert.match(result.stdout, new RegExp(`^ok\\s+cairn\\.dev/testbed/node-tools/${pkg}\\s`, 'm'));
      }
    },
  );

  describe('against the testbed', () => {
    let nodeTools: string;
    let sidecars: string;
    before(async () => {
      nodeTools = await build('node-tools');
      sidecars = await build('csi-sidecars');
    });

    it('local-provisioner makes a local volume for a claim selected for its node, and removes it with the claim', async (t) => {
      const client = clusterClient('a');
      const namespace = await testNamespace(t, client, 'local-pv');
      const suffix = uniqueSuffix();
      const provisioner = `testbed.cairn.dev/local-${suffix}`;
      const node = `node-${suffix}`;
      const work = await mkdtemp(join(tmpdir(), 'local-provisioner-'));
      const baseDir = join(work, 'volumes');
      await mkdir(baseDir);
      const className = `local-${suffix}`;
      const defer = cleanups(t);
      defer(() => rm(work, { recursive: true, force: true }));
      defer(() =>
        client.send({ method: 'DELETE', path: `/apis/storage.k8s.io/v1/storageclasses/${className}` }),
      );
      const proc = start(defer, work, 'local-provisioner', join(nodeTools, 'local-provisioner'), [
        '--kubeconfig',
        testbedEnv('KUBECONFIG'),
        '--provisioner-name',
        provisioner,
        '--node-name',
        node,
        '--base-dir',
        baseDir,
      ]);

      await client.json({
        method: 'POST',
        path: '/apis/storage.k8s.io/v1/storageclasses',
        body: {
          metadata: { name: className },
          provisioner,
          volumeBindingMode: 'WaitForFirstConsumer',
          reclaimPolicy: 'Delete',
        },
      });
      // What the scheduler does when it places the claim's first pod on the node.
      await client.json({
        method: 'POST',
        path: `/api/v1/namespaces/${namespace}/persistentvolumeclaims`,
        body: {
          metadata: { name: 'data', annotations: { 'volume.kubernetes.io/selected-node': node } },
          spec: {
            storageClassName: className,
            accessModes: ['ReadWriteOnce'],
            resources: { requests: { storage: '2Gi' } },
          },
        },
      });

      const { claim, volume, volumeName } = await boundVolume(client, namespace, 'data', [proc]);
      const dir = join(baseDir, volumeName);
      assert.equal(volume.spec.local?.path, dir);
      assert.equal(volume.spec.capacity.storage, '2Gi');
      assert.equal(volume.spec.claimRef?.uid, claim.metadata.uid);
      assert.equal(volume.spec.persistentVolumeReclaimPolicy, 'Delete');
      assert.equal(volume.metadata.annotations?.['pv.kubernetes.io/provisioned-by'], provisioner);
      assert.deepEqual(volume.spec.nodeAffinity?.required?.nodeSelectorTerms[0]?.matchExpressions, [
        { key: 'kubernetes.io/hostname', operator: 'In', values: [node] },
      ]);
      assert.ok(statSync(dir).isDirectory(), `the volume's directory ${dir} exists`);
      await writeFile(join(dir, 'file'), 'data');

      await client.ok({
        method: 'DELETE',
        path: `/api/v1/namespaces/${namespace}/persistentvolumeclaims/data`,
      });
      await eventuallyWithLogs(`volume ${volumeName} to be deleted`, [proc], () =>
        gone(client, `/api/v1/persistentvolumes/${volumeName}`),
      );
      assert.equal(existsSync(dir), false, `the volume's directory ${dir} is removed`);
    });

    it('cairn-csi with csi-provisioner, csi-snapshotter and snapshot-controller: a claim binds, a snapshot of it becomes ready, and a claim from the snapshot holds its files', async (t) => {
      const client = clusterClient('a');
      const kubeconfig = testbedEnv('KUBECONFIG');
      const namespace = await testNamespace(t, client, 'csi');
      const suffix = uniqueSuffix();
      // A driver name of the test's own, so that a node's own cairn-csi in the cluster is not disturbed.
      const driver = `csi-${suffix}.testbed.cairn.dev`;
      const className = `cairn-csi-${suffix}`;
      // Short: a unix socket's path holds at most 107 bytes.
      const work = await mkdtemp('/tmp/cairn-csi-');
      const socket = join(work, 'csi.sock');
      const dataDir = join(work, 'data');
      const ns = `/api/v1/namespaces/${namespace}`;
      const snapshots = `/apis/snapshot.storage.k8s.io/v1/namespaces/${namespace}/volumesnapshots`;
      const defer = cleanups(t);
      defer(() => rm(work, { recursive: true, force: true }));
      defer(async () => {
        for (const path of [
          `/apis/snapshot.storage.k8s.io/v1/volumesnapshotclasses/${className}`,
          `/apis/storage.k8s.io/v1/storageclasses/${className}`,
          `/apis/storage.k8s.io/v1/csidrivers/${driver}`,
        ]) {
          await client.send({ method: 'DELETE', path });
        }
      });

      // The snapshot CRDs first: csi-snapshotter leaves out group snapshots when their CRDs are missing
      // at its start. Other tests (and a node) may have applied them already.
      for (const file of (await readdir(join(sidecars, 'crds'))).sort()) {
        const crd = parse(readFileSync(join(sidecars, 'crds', file), 'utf8')) as {
          metadata: { name: string };
        };
        const created = await client.send({
          method: 'POST',
          path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
          body: crd,
        });
        assert.ok(created.status === 201 || created.status === 409, `creating ${file}: ${created.status}`);
        await eventually(`CRD ${crd.metadata.name} to be established`, async () => {
          const c = await client.json<{ status?: { conditions?: { type: string; status: string }[] } }>({
            path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
          });
          return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True')
            ? true
            : undefined;
        });
      }

      // Started as the node starts them (testbed/README.md, "CSI").
      const csi = start(defer, work, 'cairn-csi', join(nodeTools, 'cairn-csi'), [
        '--endpoint',
        `unix://${socket}`,
        '--driver-name',
        driver,
        '--node-id',
        `node-${suffix}`,
        '--data-dir',
        dataDir,
      ]);
      await eventuallyWithLogs('the CSI socket', [csi], () =>
        Promise.resolve(existsSync(socket) ? true : undefined),
      );
      const processes = [
        csi,
        start(defer, work, 'csi-provisioner', join(sidecars, 'csi-provisioner'), [
          `--csi-address=${socket}`,
          `--kubeconfig=${kubeconfig}`,
        ]),
        start(defer, work, 'csi-snapshotter', join(sidecars, 'csi-snapshotter'), [
          `--csi-address=${socket}`,
          `--kubeconfig=${kubeconfig}`,
        ]),
        // One snapshot controller serves a whole cluster: under leader election in kube-system, this
        // one and a node's own take turns instead of both acting.
        start(defer, work, 'snapshot-controller', join(sidecars, 'snapshot-controller'), [
          `--kubeconfig=${kubeconfig}`,
          '--leader-election=true',
          '--leader-election-namespace=kube-system',
        ]),
      ];

      await client.json({
        method: 'POST',
        path: '/apis/storage.k8s.io/v1/csidrivers',
        body: {
          metadata: { name: driver },
          spec: { attachRequired: false, podInfoOnMount: false, volumeLifecycleModes: ['Persistent'] },
        },
      });
      await client.json({
        method: 'POST',
        path: '/apis/storage.k8s.io/v1/storageclasses',
        body: {
          metadata: { name: className },
          provisioner: driver,
          volumeBindingMode: 'Immediate',
          reclaimPolicy: 'Delete',
        },
      });
      await client.json({
        method: 'POST',
        path: '/apis/snapshot.storage.k8s.io/v1/volumesnapshotclasses',
        body: {
          apiVersion: 'snapshot.storage.k8s.io/v1',
          kind: 'VolumeSnapshotClass',
          metadata: { name: className },
          driver,
          deletionPolicy: 'Delete',
        },
      });
      const claim = (name: string, dataSource?: object) => ({
        metadata: { name },
        spec: {
          storageClassName: className,
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: '1Gi' } },
          ...(dataSource ? { dataSource } : {}),
        },
      });

      await client.json({ method: 'POST', path: `${ns}/persistentvolumeclaims`, body: claim('source') });
      const source = await boundVolume(client, namespace, 'source', processes);
      assert.equal(source.volume.spec.csi?.driver, driver);
      const sourceDir = join(dataDir, 'volumes', source.volume.spec.csi?.volumeHandle ?? '');
      await mkdir(join(sourceDir, 'sub'));
      await writeFile(join(sourceDir, 'sub', 'file.txt'), 'before the snapshot');
      await chmod(join(sourceDir, 'sub', 'file.txt'), 0o640);

      await client.json({
        method: 'POST',
        path: snapshots,
        body: {
          apiVersion: 'snapshot.storage.k8s.io/v1',
          kind: 'VolumeSnapshot',
          metadata: { name: 'snap' },
          spec: { volumeSnapshotClassName: className, source: { persistentVolumeClaimName: 'source' } },
        },
      });
      const snapshot = await eventuallyWithLogs(
        'the VolumeSnapshot to be ready to use',
        processes,
        async () => {
          const s = await client.json<{ status?: { readyToUse?: boolean; restoreSize?: string } }>({
            path: `${snapshots}/snap`,
          });
          return s.status?.readyToUse === true ? s : undefined;
        },
      );
      assert.equal(snapshot.status?.restoreSize, '1Gi');
      // The snapshot is a copy: what the volume gets later is not in it.
      await writeFile(join(sourceDir, 'sub', 'file.txt'), 'after the snapshot');

      await client.json({
        method: 'POST',
        path: `${ns}/persistentvolumeclaims`,
        body: claim('restored', {
          apiGroup: 'snapshot.storage.k8s.io',
          kind: 'VolumeSnapshot',
          name: 'snap',
        }),
      });
      const restored = await boundVolume(client, namespace, 'restored', processes);
      const restoredFile = join(
        dataDir,
        'volumes',
        restored.volume.spec.csi?.volumeHandle ?? '',
        'sub',
        'file.txt',
      );
      assert.equal(readFileSync(restoredFile, 'utf8'), 'before the snapshot');
      assert.equal(statSync(restoredFile).mode & 0o777, 0o640);

      // Deleting the snapshot and the claims deletes the copies and the volumes (reclaim policy and
      // deletion policy Delete), while the sidecars still run.
      await client.ok({ method: 'DELETE', path: `${snapshots}/snap` });
      for (const name of ['source', 'restored']) {
        await client.ok({ method: 'DELETE', path: `${ns}/persistentvolumeclaims/${name}` });
      }
      for (const { volumeName } of [source, restored]) {
        await eventuallyWithLogs(`volume ${volumeName} to be deleted`, processes, () =>
          gone(client, `/api/v1/persistentvolumes/${volumeName}`),
        );
      }
      await eventuallyWithLogs('the snapshot copy to be deleted', processes, async () =>
        (await readdir(join(dataDir, 'snapshots'))).length === 0 ? true : undefined,
      );
      assert.deepEqual(await readdir(join(dataDir, 'volumes')), []);
    });
  });
});
