// What the restore decides for an item that may already be live: the same pure decision in a dry run and
// in a real restore (src/restore/decide.ts), with the fields the API will not change in place
// (src/restore/immutable.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../src/kube/index.ts';
import { decide, type ConflictPolicy } from '../../src/restore/decide.ts';
import { prepareForRestore, type TransformOptions } from '../../src/restore/transform.ts';

const transform = (overrides: Partial<TransformOptions> = {}): TransformOptions => ({
  namespaceMapping: new Map(),
  storageClassMapping: new Map(),
  preserveNodePorts: false,
  restoreLabels: { 'cairn.dev/backup-name': 'nightly', 'cairn.dev/restore-name': 'r-1' },
  ...overrides,
});

/** What the API server adds to an object it stores. */
const stored = (object: KubeObject, extra: Record<string, unknown> = {}): KubeObject => ({
  ...structuredClone(object),
  metadata: {
    ...structuredClone(object.metadata),
    uid: 'c0ffee00-0000-4000-8000-000000000001',
    resourceVersion: '4711',
    creationTimestamp: '2026-12-01T00:00:00Z',
    ...extra,
  },
});

/** The decision for the backed-up object `backedUp` against `live`, as the engine makes it. */
function decideFor(
  groupResource: string,
  live: KubeObject | undefined,
  backedUp: KubeObject,
  policy: ConflictPolicy,
  options = transform(),
) {
  const desired = prepareForRestore(groupResource, backedUp, options).object;
  return decide(live, desired, { groupResource, policy, transform: options });
}

const storageClass = (
  parameters: Record<string, string>,
  extra: Record<string, unknown> = {},
): KubeObject => ({
  apiVersion: 'storage.k8s.io/v1',
  kind: 'StorageClass',
  metadata: { name: 'fast' },
  provisioner: 'cairn.dev/testbed',
  parameters,
  reclaimPolicy: 'Delete',
  volumeBindingMode: 'Immediate',
  ...extra,
});
const SC = 'storageclasses.storage.k8s.io';

const nodePortService = (annotations: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web-public', namespace: 'shop', annotations },
  spec: {
    type: 'NodePort',
    clusterIP: '10.96.0.17',
    clusterIPs: ['10.96.0.17'],
    selector: { app: 'web' },
    ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 30080 }],
  },
});

