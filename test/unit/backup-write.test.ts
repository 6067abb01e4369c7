// The backup's item writer, without a cluster: what it writes into the archive from raw list pages and
// parsed items, what it leaves out (duplicates, excluded items, other namespaces), the resource list, and
// the progress it reports.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ArchiveItemInput } from '../../src/archive/index.ts';
import type { ItemAction } from '../../src/backup/index.ts';
import { ItemWriter, ResourceList, type BackupProgress, type LogEntry } from '../../src/backup/write.ts';
import type { ApiResource, KubeObject } from '../../src/kube/index.ts';

const resource = (groupResource: string, kind: string, namespaced = true): ApiResource => ({
  group: '',
  version: 'v1',
  groupVersion: 'v1',
  resource: groupResource,
  groupResource,
  kind,
  singular: kind.toLowerCase(),
  shortNames: [],
  namespaced,
  verbs: ['list', 'get'],
  preferred: true,
});
const configmaps = resource('configmaps', 'ConfigMap');
const claims = resource('persistentvolumeclaims', 'PersistentVolumeClaim');
const volumes = resource('persistentvolumes', 'PersistentVolume', false);

/** A list page as the API server writes it: each item's metadata starts with its name and namespace. */
const page = (items: { name: string; namespace: string; labels?: Record<string, string> }[]) =>
  Buffer.from(
    JSON.stringify({
      kind: 'ConfigMapList',
      apiVersion: 'v1',
      metadata: { resourceVersion: '7' },
      items: items.map(({ name, namespace, labels }) => ({
        metadata: { name, namespace, ...(labels ? { labels } : {}) },
        data: { k: name },
      })),
    }),
  );

const claimVolume: ItemAction = {
  name: 'claim-volume',
  appliesTo: ['persistentvolumeclaims'],
  produces: ['persistentvolumes'],
  execute: (item) => ({
    item,
    additionalItems: [{ groupResource: 'persistentvolumes', name: `pv-${item.metadata.name}` }],
  }),
};

function writer(options: { actions?: ItemAction[]; copyRawItems?: boolean } = {}) {
  const written: { path: string; json: string }[] = [];
  const progress: BackupProgress[] = [];
  const logs: LogEntry[] = [];
  const place = (item: Omit<ArchiveItemInput, 'object'>) =>
    `${item.groupResource}/${item.namespace ?? '-'}/${item.name}`;
  const archive = {
    addItem: (item: ArchiveItemInput) => {
      written.push({ path: place(item), json: JSON.stringify(item.object) });
      return Promise.resolve();
    },
    addItemBytes: (item: Omit<ArchiveItemInput, 'object'>, pieces: readonly Buffer[]) => {
      written.push({ path: place(item), json: Buffer.concat(pieces).toString() });
      return Promise.resolve();
    },
  };
  const items = new ItemWriter({
    archive,
    actions: options.actions ?? [claimVolume],
    customResources: new Set(),
    copyRawItems: options.copyRawItems,
    onProgress: (p) => progress.push(p),
    log: (entry) => logs.push(entry),
  });
  return { items, written, progress, logs, paths: () => written.map((w) => w.path) };
}

