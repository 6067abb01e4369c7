import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../src/kube/index.ts';
import { selectPodVolumes, volumeDirOf } from '../../src/volumes/index.ts';

function pod(annotations: Record<string, string>, volumes: Record<string, unknown>[]): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'db-0', namespace: 'shop', uid: 'u1', annotations },
    spec: { volumes },
  };
}

const VOLUMES = [
  { name: 'data', persistentVolumeClaim: { claimName: 'data-db-0' } },
  { name: 'scratch', emptyDir: {} },
  { name: 'config', configMap: { name: 'db-config' } },
  { name: 'creds', secret: { secretName: 'db' } },
  { name: 'token', projected: { sources: [] } },
  { name: 'info', downwardAPI: { items: [] } },
  { name: 'host', hostPath: { path: '/var/log' } },
  { name: 'cache', ephemeral: { volumeClaimTemplate: {} } },
  { name: 'inline', csi: { driver: 'csi.example' } },
];

const optIn = { defaultVolumesToFsBackup: false, claimsIncluded: true };
const optOut = { defaultVolumesToFsBackup: true, claimsIncluded: true };

describe('pod volume selection', () => {
  it('backs up only the volumes the pod annotation names, in opt-in mode', () => {
    const selection = selectPodVolumes(
      pod({ 'backup.cairn.dev/backup-volumes': 'data, scratch' }, VOLUMES),
      optIn,
    );
    const by = 'the pod annotation backup.cairn.dev/backup-volumes';
    assert.deepEqual(selection.chosen, [
      { name: 'data', claimName: 'data-db-0', chosenBy: by },
      { name: 'scratch', chosenBy: by },
    ]);
    assert.equal(selection.skipped.length, VOLUMES.length - 2);
    assert.match(
      selection.skipped.find((s) => s.name === 'cache')?.reason ?? '',
      /not chosen.*backup-volumes/,
    );
  });

  it("honours Velero's annotations", () => {
    const selection = selectPodVolumes(pod({ 'backup.velero.io/backup-volumes': 'scratch' }, VOLUMES), optIn);
    assert.deepEqual(selection.chosen, [
      { name: 'scratch', chosenBy: 'the pod annotation backup.velero.io/backup-volumes' },
    ]);
    const out = selectPodVolumes(
      pod({ 'backup.velero.io/backup-volumes-excludes': 'data,scratch' }, VOLUMES),
      optOut,
    );
    assert.deepEqual(
      out.chosen.map((v) => v.name),
      ['cache', 'inline'],
    );
  });

  it('backs up every volume with user data in opt-out mode, except the excluded, with a reason for each', () => {
    const selection = selectPodVolumes(
      pod({ 'backup.cairn.dev/backup-volumes-excludes': 'scratch' }, VOLUMES),
      optOut,
    );
    const by = 'defaultVolumesToFsBackup';
    assert.deepEqual(selection.chosen, [
      { name: 'data', claimName: 'data-db-0', chosenBy: by },
      { name: 'cache', claimName: 'db-0-cache', chosenBy: by },
      { name: 'inline', inlineCsi: true, chosenBy: by },
    ]);
    assert.deepEqual(Object.fromEntries(selection.skipped.map((s) => [s.name, s.reason])), {
      scratch: 'excluded by the pod annotation backup.cairn.dev/backup-volumes-excludes',
      config: 'a configMap volume: restored from its ConfigMap',
      creds: 'a secret volume: restored from its Secret',
      token: 'a projected volume: restored from the objects it projects',
      info: "a downwardAPI volume: restored from the pod's own fields",
      host: "a hostPath volume: the node's files, not the pod's",
    });
  });

  it('skips volumes without user data even when the annotation names them', () => {
    const selection = selectPodVolumes(
      pod({ 'backup.cairn.dev/backup-volumes': 'creds,host' }, VOLUMES),
      optIn,
    );
    assert.deepEqual(selection.chosen, []);
    assert.match(selection.skipped.find((s) => s.name === 'host')?.reason ?? '', /hostPath/);
  });

  it('leaves out claim volumes when the backup leaves out claims', () => {
    const selection = selectPodVolumes(pod({}, VOLUMES), {
      defaultVolumesToFsBackup: true,
      claimsIncluded: false,
    });
    assert.deepEqual(
      selection.chosen.map((v) => v.name),
      ['scratch', 'inline'],
    );
    assert.equal(
      selection.skipped.find((s) => s.name === 'data')?.reason,
      'its claim data-db-0 is not in the backup',
    );
  });

  it('reports names the annotation lists that the pod has no volume of', () => {
    const selection = selectPodVolumes(
      pod({ 'backup.cairn.dev/backup-volumes': 'data,dta' }, VOLUMES),
      optIn,
    );
    assert.deepEqual(selection.unknownNames, ['dta']);
  });

  it('places volumes where the kubelet mounts them', () => {
    assert.equal(volumeDirOf({ name: 'scratch' }, undefined), 'scratch');
    assert.equal(volumeDirOf({ name: 'inline', inlineCsi: true }, undefined), 'inline/mount');
    assert.equal(volumeDirOf({ name: 'data', claimName: 'c' }, { name: 'pvc-1', csi: false }), 'pvc-1');
    assert.equal(volumeDirOf({ name: 'data', claimName: 'c' }, { name: 'pvc-2', csi: true }), 'pvc-2/mount');
    assert.throws(() => volumeDirOf({ name: 'data', claimName: 'c' }, undefined), /claim c is not bound/);
  });
});
