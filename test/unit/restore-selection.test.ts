// The restore's filters and order as pure functions: compiled against a fixed list of served resources
// (the shape discovery returns) and a backup's summary.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResourceMapper, type ApiResource } from '../../src/kube/index.ts';
import {
  compileRestoreSelection,
  DEFAULT_HIGH_PRIORITIES,
  DEFAULT_LOW_PRIORITIES,
  parsePriorities,
  restoreOrder,
  type RestoreSelection,
} from '../../src/restore/index.ts';

function served(
  group: string,
  version: string,
  resource: string,
  kind: string,
  namespaced: boolean,
): ApiResource {
  return {
    group,
    version,
    groupVersion: group ? `${group}/${version}` : version,
    resource,
    groupResource: group ? `${resource}.${group}` : resource,
    kind,
    singular: kind.toLowerCase(),
    shortNames: resource === 'configmaps' ? ['cm'] : resource === 'deployments' ? ['deploy'] : [],
    namespaced,
    verbs: ['create', 'get', 'list'],
    preferred: true,
  };
}

const mapper = new ResourceMapper([
  served('', 'v1', 'configmaps', 'ConfigMap', true),
  served('', 'v1', 'secrets', 'Secret', true),
  served('', 'v1', 'namespaces', 'Namespace', false),
  served('', 'v1', 'persistentvolumes', 'PersistentVolume', false),
  served('', 'v1', 'persistentvolumeclaims', 'PersistentVolumeClaim', true),
  served('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', false),
  served('apps', 'v1', 'deployments', 'Deployment', true),
  served('storage.k8s.io', 'v1', 'storageclasses', 'StorageClass', false),
  served('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', false),
]);
const contents = {
  resources: new Map(
    [
      ['configmaps', true],
      ['secrets', true],
      ['namespaces', false],
      ['persistentvolumes', false],
      ['deployments.apps', true],
      ['storageclasses.storage.k8s.io', false],
      ['clusterroles.rbac.authorization.k8s.io', false],
      ['widgets.example.com', true],
      ['nodes', false],
    ].map(([groupResource, namespaced]) => [
      groupResource as string,
      { groupResource: groupResource as string, namespaced: namespaced as boolean },
    ]),
  ),
};

function compile(spec: Parameters<typeof compileRestoreSelection>[0]): RestoreSelection {
  const { selection, problems } = compileRestoreSelection(spec, mapper, contents);
  assert.deepEqual(problems, []);
  assert.ok(selection);
  return selection;
}

