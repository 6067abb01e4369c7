// The testbed's real node: a kubelet with containerd and runc runs pods; their volumes are on the host
// where a node agent will read them; `kubectl logs` and `exec` go through the API server to the kubelet;
// PVCs bind on the local and the CSI storage classes, and CSI snapshots restore.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { clusterClient, eventually, testNamespace } from '../helpers/testbed.ts';
import { TESTBED_STORAGE, busyboxPod, kubectl, testbedNode, waitForPodReady } from '../helpers/node.ts';

// The suite's shared testbed runs without nodes unless started with `up --node` (the restore tests compare
// Endpoints that a node fills with pod addresses); test/testbed/lifecycle.test.ts always runs a node.
const node = (() => {
  try {
    testbedNode('a');
    return true;
  } catch {
    return false;
  }
})();
const skip = node
  ? false
  : 'the running testbed has no node: start it with `npm run -s testbed -- up --clusters 2 --node`';

describe('the testbed node', { skip }, () => {
  it('runs a pod whose emptyDir is on the host, and execs into it and reads its logs', async (t) => {
    const client = clusterClient('a');
    const ns = await testNamespace(t, client, 'node');
    const node = testbedNode('a');
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/pods`,
      body: busyboxPod({
        name: 'writer',
        script: 'echo written-by-the-pod > /scratch/from-pod.txt; echo the pod started; exec sleep 3600',
        volumes: { scratch: { emptyDir: {} } },
      }),
    });
    const pod = await waitForPodReady(client, ns, 'writer');
    assert.equal(pod.spec.nodeName, node.name);

    const volume = join(
      node.rootDir,
      'pods',
      pod.metadata.uid,
      'volumes',
      'kubernetes.io~empty-dir',
      'scratch',
    );
    const file = join(volume, 'from-pod.txt');
    const fromPod = await eventually('the pod file on the host', () =>
      Promise.resolve(existsSync(file) ? readFileSync(file, 'utf8') : undefined),
    );
    assert.equal(fromPod, 'written-by-the-pod\n');

    writeFileSync(join(volume, 'from-host.txt'), 'written-by-the-host\n');
    const exec = await kubectl(['exec', '-n', ns, 'writer', '--', 'cat', '/scratch/from-host.txt']);
    assert.equal(exec.code, 0, exec.stderr);
    assert.equal(exec.stdout, 'written-by-the-host\n');

    const failing = await kubectl(['exec', '-n', ns, 'writer', '--', 'sh', '-c', 'exit 7']);
    assert.equal(failing.code, 7, 'the exit code of the command comes back through exec');

    const logs = await kubectl(['logs', '-n', ns, 'writer']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, 'the pod started\n');
  });

  for (const storageClass of [TESTBED_STORAGE.localClass, TESTBED_STORAGE.csiClass]) {
    it(`binds a claim of storage class ${storageClass} and mounts it in a pod`, async (t) => {
      const client = clusterClient('a');
      const ns = await testNamespace(t, client, 'pvc');
      await client.json({
        method: 'POST',
        path: `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
        body: {
          metadata: { name: 'data' },
          spec: {
            storageClassName: storageClass,
            accessModes: ['ReadWriteOnce'],
            resources: { requests: { storage: '64Mi' } },
          },
        },
      });
      await client.json({
        method: 'POST',
        path: `/api/v1/namespaces/${ns}/pods`,
        body: busyboxPod({
          name: 'app',
          script: 'echo kept > /data/kept.txt; exec sleep 3600',
          volumes: { data: { persistentVolumeClaim: { claimName: 'data' } } },
        }),
      });
      const pod = await waitForPodReady(client, ns, 'app');
      const claim = await client.json<{ status: { phase: string }; spec: { volumeName: string } }>({
        method: 'GET',
        path: `/api/v1/namespaces/${ns}/persistentvolumeclaims/data`,
      });
      assert.equal(claim.status.phase, 'Bound');
      const plugin =
        storageClass === TESTBED_STORAGE.localClass ? 'kubernetes.io~local-volume' : 'kubernetes.io~csi';
      const mounted = join(
        testbedNode('a').rootDir,
        'pods',
        pod.metadata.uid,
        'volumes',
        plugin,
        claim.spec.volumeName,
        ...(plugin === 'kubernetes.io~csi' ? ['mount'] : []),
      );
      const read = await kubectl(['exec', '-n', ns, 'app', '--', 'cat', '/data/kept.txt']);
      assert.equal(read.stdout, 'kept\n', read.stderr);
      assert.equal(readFileSync(join(mounted, 'kept.txt'), 'utf8'), 'kept\n', `the volume is at ${mounted}`);
    });
  }

  it('takes a CSI VolumeSnapshot that becomes readyToUse, and a claim made from it holds the data', async (t) => {
    const client = clusterClient('a');
    const ns = await testNamespace(t, client, 'snap');
    const claim = (name: string, dataSource?: Record<string, string>) => ({
      metadata: { name },
      spec: {
        storageClassName: TESTBED_STORAGE.csiClass,
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: '64Mi' } },
        ...(dataSource ? { dataSource } : {}),
      },
    });
    const post = (resource: string, body: unknown, group = '/api/v1') =>
      client.json({ method: 'POST', path: `${group}/namespaces/${ns}/${resource}`, body });
    await post('persistentvolumeclaims', claim('source'));
    await post(
      'pods',
      busyboxPod({
        name: 'writer',
        script: 'echo before-the-snapshot > /data/file.txt; sync; exec sleep 3600',
        volumes: { data: { persistentVolumeClaim: { claimName: 'source' } } },
      }),
    );
    await waitForPodReady(client, ns, 'writer');
    const written = await kubectl(['exec', '-n', ns, 'writer', '--', 'cat', '/data/file.txt']);
    assert.equal(written.stdout, 'before-the-snapshot\n', written.stderr);

    await post(
      'volumesnapshots',
      {
        apiVersion: 'snapshot.storage.k8s.io/v1',
        kind: 'VolumeSnapshot',
        metadata: { name: 'snap' },
        spec: {
          volumeSnapshotClassName: TESTBED_STORAGE.snapshotClass,
          source: { persistentVolumeClaimName: 'source' },
        },
      },
      '/apis/snapshot.storage.k8s.io/v1',
    );
    const snapshot = await eventually('the VolumeSnapshot readyToUse', async () => {
      const s = await client.json<{
        status?: { readyToUse?: boolean; boundVolumeSnapshotContentName?: string };
      }>({
        method: 'GET',
        path: `/apis/snapshot.storage.k8s.io/v1/namespaces/${ns}/volumesnapshots/snap`,
      });
      return s.status?.readyToUse === true ? s : undefined;
    });
    assert.ok(snapshot.status?.boundVolumeSnapshotContentName, 'bound to a VolumeSnapshotContent');

    // A change after the snapshot is not in the restored claim.
    await kubectl(['exec', '-n', ns, 'writer', '--', 'sh', '-c', 'echo after > /data/file.txt']);
    await post(
      'persistentvolumeclaims',
      claim('restored', { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'snap' }),
    );
    await post(
      'pods',
      busyboxPod({
        name: 'reader',
        script: 'exec sleep 3600',
        volumes: { data: { persistentVolumeClaim: { claimName: 'restored' } } },
      }),
    );
    await waitForPodReady(client, ns, 'reader');
    const restored = await kubectl(['exec', '-n', ns, 'reader', '--', 'cat', '/data/file.txt']);
    assert.equal(restored.stdout, 'before-the-snapshot\n', restored.stderr);
  });

  it('gives each cluster a node of its own, on networks of their own', () => {
    const [a, b] = [testbedNode('a'), testbedNode('b')];
    assert.notEqual(a.name, b.name);
    assert.notEqual(a.nodeIp, b.nodeIp);
    assert.notEqual(a.bridge, b.bridge);
    assert.notEqual(a.cgroupRoot, b.cgroupRoot);
  });
});
