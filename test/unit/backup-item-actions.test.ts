import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { builtinItemActions, runItemActions, type ItemAction } from '../../src/backup/index.ts';
import type { KubeObject } from '../../src/kube/index.ts';

const context = (groupResource: string) => ({
  groupResource,
  isCustomResource: (gr: string) => gr === 'widgets.shop.example.com',
});

describe('built-in item actions', () => {
  it("bring a pod's claims, once each", async () => {
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'db-0', namespace: 'shop' },
      spec: {
        volumes: [
          { name: 'data', persistentVolumeClaim: { claimName: 'data-db-0' } },
          { name: 'again', persistentVolumeClaim: { claimName: 'data-db-0' } },
          { name: 'tmp', emptyDir: {} },
        ],
      },
    };
    const result = await runItemActions(builtinItemActions, pod, context('pods'));
    assert.equal(result.item, pod);
    assert.deepEqual(result.additionalItems, [
      { groupResource: 'persistentvolumeclaims', namespace: 'shop', name: 'data-db-0' },
    ]);
  });

  it('name backup-hook annotations that would not run as written, and say nothing of restore-hook annotations (the restore reads them)', async () => {
    const pod = (annotations: Record<string, string>): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'db-0', namespace: 'shop', annotations },
      spec: {},
    });
    const warned = async (annotations: Record<string, string>) =>
      (await runItemActions(builtinItemActions, pod(annotations), context('pods'))).warnings;
    assert.deepEqual(
      await warned({
        'backup.velero.io/backup-volumes': 'data',
        'pre.hook.backup.velero.io/command': '["/bin/sh","-c","mysqldump ..."]',
        'pre.hook.backup.velero.io/container': 'db',
        'post.hook.restore.cairn.dev/command': '["/load.sh"]',
        'kubectl.kubernetes.io/restartedAt': 'now',
      }),
      [],
    );
    assert.deepEqual(await warned({ 'kubectl.kubernetes.io/restartedAt': 'now' }), []);
    // A hook annotation that would not run as written is named too.
    const typo =
      (await warned({
        'pre.hook.backup.cairn.dev/command': '["fsfreeze", "--freeze", "/data"',
        'pre.hook.backup.cairn.dev/on-error': 'Continue',
      })) ?? [];
    assert.equal(typo.length, 1);
    assert.match(
      typo[0] ?? '',
      /^pod shop\/db-0: pre\.hook\.backup\.cairn\.dev\/command "\[.*": starts with \[ but is not a JSON array \(/,
    );
  });

  it("bring a bound claim's volume, and nothing for an unbound one", async () => {
    const claim = (volumeName?: string): KubeObject => ({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: 'shop' },
      spec: volumeName ? { volumeName } : {},
    });
    assert.deepEqual(
      (await runItemActions(builtinItemActions, claim('pv-1'), context('persistentvolumeclaims')))
        .additionalItems,
      [{ groupResource: 'persistentvolumes', name: 'pv-1' }],
    );
    assert.deepEqual(
      (await runItemActions(builtinItemActions, claim(), context('persistentvolumeclaims'))).additionalItems,
      [],
    );
  });

  it("bring a custom object's definition, and nothing for built-in kinds", async () => {
    const widget: KubeObject = {
      apiVersion: 'shop.example.com/v1',
      kind: 'Widget',
      metadata: { name: 'w', namespace: 'shop' },
    };
    assert.deepEqual(
      (await runItemActions(builtinItemActions, widget, context('widgets.shop.example.com'))).additionalItems,
      [{ groupResource: 'customresourcedefinitions.apiextensions.k8s.io', name: 'widgets.shop.example.com' }],
    );
    const cm: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'shop' },
    };
    assert.deepEqual(
      (await runItemActions(builtinItemActions, cm, context('configmaps'))).additionalItems,
      [],
    );
  });

  it('chain: each action sees the item the previous one returned', async () => {
    const label: ItemAction = {
      name: 'label',
      appliesTo: ['configmaps'],
      execute: (item) => ({
        item: { ...item, metadata: { ...item.metadata, labels: { seen: 'yes' } } },
        additionalItems: [],
      }),
    };
    const check: ItemAction = {
      name: 'check',
      appliesTo: ['configmaps'],
      execute: (item) => ({
        item,
        additionalItems: [
          { groupResource: 'secrets', namespace: 'shop', name: item.metadata.labels?.seen ?? 'no' },
        ],
      }),
    };
    const cm: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'shop' },
    };
    const result = await runItemActions([label, check], cm, context('configmaps'));
    assert.deepEqual(result.additionalItems, [{ groupResource: 'secrets', namespace: 'shop', name: 'yes' }]);
    assert.equal(cm.metadata.labels, undefined, 'the original item is not changed');
  });
});