describe('restore selection', () => {
  it('resolves resource names against the cluster, then against the backup for kinds not served yet', () => {
    const s = compile({ includedResources: ['cm', 'deploy', 'widgets'] });
    assert.equal(s.resourceSelected('configmaps'), true);
    assert.equal(s.resourceSelected('deployments.apps'), true);
    assert.equal(s.resourceSelected('widgets.example.com'), true);
    assert.equal(s.resourceSelected('secrets'), false);
  });

  it('never restores nodes, and refuses to be asked to', () => {
    assert.equal(compile({}).resourceSelected('nodes'), false);
    const { problems } = compileRestoreSelection({ includedResources: ['nodes'] }, mapper, contents);
    assert.deepEqual(
      problems.map((p) => `${p.field} ${p.value}`),
      ['includedResources nodes'],
    );
  });

  it('restores cluster-scoped objects in full for a whole-backup restore, only related ones for a namespace', () => {
    assert.equal(compile({}).clusterResourceInFull('clusterroles.rbac.authorization.k8s.io'), true);
    const some = compile({ includedNamespaces: ['shop'] });
    assert.equal(some.clusterResourceInFull('clusterroles.rbac.authorization.k8s.io'), false);
    assert.equal(some.relatedAdmitted('persistentvolumes'), true);
    const none = compile({ includeClusterResources: false });
    assert.equal(none.clusterResourceInFull('storageclasses.storage.k8s.io'), false);
    assert.equal(none.relatedAdmitted('persistentvolumes'), false);
  });

  it('restores only the cluster-scoped kinds named in clusterResourceScope, and of them only related objects unless all are asked for', () => {
    for (const spec of [
      { includedNamespaces: ['shop'], clusterResourceScope: ['storageclasses', 'customresourcedefinitions'] },
      // A whole-backup restore too: the scope list says which kinds may follow, not "all of them".
      { clusterResourceScope: ['storageclasses', 'customresourcedefinitions'] },
    ]) {
      const s = compile(spec);
      assert.equal(s.clusterResourceInFull('storageclasses.storage.k8s.io'), false);
      assert.equal(s.relatedAdmitted('storageclasses.storage.k8s.io'), true);
      assert.equal(s.relatedAdmitted('customresourcedefinitions.apiextensions.k8s.io'), true);
      assert.equal(s.relatedAdmitted('clusterroles.rbac.authorization.k8s.io'), false);
      assert.equal(s.relatedAdmitted('persistentvolumes'), false);
    }
    const all = compile({
      includedNamespaces: ['shop'],
      clusterResourceScope: ['storageclasses'],
      includeClusterResources: true,
    });
    assert.equal(all.clusterResourceInFull('storageclasses.storage.k8s.io'), true);
    assert.equal(all.clusterResourceInFull('clusterroles.rbac.authorization.k8s.io'), false);
    const named = compile({
      includedNamespaces: ['shop'],
      includedResources: ['storageclasses', 'persistentvolumeclaims'],
      clusterResourceScope: ['storageclasses'],
    });
    assert.equal(named.clusterResourceInFull('storageclasses.storage.k8s.io'), true);
  });

  it('matches the backed-up labels with labelSelector or any of orLabelSelectors', () => {
    const s = compile({ labelSelector: 'app=web,tier!=db' });
    assert.equal(s.labelsSelected({ app: 'web' }), true);
    assert.equal(s.labelsSelected({ app: 'web', tier: 'db' }), false);
    assert.equal(s.labelsSelected(undefined), false);
    const or = compile({ orLabelSelectors: ['app=web', 'app in (db, cache)'] });
    assert.equal(or.labelsSelected({ app: 'cache' }), true);
    assert.equal(or.labelsSelected({ app: 'queue' }), false);
  });

  it('maps namespaces and names restoreStatus resources by any name', () => {
    const s = compile({
      includedNamespaces: ['shop-*'],
      excludedNamespaces: ['shop-old'],
      namespaceMapping: { 'shop-a': 'shop-b' },
      restoreStatus: { includedResources: ['deploy'] },
    });
    assert.equal(s.namespaceSelected('shop-a'), true);
    assert.equal(s.namespaceSelected('shop-old'), false);
    assert.equal(s.namespaceSelected('other'), false);
    assert.equal(s.targetNamespace('shop-a'), 'shop-b');
    assert.equal(s.targetNamespace('shop-c'), 'shop-c');
    assert.equal(s.statusRestored('deployments.apps'), true);
    assert.equal(s.statusRestored('configmaps'), false);
  });

  it('names every bad field: unknown resources, bad selectors, bad and colliding mappings', () => {
    const { selection, problems } = compileRestoreSelection(
      {
        includedResources: ['gizmos'],
        labelSelector: 'a in (',
        namespaceMapping: { a: 'same', b: 'same', 'Bad Name': 'x' },
      },
      mapper,
      contents,
    );
    assert.equal(selection, undefined);
    const fields = problems.map((p) => `${p.field}: ${p.value}`);
    assert.ok(fields.includes('includedResources: gizmos'), fields.join('\n'));
    assert.ok(fields.includes('labelSelector: a in ('), fields.join('\n'));
    assert.ok(fields.includes('namespaceMapping: b:same'), fields.join('\n'));
    assert.ok(fields.includes('namespaceMapping: Bad Name'), fields.join('\n'));
  });
});

describe('restore order', () => {
  const defaults = { high: DEFAULT_HIGH_PRIORITIES, low: DEFAULT_LOW_PRIORITIES };

  it('puts definitions, namespaces, volumes, identities and configuration first, the rest sorted, the tail last', () => {
    const order = restoreOrder(
      [
        'widgets.example.com',
        'deployments.apps',
        'clusters.cluster.x-k8s.io',
        'configmaps',
        'namespaces',
        'customresourcedefinitions.apiextensions.k8s.io',
        'persistentvolumeclaims',
        'persistentvolumes',
        'services',
        'ingresses.networking.k8s.io',
      ],
      defaults,
    );
    assert.deepEqual(order, [
      'customresourcedefinitions.apiextensions.k8s.io',
      'namespaces',
      'persistentvolumes',
      'persistentvolumeclaims',
      'configmaps',
      'services',
      'deployments.apps',
      'ingresses.networking.k8s.io',
      'widgets.example.com',
      'clusters.cluster.x-k8s.io',
    ]);
  });

  it('takes an override in Velero syntax: the high list, "-", the low list', () => {
    const priorities = parsePriorities(['configmaps', 'secrets', '-', 'deployments.apps']);
    assert.deepEqual(priorities, { high: ['configmaps', 'secrets'], low: ['deployments.apps'] });
    assert.deepEqual(restoreOrder(['deployments.apps', 'services', 'secrets', 'configmaps'], priorities), [
      'configmaps',
      'secrets',
      'services',
      'deployments.apps',
    ]);
  });
});