describe('deciding on an item that may be live', () => {
  it('creates what is not live', () => {
    assert.deepEqual(decideFor(SC, undefined, storageClass({ type: 'ssd' }), 'use-backup-version'), {
      action: 'create',
    });
  });

  it('leaves a NodePort Service that is live as backed up unchanged, its node port kept explicitly or by --preserve-nodeports', () => {
    const explicit = nodePortService({
      'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({
        spec: { type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] },
      }),
    });
    for (const [backedUp, options] of [
      [explicit, transform()],
      [nodePortService(), transform({ preserveNodePorts: true })],
    ] as const) {
      // The live Service is the restored one: the same node port, another cluster IP, the restore's labels.
      const restored = prepareForRestore('services', backedUp, options).object;
      const live = stored(restored);
      (live.spec as { clusterIP: string; clusterIPs: string[] }).clusterIP = '10.96.5.5';
      (live.spec as { clusterIPs: string[] }).clusterIPs = ['10.96.5.5'];
      for (const policy of ['skip-on-conflict', 'update-on-conflict', 'fail-on-conflict'] as const)
        assert.deepEqual(decideFor('services', live, backedUp, policy, options), { action: 'unchanged' });
    }
  });

  it('keeps, fails or updates a live object that differs in fields the API can change, as the policy says', () => {
    const live = stored(storageClass({ type: 'ssd' }, { allowVolumeExpansion: true }));
    const backedUp = storageClass({ type: 'ssd' }, { allowVolumeExpansion: false });
    const diff = [{ path: '/allowVolumeExpansion', before: true, after: false }];
    assert.deepEqual(decideFor(SC, live, backedUp, 'use-existing-version'), {
      action: 'skip',
      diff,
      warn: false,
    });
    assert.deepEqual(decideFor(SC, live, backedUp, 'use-backup-version'), { action: 'update', diff });
    const cm = (mode: string): KubeObject => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'settings', namespace: 'shop' },
      data: { mode },
    });
    const cmDiff = [{ path: '/data/mode', before: 'live', after: 'backed-up' }];
    assert.deepEqual(decideFor('configmaps', stored(cm('live')), cm('backed-up'), 'skip-on-conflict'), {
      action: 'skip',
      diff: cmDiff,
      warn: true,
    });
    const failed = decideFor('configmaps', stored(cm('live')), cm('backed-up'), 'fail-on-conflict');
    assert.equal(failed.action, 'fail');
    assert.match((failed as { reason: string }).reason, /fail-on-conflict/);
    assert.deepEqual(decideFor('configmaps', stored(cm('live')), cm('backed-up'), 'update-on-conflict'), {
      action: 'update',
      diff: cmDiff,
    });
  });

  it("recreates a StorageClass whose parameters, provisioner or reclaim policy differ, under the policies that ask for the backup's version", () => {
    const live = stored(storageClass({ type: 'hdd' }, { reclaimPolicy: 'Retain' }));
    const backedUp = storageClass({ type: 'ssd' });
    const decision = decideFor(SC, live, backedUp, 'use-backup-version');
    assert.equal(decision.action, 'recreate');
    assert.deepEqual((decision as { immutable: string[] }).immutable, ['/parameters/type', '/reclaimPolicy']);
    // The policy that keeps the live object keeps it.
    assert.equal(decideFor(SC, live, backedUp, 'use-existing-version').action, 'skip');
  });

  it('recreates what differs in other immutable fields: a Service made headless, a Job template, a RoleBinding roleRef, an immutable ConfigMap, a pod spec', () => {
    const cases: [string, KubeObject, KubeObject, string[]][] = [
      [
        'services',
        nodePortService(),
        {
          ...nodePortService(),
          spec: {
            ...(nodePortService().spec as object),
            type: 'ClusterIP',
            clusterIP: 'None',
            clusterIPs: ['None'],
          },
        },
        ['/spec/clusterIP', '/spec/clusterIPs'],
      ],
      [
        'jobs.batch',
        {
          apiVersion: 'batch/v1',
          kind: 'Job',
          metadata: { name: 'migrate', namespace: 'shop' },
          spec: { template: { spec: { containers: [{ name: 'm', image: 'migrate:1' }] } } },
        },
        {
          apiVersion: 'batch/v1',
          kind: 'Job',
          metadata: { name: 'migrate', namespace: 'shop' },
          spec: { template: { spec: { containers: [{ name: 'm', image: 'migrate:2' }] } } },
        },
        ['/spec/template/spec/containers/0/image'],
      ],
      [
        'rolebindings.rbac.authorization.k8s.io',
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'app', namespace: 'shop' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'app', namespace: 'shop' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
        },
        ['/roleRef/name'],
      ],
      [
        'configmaps',
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'c', namespace: 'shop' },
          immutable: true,
          data: { a: '1' },
        },
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'c', namespace: 'shop' },
          immutable: true,
          data: { a: '2' },
        },
        ['/data/a'],
      ],
      [
        'pods',
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'p', namespace: 'shop' },
          spec: { containers: [{ name: 'c', image: 'web:1', args: ['--fast'] }] },
        },
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'p', namespace: 'shop' },
          spec: { containers: [{ name: 'c', image: 'web:1', args: ['--slow'] }] },
        },
        ['/spec/containers/0/args/0'],
      ],
    ];
    for (const [gr, liveForm, backedUp, immutable] of cases) {
      const live = stored(prepareForRestore(gr, liveForm, transform()).object);
      for (const policy of ['update-on-conflict', 'use-backup-version', 'delete-and-restore'] as const) {
        const decision = decideFor(gr, live, backedUp, policy);
        assert.equal(decision.action, 'recreate', `${gr} under ${policy}: ${JSON.stringify(decision)}`);
        assert.deepEqual((decision as { immutable: string[] }).immutable, immutable, gr);
      }
    }
  });

  it('updates in place what the API lets change: a claim asking for more storage, a pod image, a ConfigMap not marked immutable', () => {
    const claim = (storage: string): KubeObject => ({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: 'shop' },
      spec: { storageClassName: 'standard', resources: { requests: { storage } } },
    });
    assert.equal(
      decideFor('persistentvolumeclaims', stored(claim('1Gi')), claim('2Gi'), 'update-on-conflict').action,
      'update',
    );
    const pod = (image: string): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'shop' },
      spec: { containers: [{ name: 'c', image }] },
    });
    assert.equal(
      decideFor('pods', stored(pod('web:1')), pod('web:2'), 'update-on-conflict').action,
      'update',
    );
    const cm = (a: string): KubeObject => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'shop' },
      data: { a },
    });
    assert.equal(decideFor('configmaps', stored(cm('1')), cm('2'), 'update-on-conflict').action, 'update');
  });

  it('leaves a claim provisioned anew (no volumeName in what is restored) unchanged once it is bound', () => {
    const backedUp: KubeObject = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: 'shop' },
      spec: { storageClassName: 'standard', resources: { requests: { storage: '1Gi' } } },
    };
    const live = stored(prepareForRestore('persistentvolumeclaims', backedUp, transform()).object);
    (live.spec as { volumeName?: string }).volumeName = 'pvc-4711';
    assert.deepEqual(decideFor('persistentvolumeclaims', live, backedUp, 'update-on-conflict'), {
      action: 'unchanged',
    });
  });

  it('fails, rather than recreates, a definition whose scope differs: deleting it would delete every object of its kind', () => {
    const crd = (scope: string): KubeObject => ({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.example.com' },
      spec: { group: 'example.com', scope, names: { plural: 'widgets', kind: 'Widget' } },
    });
    const gr = 'customresourcedefinitions.apiextensions.k8s.io';
    const decision = decideFor(gr, stored(crd('Cluster')), crd('Namespaced'), 'use-backup-version');
    assert.equal(decision.action, 'fail');
    assert.match(
      (decision as { reason: string }).reason,
      /\/spec\/scope cannot change.*every object of its kind/,
    );
  });

  it("fails, rather than recreates, a claim or a volume whose immutable spec differs: deleting it can delete the volume's data", () => {
    const claim = (storageClassName: string): KubeObject => ({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: 'shop' },
      spec: { storageClassName, volumeName: 'pv-data', resources: { requests: { storage: '1Gi' } } },
    });
    const volume = (path: string): KubeObject => ({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: 'pv-data' },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Delete',
        hostPath: { path },
      },
    });
    const cases: [string, KubeObject, KubeObject, RegExp][] = [
      [
        'persistentvolumeclaims',
        claim('standard'),
        claim('fast'),
        /\/spec\/storageClassName cannot change.*delete the claim by hand \(or use delete-and-restore on its namespace\)/,
      ],
      [
        'persistentvolumes',
        volume('/data/a'),
        volume('/data/b'),
        /\/spec\/hostPath\/path cannot change.*delete the volume by hand/,
      ],
    ];
    for (const [gr, liveForm, backedUp, reason] of cases) {
      const live = stored(prepareForRestore(gr, liveForm, transform()).object);
      for (const policy of ['update-on-conflict', 'use-backup-version', 'delete-and-restore'] as const) {
        const decision = decideFor(gr, live, backedUp, policy);
        assert.equal(decision.action, 'fail', `${gr} under ${policy}: ${JSON.stringify(decision)}`);
        assert.match((decision as { reason: string }).reason, reason);
      }
    }
  });

  it('fails, rather than recreates, an object whose finalizers would hold its deletion, naming them', () => {
    const cm = (a: string): KubeObject => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'shop' },
      immutable: true,
      data: { a },
    });
    const live = stored(prepareForRestore('configmaps', cm('1'), transform()).object, {
      finalizers: ['example.com/keep', 'foregroundDeletion'],
    });
    const decision = decideFor('configmaps', live, cm('2'), 'update-on-conflict');
    assert.equal(decision.action, 'fail', JSON.stringify(decision));
    assert.match(
      (decision as { reason: string }).reason,
      /\/data\/a cannot change.*finalizers that would hold the deletion: example\.com\/keep, foregroundDeletion/,
    );
  });
});
