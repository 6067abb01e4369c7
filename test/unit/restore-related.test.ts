// Which cluster-scoped objects a restored object brings along when cluster-scoped objects are restored only
// as related items (auto mode, or a --cluster-resource-scope list): src/restore/related.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../src/kube/index.ts';
import {
  clusterRoleKeptByTarget,
  NAMING_RELATED,
  RELATED_KINDS,
  relatedItems,
} from '../../src/restore/related.ts';
import type { TransformOptions } from '../../src/restore/transform.ts';

const transform: TransformOptions = {
  namespaceMapping: new Map(),
  storageClassMapping: new Map([['standard', 'fast']]),
  preserveNodePorts: false,
  restoreLabels: {},
};
const object = (kind: string, fields: Record<string, unknown>): KubeObject => ({
  apiVersion: 'v1',
  kind,
  metadata: { name: 'x', namespace: 'shop' },
  ...fields,
});

describe('related cluster-scoped objects', () => {
  it("brings a claim's volume and storage class, under the restore's storage-class mapping", () => {
    assert.deepEqual(
      relatedItems(
        'persistentvolumeclaims',
        object('PersistentVolumeClaim', { spec: { volumeName: 'pv-1', storageClassName: 'standard' } }),
        transform,
      ),
      [
        { groupResource: 'persistentvolumes', name: 'pv-1' },
        { groupResource: 'storageclasses.storage.k8s.io', name: 'fast' },
      ],
    );
  });

  it("brings a volume's storage class, a StatefulSet's claim templates' classes (the legacy annotation too), a RoleBinding's ClusterRole", () => {
    assert.deepEqual(
      relatedItems(
        'persistentvolumes',
        object('PersistentVolume', { spec: { storageClassName: 'slow' } }),
        transform,
      ),
      [{ groupResource: 'storageclasses.storage.k8s.io', name: 'slow' }],
    );
    const templates = [
      { metadata: { name: 'a' }, spec: { storageClassName: 'gold' } },
      {
        metadata: { name: 'b', annotations: { 'volume.beta.kubernetes.io/storage-class': 'standard' } },
        spec: {},
      },
    ];
    assert.deepEqual(
      relatedItems(
        'statefulsets.apps',
        object('StatefulSet', { spec: { volumeClaimTemplates: templates } }),
        transform,
      ),
      [
        { groupResource: 'storageclasses.storage.k8s.io', name: 'gold' },
        { groupResource: 'storageclasses.storage.k8s.io', name: 'fast' },
      ],
    );
    const binding = (kind: string) =>
      object('RoleBinding', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name: 'reader' } });
    assert.deepEqual(
      relatedItems('rolebindings.rbac.authorization.k8s.io', binding('ClusterRole'), transform),
      [{ groupResource: 'clusterroles.rbac.authorization.k8s.io', name: 'reader' }],
    );
    assert.deepEqual(relatedItems('rolebindings.rbac.authorization.k8s.io', binding('Role'), transform), []);
    // A claim without a class (the cluster's default) names none.
    assert.deepEqual(
      relatedItems('persistentvolumeclaims', object('PersistentVolumeClaim', { spec: {} }), transform),
      [],
    );
  });

  it("keeps the target cluster's own default, system: and aggregated ClusterRoles, and no other", () => {
    const role = (name: string, extra: Record<string, unknown> = {}, labels?: Record<string, string>) => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name, ...(labels ? { labels } : {}) },
      ...extra,
    });
    assert.match(
      clusterRoleKeptByTarget(role('view', {}, { 'kubernetes.io/bootstrapping': 'rbac-defaults' })) ?? '',
      /rbac-defaults/,
    );
    assert.match(clusterRoleKeptByTarget(role('system:auth-delegator')) ?? '', /system:/);
    assert.match(
      clusterRoleKeptByTarget(
        role('monitoring', { aggregationRule: { clusterRoleSelectors: [{ matchLabels: { a: 'b' } }] } }),
      ) ?? '',
      /aggregationRule/,
    );
    assert.equal(clusterRoleKeptByTarget(role('reader', { rules: [] })), undefined);
  });

  it('names, as related kinds, exactly what the resources that name related objects name', () => {
    assert.deepEqual([...NAMING_RELATED].sort(), [
      'persistentvolumeclaims',
      'persistentvolumes',
      'rolebindings.rbac.authorization.k8s.io',
      'statefulsets.apps',
    ]);
    assert.deepEqual([...RELATED_KINDS].sort(), [
      'clusterroles.rbac.authorization.k8s.io',
      'persistentvolumes',
      'storageclasses.storage.k8s.io',
    ]);
  });
});
