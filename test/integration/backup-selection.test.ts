// The backup filters compiled against the testbed cluster's real discovery.
import assert from 'node:assert/strict';
import { describe, it, before } from 'node:test';
import { compileSelection, type SelectionSpec } from '../../src/backup/index.ts';
import { discover, ResourceMapper } from '../../src/kube/index.ts';
import { clusterClient } from '../helpers/testbed.ts';

let mapper: ResourceMapper;
before(async () => {
  mapper = new ResourceMapper((await discover(clusterClient('a'))).resources);
});

function compile(spec: SelectionSpec) {
  const { selection, problems } = compileSelection(spec, mapper);
  assert.deepEqual(problems, []);
  assert.ok(selection);
  return selection;
}

const names = (resources: { groupResource: string }[]) => resources.map((r) => r.groupResource);

describe('backup selection', () => {
  it('selects namespaces by name and glob, exclusions winning', () => {
    const s = compile({ includedNamespaces: ['la-*', 'shop'], excludedNamespaces: ['la-test'] });
    assert.deepEqual(['la-prod', 'la-test', 'shop', 'shop2', 'default'].filter(s.namespaceSelected), [
      'la-prod',
      'shop',
    ]);
    assert.equal(s.allNamespaces, false);
    assert.equal(compile({}).allNamespaces, true);
    assert.equal(compile({ includedNamespaces: ['*'] }).allNamespaces, true);
  });

  it('takes every listable namespaced resource but events by default, and excludes by any name', () => {
    const all = names(compile({ includedNamespaces: ['shop'] }).namespaced);
    for (const expected of [
      'configmaps',
      'secrets',
      'deployments.apps',
      'persistentvolumeclaims',
      'roles.rbac.authorization.k8s.io',
    ]) {
      assert.ok(all.includes(expected), `${expected} missing`);
    }
    assert.ok(
      !all.includes('events') && !all.includes('events.events.k8s.io'),
      'events are not backed up by default',
    );
    const withoutSecrets = names(
      compile({ includedNamespaces: ['shop'], excludedResources: ['secret'] }).namespaced,
    );
    assert.ok(!withoutSecrets.includes('secrets'));
    assert.ok(!names(compile({ includeSecrets: false }).namespaced).includes('secrets'));
    assert.deepEqual(names(compile({ includedResources: ['deploy', 'cm'] }).namespaced).sort(), [
      'configmaps',
      'deployments.apps',
    ]);
    assert.deepEqual(
      names(compile({ includedResources: ['events'] }).namespaced),
      ['events'],
      'events when asked by name',
    );
  });

  it('leaves out resources that cannot be listed, such as bindings and token reviews', () => {
    const s = compile({});
    const all = [...names(s.namespaced), ...names(s.clusterScoped)];
    assert.ok(!all.includes('bindings'));
    assert.ok(!all.includes('tokenreviews.authentication.k8s.io'));
  });

  it('decides cluster-scoped resources by includeClusterResources', () => {
    const auto = compile({ includedNamespaces: ['shop'] });
    assert.deepEqual(
      names(auto.clusterScoped),
      [],
      'auto with some namespaces: only related cluster objects',
    );
    assert.ok(names(auto.relatedClusterScoped).includes('persistentvolumes'));
    assert.ok(names(auto.relatedClusterScoped).includes('customresourcedefinitions.apiextensions.k8s.io'));

    const full = compile({});
    assert.ok(
      names(full.clusterScoped).includes('clusterroles.rbac.authorization.k8s.io'),
      'auto with every namespace: all of them',
    );
    assert.ok(!names(full.clusterScoped).includes('nodes'), 'nodes only when asked');

    const forced = compile({ includedNamespaces: ['shop'], includeClusterResources: true });
    assert.ok(names(forced.clusterScoped).includes('storageclasses.storage.k8s.io'));
    const none = compile({ includeClusterResources: false });
    assert.deepEqual([...names(none.clusterScoped), ...names(none.relatedClusterScoped)], []);

    const named = compile({
      includedNamespaces: ['shop'],
      includedResources: ['deployments', 'clusterroles'],
    });
    assert.deepEqual(names(named.clusterScoped), ['clusterroles.rbac.authorization.k8s.io']);
  });

  it('lists once per selector for orLabelSelectors', () => {
    assert.deepEqual(compile({ labelSelector: 'app=web' }).labelSelectors, ['app=web']);
    assert.deepEqual(compile({ orLabelSelectors: ['app=web', 'app=db'] }).labelSelectors, [
      'app=web',
      'app=db',
    ]);
    assert.deepEqual(compile({}).labelSelectors, [undefined]);
  });

  it('reports every bad field with its value and writes nothing', () => {
    const { selection, problems } = compileSelection(
      {
        includedNamespaces: ['Shop!'],
        includedResources: ['sekrets'],
        excludedResources: ['deploymentz'],
        labelSelector: 'app in web',
        orLabelSelectors: ['x=y'],
      },
      mapper,
    );
    assert.equal(selection, undefined);
    assert.equal(problems[3]?.message, '"app in web" is not a label requirement');
    assert.equal(problems[4]?.message, 'labelSelector and orLabelSelectors cannot be used together');
    assert.deepEqual(
      problems.map((p) => `${p.field}=${p.value}`),
      [
        'includedNamespaces=Shop!',
        'includedResources=sekrets',
        'excludedResources=deploymentz',
        'labelSelector=app in web',
        'orLabelSelectors=x=y',
      ],
    );
  });
});