describe('the item writer', () => {
  it('copies raw items behind their apiVersion and kind, as the API server sent them', async () => {
    const w = writer();
    await w.items.writeRawPage(w.items.beginList(configmaps), page([{ name: 'a', namespace: 'shop' }]), 0);
    assert.deepEqual(w.written, [
      {
        path: 'configmaps/shop/a',
        json: '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"shop"},"data":{"k":"a"}}',
      },
    ]);
    assert.deepEqual(w.items.finish().resourceList, { 'v1/ConfigMap': ['shop/a'] });
  });

  it('leaves out items of other namespaces, excluded items, and what a relist gives again', async () => {
    const w = writer();
    const list = w.items.beginList(configmaps, new Set(['shop']));
    await w.items.writeRawPage(
      list,
      page([
        { name: 'a', namespace: 'shop' },
        { name: 'b', namespace: 'elsewhere' },
        { name: 'c', namespace: 'shop', labels: { 'velero.io/exclude-from-backup': 'true' } },
        { name: 'd', namespace: 'shop', labels: { 'velero.io/exclude-from-backup': 'false' } },
      ]),
      undefined,
    );
    // The list listed again, at its latest state: `a` was written, `e` is new.
    await w.items.writeRawPage(
      list,
      page([
        { name: 'a', namespace: 'shop' },
        { name: 'e', namespace: 'shop' },
      ]),
      undefined,
    );
    assert.deepEqual(w.paths(), ['configmaps/shop/a', 'configmaps/shop/d', 'configmaps/shop/e']);
    assert.deepEqual(
      w.logs.map((l) => l.message),
      ['left out configmaps shop/c: it has the label velero.io/exclude-from-backup=true'],
    );
    assert.deepEqual([...w.items.itemNamespaces], ['shop']);
  });

  it('writes an item that related items may name once for the whole backup, and collects what items name', async () => {
    const w = writer();
    await w.items.write(w.items.beginList(claims), {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: 'shop' },
    });
    assert.deepEqual(w.items.related, [{ groupResource: 'persistentvolumes', name: 'pv-data' }]);
    const volume: KubeObject = { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pv-data' } };
    // Listed as a target, then named by the claim: one list each.
    await w.items.write(w.items.beginList(volumes), volume);
    await w.items.write(w.items.beginList(volumes), volume);
    assert.deepEqual(w.paths(), ['persistentvolumeclaims/shop/data', 'persistentvolumes/-/pv-data']);
    assert.equal(w.items.duplicates.has('persistentvolumes', undefined, 'pv-data'), true);
    // No related item names a claim here: a claim is remembered by its own list only.
    assert.equal(w.items.duplicates.has('persistentvolumeclaims', 'shop', 'data'), false);
  });

  it('copies raw only the items no action looks at and no related item names, unless told not to', () => {
    const w = writer();
    assert.equal(w.items.takesRaw(configmaps), true);
    assert.equal(w.items.takesRaw(claims), false, 'an action looks at claims');
    assert.equal(w.items.takesRaw(volumes), false, 'a claim names its volume');
    assert.equal(writer({ copyRawItems: false }).items.takesRaw(configmaps), false);
    const { produces: _, ...undeclared } = claimVolume;
    assert.equal(
      writer({ actions: [undeclared] }).items.takesRaw(configmaps),
      false,
      'any item may be named',
    );
  });

  it('logs an action that fails as an error of the item, and leaves the item out', async () => {
    const failing: ItemAction = {
      name: 'failing',
      appliesTo: ['configmaps'],
      produces: [],
      execute: () => {
        throw new Error('no luck');
      },
    };
    const w = writer({ actions: [failing] });
    await w.items.write(w.items.beginList(configmaps), {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'a', namespace: 'shop' },
    });
    assert.deepEqual(w.written, []);
    assert.deepEqual(w.logs, [
      {
        level: 'error',
        message: 'an item action failed on configmaps shop/a: no luck',
        resource: 'configmaps',
        namespace: 'shop',
        name: 'a',
      },
    ]);
  });

  it('reports progress when the resource changes and at each hundredth item, and a final count', async () => {
    const w = writer();
    const names = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => ({ name: `cm-${from + i}`, namespace: 'shop' }));
    const list = w.items.beginList(configmaps);
    // The first page announces the list: 60 items here, 90 in later pages.
    await w.items.writeRawPage(list, page(names(0, 60)), 90);
    await w.items.writeRawPage(list, page(names(60, 90)), undefined);
    await w.items.writeRawPage(list, page(names(90, 150)), undefined);
    await w.items.write(w.items.beginList(claims), {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: 'shop' },
    });
    const { progress } = w.items.finish();
    assert.deepEqual(progress, { itemsBackedUp: 151, totalItems: 151 });
    assert.deepEqual(
      w.progress.map((p) => [p.itemsBackedUp, p.totalItems, p.currentResource, p.final]),
      [
        [60, 150, 'configmaps', false],
        [150, 150, 'configmaps', false],
        [151, 151, 'persistentvolumeclaims', false],
        [151, 151, undefined, true],
      ],
    );
  });
});

describe('the resource list', () => {
  it('names each resource that has items by group version and kind, keys and names sorted', () => {
    const list = new ResourceList();
    list.of(volumes).push('pv-b', 'pv-a');
    list.of(configmaps).push('shop/z', 'other/a');
    list.of(configmaps).push('shop/b');
    assert.deepEqual(
      JSON.stringify(list.sorted()),
      JSON.stringify({
        'v1/ConfigMap': ['other/a', 'shop/b', 'shop/z'],
        'v1/PersistentVolume': ['pv-a', 'pv-b'],
      }),
    );
  });
});
