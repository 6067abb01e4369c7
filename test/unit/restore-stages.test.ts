// The stages of a restore: prioritized resources one after the other, the rest side by side
// (src/restore/order.ts's restoreStages).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_HIGH_PRIORITIES,
  DEFAULT_LOW_PRIORITIES,
  parsePriorities,
  restoreOrder,
  restoreStages,
  type Priorities,
} from '../../src/restore/order.ts';

const CRDS = 'customresourcedefinitions.apiextensions.k8s.io';
const defaults = { high: DEFAULT_HIGH_PRIORITIES, low: DEFAULT_LOW_PRIORITIES };
const stagesOf = (resources: string[], priorities: Priorities) =>
  restoreStages(restoreOrder(resources, priorities), priorities);

describe('restore stages', () => {
  it('restores each prioritized resource alone, in order, and the rest side by side before the tail', () => {
    assert.deepEqual(
      stagesOf(
        [
          'widgets.example.com',
          'deployments.apps',
          'clusters.cluster.x-k8s.io',
          'apps.kappctrl.k14s.io',
          'configmaps',
          'namespaces',
          CRDS,
          'persistentvolumeclaims',
          'pods',
          'services',
          'ingresses.networking.k8s.io',
        ],
        defaults,
      ),
      [
        [CRDS],
        ['namespaces'],
        ['persistentvolumeclaims'],
        ['configmaps'],
        ['pods'],
        ['services'],
        ['deployments.apps', 'ingresses.networking.k8s.io', 'widgets.example.com'],
        ['clusters.cluster.x-k8s.io'],
        ['apps.kappctrl.k14s.io'],
      ],
    );
  });

  it('keeps every resource of the order exactly once, in its order', () => {
    const order = restoreOrder(
      [
        'b.example.com',
        'secrets',
        'a.example.com',
        'namespaces',
        'clusters.cluster.x-k8s.io',
        'c.example.com',
      ],
      defaults,
    );
    assert.deepEqual(restoreStages(order, defaults).flat(), order);
  });

  it('restores everything one resource at a time when every resource is prioritized', () => {
    const priorities = parsePriorities(['configmaps', 'deployments.apps', '-', 'services']);
    assert.deepEqual(stagesOf(['services', 'deployments.apps', 'configmaps'], priorities), [
      ['configmaps'],
      ['deployments.apps'],
      ['services'],
    ]);
  });

  it('puts the resources of a custom list with no tail after the list, side by side', () => {
    const priorities = parsePriorities(['secrets']);
    assert.deepEqual(stagesOf(['services', 'secrets', 'configmaps'], priorities), [
      ['secrets'],
      ['configmaps', 'services'],
    ]);
  });

  it('cuts the shared stage at the definitions and the namespaces, wherever a custom list leaves them', () => {
    const priorities = parsePriorities(['secrets']);
    assert.deepEqual(
      stagesOf(
        ['widgets.example.com', CRDS, 'apples.example.com', 'namespaces', 'configmaps', 'secrets'],
        priorities,
      ),
      [['secrets'], ['apples.example.com', 'configmaps'], [CRDS], ['namespaces'], ['widgets.example.com']],
    );
  });

  it('has no stages for an empty backup', () => {
    assert.deepEqual(stagesOf([], defaults), []);
  });
});
