// The backup's item collector, without a cluster: which lists a backup makes, and which Namespace
// objects it holds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backupTargets, namespaceObjectsToWrite } from '../../src/backup/collect.ts';
import type { ApiResource, KubeObject } from '../../src/kube/index.ts';

const resource = (groupResource: string, namespaced: boolean): ApiResource => ({
  group: groupResource.includes('.') ? groupResource.slice(groupResource.indexOf('.') + 1) : '',
  version: 'v1',
  groupVersion: 'v1',
  resource: groupResource.split('.')[0] ?? groupResource,
  groupResource,
  kind: groupResource,
  singular: groupResource,
  shortNames: [],
  namespaced,
  verbs: ['list', 'get'],
  preferred: true,
});
const pods = resource('pods', true);
const deployments = resource('deployments.apps', true);
const namespacesResource = resource('namespaces', false);
const volumes = resource('persistentvolumes', false);

/** Each target as `resource[/namespace][ in ns,ns]`. */
const described = (targets: ReturnType<typeof backupTargets>) =>
  targets.map(
    (t) =>
      `${t.resource.groupResource}${t.namespace ? `/${t.namespace}` : ''}${t.inNamespaces ? ` in ${[...t.inNamespaces].join(',')}` : ''}`,
  );

describe('the lists of a backup', () => {
  it('lists a few named namespaces one by one, cluster-scoped resources once, ordered by resource', () => {
    const targets = backupTargets(
      { namespaced: [pods, deployments], clusterScoped: [volumes, namespacesResource], allNamespaces: false },
      new Set(['shop', 'db']),
    );
    assert.deepEqual(described(targets), [
      'deployments.apps/shop',
      'deployments.apps/db',
      'persistentvolumes',
      'pods/shop',
      'pods/db',
    ]);
  });

  it('lists every namespaced resource once, kept to the namespaces, for all namespaces or more than ten', () => {
    const eleven = new Set(Array.from({ length: 11 }, (_, i) => `ns-${i}`));
    const many = backupTargets({ namespaced: [pods], clusterScoped: [], allNamespaces: false }, eleven);
    assert.equal(many.length, 1);
    assert.equal(many[0]?.inNamespaces, eleven);
    const all = backupTargets({ namespaced: [pods], clusterScoped: [], allNamespaces: true }, new Set(['a']));
    assert.deepEqual(described(all), ['pods in a']);
  });
});

describe('the Namespace objects a backup holds', () => {
  const ns = (name: string, labels: Record<string, string> = {}, phase = 'Active'): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels },
    status: { phase },
  });
  const namespaces = [
    ns('shop'),
    ns('labelled', { team: 'a' }),
    ns('going', { team: 'a' }, 'Terminating'),
    ns('idle'),
  ];
  const names = (objects: KubeObject[]) => objects.map((o) => o.metadata.name);

  it('are every selected namespace without a label selector', () => {
    assert.deepEqual(
      names(
        namespaceObjectsToWrite(
          namespaces,
          { labelSelectors: [undefined], namespacesNamed: false },
          new Set(),
        ),
      ),
      ['shop', 'labelled', 'going', 'idle'],
    );
  });

  it('are, with one, those holding items and the active ones whose labels match', () => {
    assert.deepEqual(
      names(
        namespaceObjectsToWrite(
          namespaces,
          { labelSelectors: ['team=a'], namespacesNamed: false },
          new Set(['shop']),
        ),
      ),
      ['shop', 'labelled'],
    );
    assert.deepEqual(
      names(
        namespaceObjectsToWrite(namespaces, { labelSelectors: ['team=a'], namespacesNamed: true }, new Set()),
      ),
      ['shop', 'labelled', 'idle'],
      'named namespaces come in while active',
    );
  });
});
