// The backup engine against the testbed cluster: what lands in the archive, at which paths, at which
// revision, for each kind of filter. The archive is read back with the archive reader.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ArchiveWriter, readArchive, type ArchiveItem } from '../../src/archive/index.ts';
import {
  compileSelection,
  runBackupEngine,
  type BackupOutcome,
  type BackupProgress,
  type SelectionSpec,
} from '../../src/backup/index.ts';
import { discover, ResourceMapper, type KubeClient, type KubeObject } from '../../src/kube/index.ts';
import { createApp, deleteAppClusterObjects, type App } from '../helpers/app.ts';
import { clusterClient, eventually, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;
let app: App;
let other: string;

before(() => {
  client = clusterClient('a');
});

async function backup(
  spec: SelectionSpec,
  options: { consistency?: 'snapshot' | 'best-effort'; copyRawItems?: boolean } = {},
) {
  const mapper = new ResourceMapper((await discover(client)).resources);
  const { selection, problems } = compileSelection(spec, mapper);
  assert.deepEqual(problems, []);
  assert.ok(selection);
  const archive = new ArchiveWriter({ now: () => new Date('2026-11-25T00:00:00Z') });
  const chunks: Buffer[] = [];
  archive.stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  const progress: BackupProgress[] = [];
  const outcome: BackupOutcome = await runBackupEngine({
    client,
    mapper,
    selection,
    consistency: options.consistency ?? 'snapshot',
    archive,
    pageSize: 3,
    copyRawItems: options.copyRawItems,
    onProgress: (p) => progress.push(p),
  });
  await archive.finish();
  const items: ArchiveItem[] = [];
  for await (const item of readArchive(Readable.from(Buffer.concat(chunks)))) items.push(item);
  return { outcome, items, progress, paths: items.map((i) => i.path) };
}

const has = (paths: string[], path: string) =>
  assert.ok(paths.includes(path), `${path} missing from:\n${paths.join('\n')}`);
const lacks = (paths: string[], prefix: string) =>
  assert.ok(
    !paths.some((p) => p.startsWith(prefix)),
    `nothing under ${prefix} expected; got ${paths.filter((p) => p.startsWith(prefix)).join(', ')}`,
  );

describe('the backup engine', () => {
  before(async () => {
    // Shared by the tests of this file: one app, and a second namespace that must stay out of backups.
    const ns = `shop-${Math.random().toString(16).slice(2, 8)}`;
    await client.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: ns } } });
    app = await createApp(client, ns);
    other = `other-${Math.random().toString(16).slice(2, 8)}`;
    await client.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: other } } });
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${other}/configmaps`,
      body: { metadata: { name: 'elsewhere' } },
    });
  });

  it('backs up a namespace: its objects, its Namespace object, and the cluster objects they use', async () => {
    const { outcome, paths, items } = await backup({ includedNamespaces: [app.namespace] });
    const ns = app.namespace;
    assert.equal(outcome.phase, 'Completed', JSON.stringify(outcome.results));
    for (const path of [
      `resources/namespaces/cluster/${ns}.json`,
      `resources/namespaces/v1-preferredversion/cluster/${ns}.json`,
      `resources/configmaps/namespaces/${ns}/settings.json`,
      `resources/secrets/namespaces/${ns}/db-password.json`,
      `resources/serviceaccounts/namespaces/${ns}/shop.json`,
      `resources/roles.rbac.authorization.k8s.io/namespaces/${ns}/shop.json`,
      `resources/rolebindings.rbac.authorization.k8s.io/namespaces/${ns}/shop.json`,
      `resources/deployments.apps/namespaces/${ns}/web.json`,
      `resources/deployments.apps/v1-preferredversion/namespaces/${ns}/web.json`,
      `resources/services/namespaces/${ns}/web.json`,
      `resources/persistentvolumeclaims/namespaces/${ns}/data.json`,
      `resources/pods/namespaces/${ns}/db.json`,
      `resources/widgets.${app.crdGroup}/namespaces/${ns}/blue.json`,
      `resources/widgets.${app.crdGroup}/namespaces/${ns}/green.json`,
      // Related cluster-scoped objects follow: the claim's volume and the widgets' definition.
      `resources/persistentvolumes/cluster/${app.pv}.json`,
      `resources/customresourcedefinitions.apiextensions.k8s.io/cluster/widgets.${app.crdGroup}.json`,
    ]) {
      has(paths, path);
    }
    lacks(paths, `resources/configmaps/namespaces/${other}/`);
    lacks(paths, `resources/namespaces/cluster/${other}.json`);
    lacks(paths, 'resources/clusterroles.rbac.authorization.k8s.io/');
    lacks(paths, 'resources/events');

    const deployment = items.find((i) => i.path === `resources/deployments.apps/namespaces/${ns}/web.json`)
      ?.object as KubeObject;
    assert.equal(deployment.apiVersion, 'apps/v1');
    assert.equal(deployment.kind, 'Deployment');
    assert.ok(deployment.metadata.uid, 'the object is stored as read, uid included');
    assert.deepEqual(outcome.resourceList['apps/v1/Deployment'], [`${ns}/web`]);
    assert.equal(outcome.progress.itemsBackedUp, items.filter((i) => i.version === undefined).length);
  });

  it('brings a pod’s claim and its volume even when only pods are included', async () => {
    const { paths } = await backup({ includedNamespaces: [app.namespace], includedResources: ['pods'] });
    const ns = app.namespace;
    has(paths, `resources/pods/namespaces/${ns}/db.json`);
    has(paths, `resources/persistentvolumeclaims/namespaces/${ns}/data.json`);
    has(paths, `resources/persistentvolumes/cluster/${app.pv}.json`);
    lacks(paths, 'resources/configmaps/');
    lacks(paths, 'resources/deployments.apps/');
  });

  it('leaves related cluster objects out with includeClusterResources=false, and adds all with true', async () => {
    const without = await backup({ includedNamespaces: [app.namespace], includeClusterResources: false });
    lacks(without.paths, 'resources/persistentvolumes/');
    lacks(without.paths, 'resources/customresourcedefinitions.apiextensions.k8s.io/');
    has(without.paths, `resources/namespaces/cluster/${app.namespace}.json`);

    const withAll = await backup({ includedNamespaces: [app.namespace], includeClusterResources: true });
    has(withAll.paths, `resources/clusterroles.rbac.authorization.k8s.io/cluster/${app.clusterRole}.json`);
    lacks(withAll.paths, 'resources/nodes/');
  });

  it('filters by label selector, and by either of orLabelSelectors', async () => {
    const ns = app.namespace;
    const shop = await backup({ includedNamespaces: [ns], labelSelector: 'app=shop' });
    has(shop.paths, `resources/configmaps/namespaces/${ns}/settings.json`);
    has(shop.paths, `resources/namespaces/cluster/${ns}.json`); // the namespace itself carries no such label
    lacks(shop.paths, `resources/pods/namespaces/${ns}/db.json`);
    // The widgets match; their definition does not carry the label, and comes with them (as Velero's).
    has(shop.paths, `resources/widgets.${app.crdGroup}/namespaces/${ns}/blue.json`);
    has(
      shop.paths,
      `resources/customresourcedefinitions.apiextensions.k8s.io/cluster/widgets.${app.crdGroup}.json`,
    );
    const either = await backup({ includedNamespaces: [ns], orLabelSelectors: ['app=shop', 'app=db'] });
    has(either.paths, `resources/pods/namespaces/${ns}/db.json`);
    has(either.paths, `resources/configmaps/namespaces/${ns}/settings.json`);
  });

  it("holds, with a selector, only the Namespace objects of the selected items' namespaces, as Velero", async (t) => {
    const label = `pick-${uniqueSuffix()}`;
    const picked = await testNamespace(t, client, 'picked');
    const untouched = await testNamespace(t, client, 'untouched');
    const labelled = await testNamespace(t, client, 'labelled');
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${picked}/configmaps`,
      body: { metadata: { name: 'chosen', labels: { [label]: 'yes' } } },
    });
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${untouched}/configmaps`,
      body: { metadata: { name: 'not-chosen' } },
    });
    // A namespace whose own labels match: Velero keeps it, though no item of it matches.
    await client.json({
      method: 'PATCH',
      path: `/api/v1/namespaces/${labelled}`,
      contentType: 'application/merge-patch+json',
      body: { metadata: { labels: { [label]: 'yes' } } },
    });
    const namespacesIn = (paths: string[]) =>
      paths
        .filter((p) => p.startsWith('resources/namespaces/cluster/'))
        .map((p) => p.slice('resources/namespaces/cluster/'.length, -'.json'.length))
        .sort();

    const everywhere = await backup({ labelSelector: `${label}=yes` });
    has(everywhere.paths, `resources/configmaps/namespaces/${picked}/chosen.json`);
    assert.deepEqual(namespacesIn(everywhere.paths), [labelled, picked].sort());
    assert.deepEqual(everywhere.outcome.resourceList['v1/Namespace'], [labelled, picked].sort());

    // Named namespaces are kept whether or not an item of them matches (Velero's union of both).
    const named = await backup({ includedNamespaces: [picked, untouched], labelSelector: `${label}=yes` });
    assert.deepEqual(namespacesIn(named.paths), [picked, untouched].sort());
    lacks(named.paths, `resources/configmaps/namespaces/${untouched}/`);

    // A namespace the filters exclude never comes in through its labels.
    const excluded = await backup({ excludedNamespaces: [labelled], labelSelector: `${label}=yes` });
    assert.deepEqual(namespacesIn(excluded.paths), [picked]);
  });

  it('leaves out what carries an exclude-from-backup label set to true (Velero’s or Cairn’s), and a namespace so labelled whole', async (t) => {
    const ns = await testNamespace(t, client, 'excl');
    const gone = await testNamespace(t, client, 'excl-ns');
    const cm = (namespace: string, name: string, labels: Record<string, string>) =>
      client.json({
        method: 'POST',
        path: `/api/v1/namespaces/${namespace}/configmaps`,
        body: { metadata: { name, labels: { app: 'x', ...labels } } },
      });
    await cm(ns, 'kept', {});
    await cm(ns, 'kept-false', { 'velero.io/exclude-from-backup': 'false' });
    await cm(ns, 'by-velero', { 'velero.io/exclude-from-backup': 'true' });
    await cm(ns, 'by-cairn', { 'cairn.dev/exclude-from-backup': 'true' });
    await cm(gone, 'inside', {});
    await client.json({
      method: 'PATCH',
      path: `/api/v1/namespaces/${gone}`,
      contentType: 'application/merge-patch+json',
      body: { metadata: { labels: { 'velero.io/exclude-from-backup': 'true' } } },
    });
    const configMaps = (paths: string[], namespace: string) =>
      paths
        .filter((p) => p.startsWith(`resources/configmaps/namespaces/${namespace}/`))
        .map((p) => p.slice(p.lastIndexOf('/') + 1, -'.json'.length))
        .filter((name) => name !== 'kube-root-ca.crt')
        .sort();
    // Raw copies (one list, no selector), parsed items (two selectors), and items parsed throughout.
    const cases: [string, SelectionSpec, { copyRawItems?: boolean }][] = [
      ['raw', { includedNamespaces: [ns, gone] }, {}],
      ['selectors', { includedNamespaces: [ns, gone], orLabelSelectors: ['app=x', 'app=y'] }, {}],
      ['parsed', { includedNamespaces: [ns, gone] }, { copyRawItems: false }],
    ];
    for (const [how, spec, options] of cases) {
      const { paths, outcome } = await backup(spec, options);
      assert.equal(outcome.phase, 'Completed', how);
      assert.deepEqual(configMaps(paths, ns), ['kept', 'kept-false'], how);
      assert.deepEqual(configMaps(paths, gone), [], `${how}: nothing of the labelled namespace`);
      lacks(paths, `resources/namespaces/cluster/${gone}.json`);
      has(paths, `resources/namespaces/cluster/${ns}.json`);
      assert.deepEqual(
        outcome.resourceList['v1/ConfigMap']?.filter((n) => !n.endsWith('kube-root-ca.crt')).sort(),
        [`${ns}/kept`, `${ns}/kept-false`],
      );
    }
  });

  it('excludes secrets by name or by includeSecrets=false', async () => {
    for (const spec of [{ excludedResources: ['secret'] }, { includeSecrets: false }]) {
      const { paths } = await backup({ includedNamespaces: [app.namespace], ...spec });
      lacks(paths, 'resources/secrets/');
      has(paths, `resources/configmaps/namespaces/${app.namespace}/settings.json`);
    }
  });

  it('reports progress that ends at the number of items written', async () => {
    const { progress, outcome } = await backup({ includedNamespaces: [app.namespace] });
    const last = progress.at(-1);
    assert.deepEqual(last && { done: last.itemsBackedUp, total: last.totalItems }, {
      done: outcome.progress.itemsBackedUp,
      total: outcome.progress.itemsBackedUp,
    });
    assert.ok(progress.some((p) => p.currentResource === 'deployments.apps'));
  });

  it('counts only items it writes: a total that only grows to its final count, names only resources it holds', async (t) => {
    // Eleven namespaces: more than ten are listed cluster-wide and kept to the backup's namespaces on this
    // side, so the API server's count of such a list is not the backup's.
    const prefix = `prog${uniqueSuffix()}`;
    for (let i = 0; i < 11; i++) {
      const ns = `${prefix}-${i}`;
      await client.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: ns } } });
      t.after(async () => {
        await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
      });
      await client.json({
        method: 'POST',
        path: `/api/v1/namespaces/${ns}/configmaps`,
        body: { metadata: { name: 'settings' }, data: { n: String(i) } },
      });
    }
    const { progress, outcome, paths } = await backup({ includedNamespaces: [`${prefix}-*`] });
    const final = outcome.progress.itemsBackedUp;
    assert.ok(final >= 22, `${final} items`); // a ConfigMap and a Namespace each, at least
    for (const [i, p] of progress.entries()) {
      assert.ok(
        p.totalItems <= final,
        `report ${i}: ${p.itemsBackedUp}/${p.totalItems} of ${final} in the end`,
      );
      assert.ok(p.itemsBackedUp <= p.totalItems);
      if (i > 0) assert.ok(p.totalItems >= (progress[i - 1]?.totalItems ?? 0), 'the total only grows');
      assert.equal(p.final, i === progress.length - 1, 'final only at the end');
    }
    const held = new Set(paths.map((path) => path.split('/')[1]));
    for (const p of progress)
      if (p.currentResource)
        assert.ok(held.has(p.currentResource), `${p.currentResource} named, none backed up`);
  });

  it('writes the same objects whether it copies list items raw or parses and encodes them', async () => {
    const raw = await backup({ includedNamespaces: [app.namespace] });
    const parsed = await backup({ includedNamespaces: [app.namespace] }, { copyRawItems: false });
    assert.equal(raw.outcome.phase, 'Completed');
    assert.equal(parsed.outcome.phase, 'Completed');
    // The same paths in the same order, and at each path the same object (key order aside). Objects that
    // changed between the two backups (a controller's status) are compared by everything but that.
    assert.deepEqual(raw.paths, parsed.paths);
    const comparable = (o: unknown) => {
      const object = structuredClone(o) as KubeObject & { status?: unknown };
      delete object.metadata.resourceVersion;
      delete object.metadata.managedFields;
      delete object.status;
      return object;
    };
    let copiedRaw = 0;
    for (const [i, item] of raw.items.entries()) {
      const other = parsed.items[i]!;
      assert.deepEqual(comparable(item.object), comparable(other.object), item.path);
      // Raw copies keep the API server's own bytes behind apiVersion and kind, so they start with them.
      if (Object.keys(item.object as object)[0] === 'apiVersion') copiedRaw++;
    }
    assert.ok(copiedRaw > 0, 'no item was copied raw');
    const configMap = raw.items.find((i) => i.path.endsWith(`/namespaces/${app.namespace}/settings.json`));
    assert.deepEqual(Object.keys(configMap?.object as object).slice(0, 3), [
      'apiVersion',
      'kind',
      'metadata',
    ]);
  });

  it('writes every object as it was at one revision while a writer keeps changing the namespace', async (t) => {
    const ns = await testNamespace(t, client, 'busy');
    for (let i = 0; i < 20; i++) {
      await client.json({
        method: 'POST',
        path: `/api/v1/namespaces/${ns}/configmaps`,
        body: { metadata: { name: `c${i}` }, data: { v: '0' } },
      });
    }
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      while (writing) {
        await client.json({
          method: 'PATCH',
          path: `/api/v1/namespaces/${ns}/configmaps/c${writes % 20}`,
          contentType: 'application/merge-patch+json',
          body: { data: { v: String(writes + 1) } },
        });
        await client.json({
          method: 'POST',
          path: `/api/v1/namespaces/${ns}/configmaps`,
          body: { metadata: { name: `new${writes}` } },
        });
        writes++;
      }
    })();
    t.after(async () => {
      writing = false;
      await writer;
    });
    while (writes < 5) await new Promise((r) => setTimeout(r, 10));
    const { outcome, items } = await backup({ includedNamespaces: [ns], includedResources: ['configmaps'] });
    writing = false;
    await writer;
    const revision = BigInt(outcome.consistency.revision ?? '0');
    const ours = items
      .filter((i) => i.version === undefined && i.groupResource === 'configmaps')
      .map((i) => i.object as KubeObject);
    assert.ok(writes > 5, `writer made ${writes} changes`);
    for (const cm of ours) {
      assert.ok(
        BigInt(cm.metadata.resourceVersion ?? '0') <= revision,
        `${cm.metadata.name} at ${cm.metadata.resourceVersion} > ${revision}`,
      );
    }
    // Every configmap that existed at the revision is there, none created after it.
    const names = new Set(ours.map((c) => c.metadata.name));
    for (let i = 0; i < 20; i++) assert.ok(names.has(`c${i}`));
    assert.deepEqual(outcome.consistency.bestEffortResources, []);
  });

  it('lists at the latest state in best-effort mode and records no revision', async () => {
    const { outcome } = await backup(
      { includedNamespaces: [app.namespace], includedResources: ['configmaps'] },
      { consistency: 'best-effort' },
    );
    assert.equal(outcome.consistency.revision, undefined);
    assert.equal(outcome.consistency.mode, 'best-effort');
  });

  it('warns that a pod’s backup-hook annotation would not run as written, and completes', async (t) => {
    const ns = await testNamespace(t, client, 'annot');
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/pods`,
      body: {
        metadata: {
          name: 'db',
          annotations: {
            'backup.velero.io/backup-volumes': 'data',
            'pre.hook.backup.velero.io/comand': '["/bin/sh","-c","sync"]',
            'post.hook.restore.velero.io/command': '["/bin/sh","-c","sync"]',
          },
        },
        spec: {
          containers: [{ name: 'db', image: 'postgres:17' }],
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      },
    });
    const { outcome, paths } = await backup({ includedNamespaces: [ns] });
    assert.equal(outcome.phase, 'Completed');
    has(paths, `resources/pods/namespaces/${ns}/db.json`);
    // The typo is named; the restore hook is the restore's to read, so nothing is said of it here.
    const warnings = outcome.results.warnings.namespaces?.[ns] ?? [];
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.match(
      warnings[0] ?? '',
      new RegExp(
        `^pod ${ns}/db: annotation pre\\.hook\\.backup\\.velero\\.io/comand is not a hook field \\(`,
      ),
    );
  });

  it('warns, and completes, when a resource stops being served during the backup', async (t) => {
    const ns = await testNamespace(t, client, 'gone');
    const group = `gone${uniqueSuffix()}.cairn.example.com`;
    const crdPath = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/things.${group}`;
    await client.json({
      method: 'POST',
      path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      body: {
        metadata: { name: `things.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural: 'things', singular: 'thing', kind: 'Thing' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
            },
          ],
        },
      },
    });
    const mapper = await eventually('discovery to serve things', async () => {
      const m = new ResourceMapper((await discover(client)).resources);
      return m.byGroupResource(`things.${group}`) ? m : undefined;
    });
    const { selection } = compileSelection({ includedNamespaces: [ns] }, mapper);
    assert.ok(selection);
    // The CRD goes away after discovery, before the backup lists it.
    await client.json({ method: 'DELETE', path: crdPath });
    await eventually('things to stop being served', async () =>
      (await client.send({ path: `/apis/${group}/v1/namespaces/${ns}/things` })).status === 404
        ? true
        : undefined,
    );
    const archive = new ArchiveWriter({ now: () => new Date() });
    archive.stream.resume();
    const outcome = await runBackupEngine({ client, mapper, selection, consistency: 'snapshot', archive });
    await archive.finish();
    assert.equal(outcome.phase, 'Completed');
    assert.deepEqual(outcome.results.warnings.cluster, [
      `things.${group} is no longer served by the cluster; nothing of it was backed up`,
    ]);
  });

  after(async () => {
    await deleteAppClusterObjects(client, app);
    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${app.namespace}` });
    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${other}` });
  });
});
