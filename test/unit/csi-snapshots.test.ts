// The records of CSI snapshots as a backup stores them (Velero's two files: VolumeSnapshots and their
// VolumeSnapshotContents), read back for a restore; and the claim a restore makes from a snapshot. Taking,
// restoring and deleting snapshots on the real CSI driver is in test/e2e/csi-snapshots.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../src/kube/index.ts';
import { claimFromSnapshot, snapshotRecords } from '../../src/volumes/index.ts';

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
        ],
        [content('snapcontent-a', 'snap-0abc'), content('snapcontent-b', undefined)],
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
    const sized = claimFromSnapshot(
      { ...claim, spec: { resources: { requests: { storage: '5Gi' } } } },
      'cairn-restore-1',
      '1Gi',
    );
    assert.deepEqual((sized.spec as { resources: unknown }).resources, { requests: { storage: '5Gi' } });
  });
});
