// The records of CSI snapshots as a backup stores them (Velero's two files: VolumeSnapshots and their
// VolumeSnapshotContents), read back for a restore; and the claim a restore makes from a snapshot. Taking,
// restoring and deleting snapshots on the real CSI driver is in test/e2e/csi-snapshots.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../src/kube/index.ts';
import { claimFromSnapshot, quantityBytes, snapshotRecords } from '../../src/volumes/index.ts';

const snapshot = (name: string, claim: string, content: string): KubeObject => ({
  apiVersion: 'snapshot.storage.k8s.io/v1',
  kind: 'VolumeSnapshot',
  metadata: { name, namespace: 'shop', annotations: { 'cairn.dev/persistent-volume': `pv-${claim}` } },
  spec: { source: { persistentVolumeClaimName: claim }, volumeSnapshotClassName: 'fast-snap' },
  status: { boundVolumeSnapshotContentName: content, readyToUse: true, restoreSize: '1Gi' },
});
const content = (name: string, handle: string | undefined): KubeObject => ({
  apiVersion: 'snapshot.storage.k8s.io/v1',
  kind: 'VolumeSnapshotContent',
  metadata: { name },
  spec: { deletionPolicy: 'Retain', driver: 'ebs.csi.aws.com', source: { volumeHandle: 'vol-1' } },
  status: handle ? { snapshotHandle: handle, readyToUse: true } : {},
});

describe('CSI snapshot records', () => {
  it('pair each VolumeSnapshot with its content, and leave out one without a content or a handle', () => {
    assert.deepEqual(
      snapshotRecords(
        [
          snapshot('a', 'data', 'snapcontent-a'),
          snapshot('b', 'logs', 'snapcontent-b'),
          snapshot('c', 'tmp', 'gone'),
          null as unknown as KubeObject,
        ],
        [
          content('snapcontent-a', 'snap-0abc'),
          content('snapcontent-b', undefined),
          null as unknown as KubeObject,
        ],
      ),
      [
        {
          namespace: 'shop',
          claim: 'data',
          volume: 'pv-data',
          driver: 'ebs.csi.aws.com',
          className: 'fast-snap',
          contentName: 'snapcontent-a',
          snapshotHandle: 'snap-0abc',
          restoreSize: '1Gi',
          clusterId: undefined,
        },
      ],
    );
  });

  it('make the claim from the snapshot: its dataSource, no volume name, at least the snapshot size', () => {
    const claim: KubeObject = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: 'shop' },
      spec: {
        volumeName: 'pv-data',
        storageClassName: 'fast',
        dataSourceRef: { kind: 'PersistentVolumeClaim', name: 'old' },
        resources: { requests: {} },
      },
    };
    const made = claimFromSnapshot(claim, 'cairn-restore-1', '1Gi');
    assert.deepEqual(made.spec, {
      storageClassName: 'fast',
      dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'cairn-restore-1' },
      resources: { requests: { storage: '1Gi' } },
    });
    assert.equal((claim.spec as { volumeName?: string }).volumeName, 'pv-data', 'the claim given is kept');
    const sized = (request: string, restoreSize: string) =>
      claimFromSnapshot(
        {
          ...claim,
          spec: { selector: { matchLabels: { a: 'b' } }, resources: { requests: { storage: request } } },
        },
        'cairn-restore-1',
        restoreSize,
      ).spec as { resources: { requests: { storage: string } }; selector?: unknown };
    // The larger of the request and the snapshot's size (the provisioner refuses a smaller claim).
    assert.equal(sized('5Gi', '1Gi').resources.requests.storage, '5Gi');
    assert.equal(sized('1G', '1Gi').resources.requests.storage, '1Gi');
    assert.equal(sized('2000Mi', '2Gi').resources.requests.storage, '2Gi');
    assert.equal(sized('2048Mi', '2Gi').resources.requests.storage, '2048Mi');
    assert.equal(sized('5Gi', '1Gi').selector, undefined, 'a claim made from a snapshot selects no volume');
  });

  it('read sizes as Kubernetes writes them', () => {
    assert.equal(quantityBytes('1Gi'), 2 ** 30);
    assert.equal(quantityBytes('500M'), 5e8);
    assert.equal(quantityBytes('1.5Ki'), 1536);
    assert.equal(quantityBytes('1073741824'), 2 ** 30);
    assert.equal(quantityBytes('1 gigabyte'), undefined);
  });
});
