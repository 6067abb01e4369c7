// Restores against the testbed's clusters: a deleted namespace brought back object by object, a migration
// into the second cluster, each conflict policy, mappings, restore-status, dry runs, and bad input.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { readArchive } from '../../src/archive/index.ts';
import { createBackup } from '../../src/backup/index.ts';
import { discover, ResourceMapper, type KubeClient, type KubeObject } from '../../src/kube/index.ts';
import {
  comparable,
  createRestore,
  RESTORE_BACKUP_LABEL,
  RESTORE_NAME_LABEL,
  RestoreSourceError,
  RestoreValidationError,
  type TransformOptions,
} from '../../src/restore/index.ts';
import type { Backup, RestoreSpec } from '../../src/api/index.ts';
import {
  BackupStore,
  FilesystemStore,
  generateLocationKey,
  MemoryStore,
  RestoreStore,
  backupKeys,
  manifestBytes,
  type ChecksumManifest,
} from '../../src/storage/index.ts';
import { addRestoreExtras, createApp, deleteAppClusterObjects, type App } from '../helpers/app.ts';
import { flip, rejection } from '../helpers/bytes.ts';
import { Outcomes, recordReliability } from '../helpers/reliability.ts';
import { clusterClient, eventually, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';
import { veleroBucket } from '../helpers/velero-fixture.ts';

let a: KubeClient;
let b: KubeClient;
let work: string;
let backups: BackupStore;

before(async () => {
  a = clusterClient('a');
  b = clusterClient('b');
  work = await mkdtemp(join(tmpdir(), 'cairn-restore-test-'));
  backups = new BackupStore({
    location: 'default',
    store: new FilesystemStore({ root: join(work, 'location') }),
    key: generateLocationKey(),
  });
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function backup(client: KubeClient, namespaces: string[], extra: Partial<RestoreSpec> = {}) {
  const name = `b-${uniqueSuffix()}`;
  const result = await createBackup({
    client,
    name,
    spec: { includedNamespaces: namespaces, ...extra },
    stores: [backups],
    now: () => new Date(),
    writer: 'cairn test',
    uid: `uid-${name}`,
  });
  assert.equal(result.status?.phase, 'Completed', JSON.stringify(result.status));
  return name;
}

function restore(
  client: KubeClient,
  spec: RestoreSpec,
  options: { name?: string; store?: BackupStore } = {},
) {
  return createRestore({
    client,
    name: options.name ?? `r-${uniqueSuffix()}`,
    spec,
    backups: options.store ?? backups,
    records: new RestoreStore(new MemoryStore()),
    now: () => new Date(),
    uid: 'uid',
    concurrency: 8,
  });
}

async function deleteNamespace(client: KubeClient, name: string): Promise<void> {
  await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${name}` });
  await eventually(
    `namespace ${name} to be gone`,
    async () =>
      (await client.send({ path: `/api/v1/namespaces/${name}` })).status === 404 ? true : undefined,
    120_000,
  );
}

/** The preferred-version items of a backup's archive. */
async function archiveItems(name: string): Promise<{ groupResource: string; object: KubeObject }[]> {
  const items: { groupResource: string; object: KubeObject }[] = [];
  for await (const item of readArchive(await backups.openFile(name, 'archive')))
    if (item.preferred) items.push({ groupResource: item.groupResource, object: item.object as KubeObject });
  return items;
}

async function pathOf(
  client: KubeClient,
  groupResource: string,
  namespace: string | undefined,
  name: string,
) {
  const mapper = new ResourceMapper((await discover(client)).resources);
  const resource = mapper.byGroupResource(groupResource);
  assert.ok(resource, `the cluster serves ${groupResource}`);
  const base =
    resource.group === '' ? `/api/${resource.version}` : `/apis/${resource.group}/${resource.version}`;
  return `${base}${namespace && resource.namespaced ? `/namespaces/${namespace}` : ''}/${resource.resource}/${name}`;
}

const noMapping: TransformOptions = {
  namespaceMapping: new Map(),
  storageClassMapping: new Map(),
  preserveNodePorts: false,
  // comparable() leaves out the labels the restore adds (their keys are what counts).
  restoreLabels: { [RESTORE_BACKUP_LABEL]: '', [RESTORE_NAME_LABEL]: '' },
};

/** Kinds whose objects the restored controllers recreate (they are left out of the restore). */
const controllerOwned = (object: KubeObject) =>
  (object.metadata.ownerReferences ?? []).some(
    (o: { controller?: boolean; kind: string }) =>
      o.controller === true &&
      ['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Service'].includes(o.kind),
  );

/** Endpoints the endpoints controller wrote for a Service with a selector (left to it by a restore). */
const endpointsControllerMade = (item: { groupResource: string; object: KubeObject }) =>
  (item.groupResource === 'endpoints' &&
    item.object.metadata.labels?.['endpoints.kubernetes.io/managed-by'] === 'endpoint-controller') ||
  (item.groupResource === 'endpointslices.discovery.k8s.io' &&
    ['endpointslice-controller.k8s.io', 'endpointslicemirroring-controller.k8s.io'].includes(
      item.object.metadata.labels?.['endpointslice.kubernetes.io/managed-by'] ?? '',
    ));

/** Asserts that every restorable object of the backup is live in `client`'s cluster, equal after the reset rules. */
async function assertRestored(
  client: KubeClient,
  backupName: string,
  options: TransformOptions = noMapping,
  skip: (item: { groupResource: string; object: KubeObject }) => boolean = () => false,
) {
  let compared = 0;
  for (const item of await archiveItems(backupName)) {
    if (controllerOwned(item.object) || endpointsControllerMade(item) || skip(item)) continue;
    // Published by each cluster into each namespace: never restored.
    if (item.groupResource === 'configmaps' && item.object.metadata.name === 'kube-root-ca.crt') continue;
    const source = item.object.metadata.namespace;
    const target = source === undefined ? undefined : (options.namespaceMapping.get(source) ?? source);
    const name =
      item.groupResource === 'namespaces'
        ? (options.namespaceMapping.get(item.object.metadata.name) ?? item.object.metadata.name)
        : item.object.metadata.name;
    const live = await client.json<KubeObject>({
      path: await pathOf(client, item.groupResource, target, name),
    });
    assert.deepEqual(
      comparable(item.groupResource, live, options),
      comparable(item.groupResource, item.object, options),
      `${item.groupResource} ${target ?? ''}/${name} equals the backup after the reset rules`,
    );
    compared += 1;
  }
  return compared;
}

describe('restoring a deleted namespace', () => {
  let app: App;
  let ns: string;
  let name: string;

  before(async () => {
    ns = `shop-${uniqueSuffix()}`;
    await a.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: ns } } });
    app = await createApp(a, ns);
    await addRestoreExtras(a, ns);
    // The controllers make the Deployment's replica set and pods, the StatefulSet's pod and claim.
    await eventually('the deployment to have a replica set', async () => {
      const list = await a.json<{ items: unknown[] }>({ path: `/apis/apps/v1/namespaces/${ns}/replicasets` });
      return list.items.length > 0 ? true : undefined;
    });
    // The endpoint slice mirroring controller mirrors the Endpoints written for external-db.
    await eventually('the mirrored endpoint slice of external-db', async () => {
      const list = await a.json<{ items: unknown[] }>({
        path: `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dexternal-db`,
      });
      return list.items.length > 0 ? true : undefined;
    });
    name = await backup(a, [ns]);
    await deleteNamespace(a, ns);
    await deleteAppClusterObjects(a, app);
    await eventually('the custom resource definition to be gone', async () =>
      (
        await a.send({
          path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.${app.crdGroup}`,
        })
      ).status === 404
        ? true
        : undefined,
    );
  });
  after(async () => {
    await a.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
    await deleteAppClusterObjects(a, app);
  });

  it('brings every object back, equal to the backup after the reset rules, and leaves owned objects to their controllers', async () => {
    const { restore: result, plan } = await restore(a, { backupName: name });
    assert.equal(result.status?.phase, 'Completed', JSON.stringify(result.status));
    const compared = await assertRestored(a, name);
    assert.ok(compared >= 15, `${compared} objects compared`);
    const skipped = plan
      .filter((p) => p.outcome === 'skipped')
      .map((p) => `${p.groupResource}: ${p.reason ?? ''}`);
    assert.ok(
      skipped.some((s) => s.startsWith('replicasets.apps: left to its controller, Deployment web')),
      skipped.join('\n'),
    );
    // The endpoints controller's Endpoints are left to it; the ones a user wrote are restored.
    assert.ok(
      skipped.includes('endpoints: made by the endpoints controller for Service web-public'),
      skipped.join('\n'),
    );
    const external = plan.find((p) => p.groupResource === 'endpoints' && p.name === 'external-db');
    assert.equal(external?.outcome, 'created', JSON.stringify(external));
    assert.ok(
      skipped.includes(
        'endpointslices.discovery.k8s.io: made by the endpoint slice mirroring controller for Service external-db',
      ),
      skipped.join('\n'),
    );
    // The CRD came first and was Established before its custom objects; the claim binds to the restored volume.
    const widget = await a.json<KubeObject>({
      path: `/apis/${app.crdGroup}/v1/namespaces/${ns}/widgets/blue`,
    });
    assert.equal((widget.spec as { color: string }).color, 'blue');
    assert.equal(widget.metadata.labels?.['cairn.dev/restore-name'], result.metadata.name);
    await eventually('the restored claim to bind to the restored volume', async () => {
      const pvc = await a.json<KubeObject>({ path: `/api/v1/namespaces/${ns}/persistentvolumeclaims/data` });
      return (pvc.status as { phase?: string }).phase === 'Bound' ? true : undefined;
    });
    // A NodePort Service gets a fresh port and cluster IP, not the backed-up ones.
    const svc = await a.json<KubeObject>({ path: `/api/v1/namespaces/${ns}/services/web-public` });
    assert.ok((svc.spec as { clusterIP: string }).clusterIP, 'a cluster IP was allocated');
  });

  it('leaves everything unchanged when the same backup is restored again', async () => {
    const { restore: result, plan } = await restore(a, { backupName: name });
    assert.equal(result.status?.phase, 'Completed');
    assert.equal(
      result.status?.counts?.created,
      0,
      JSON.stringify(plan.filter((p) => p.outcome === 'created')),
    );
    assert.ok((result.status?.counts?.unchanged ?? 0) > 10);
  });
});

describe('migrating into another cluster', () => {
  it('restores a backup of cluster a into cluster b, equal after the reset rules', async (t) => {
    const ns = `mig-${uniqueSuffix()}`;
    await a.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: ns } } });
    const app = await createApp(a, ns);
    t.after(async () => {
      for (const client of [a, b]) {
        await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
        await deleteAppClusterObjects(client, app);
      }
    });
    const name = await backup(a, [ns]);
    const { restore: result } = await restore(b, { backupName: name });
    assert.equal(result.status?.phase, 'Completed', JSON.stringify(result.status));
    assert.ok((await assertRestored(b, name)) >= 10);
  });

  it('uses another version the backup has when the target does not serve the backed-up one, and names the items it cannot restore', async (t) => {
    // Velero's fixture has widgets.example.com in v2 (preferred) and v1; cluster b serves only v1.
    const store = new MemoryStore();
    const location = new BackupStore({ location: 'velero', store });
    for (const [key, bytes] of veleroBucket('velero-fixture')) await store.put(key, bytes);
    const crd = 'widgets.example.com';
    await b
      .json({
        method: 'POST',
        path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
        body: {
          metadata: { name: crd },
          spec: {
            group: 'example.com',
            scope: 'Namespaced',
            names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
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
      })
      .catch(() => undefined);
    const target = `velero-${uniqueSuffix()}`;
    t.after(async () => {
      await b.send({ method: 'DELETE', path: `/api/v1/namespaces/${target}` });
    });
    await eventually('widgets v1 to be served', async () =>
      (await b.send({ path: '/apis/example.com/v1/widgets' })).status === 200 ? true : undefined,
    );
    const { restore: result, plan } = await restore(
      b,
      { backupName: 'velero-fixture', namespaceMapping: { shop: target }, includeClusterResources: false },
      { store: location },
    );
    const widgets = plan.filter((p) => p.groupResource === crd);
    assert.ok(widgets.length > 0, 'the widgets were restored');
    for (const w of widgets) assert.equal(w.outcome, 'created', JSON.stringify(w));
    const live = await b.json<KubeObject>({ path: `/apis/example.com/v1/namespaces/${target}/widgets` });
    assert.ok(((live as unknown as { items: KubeObject[] }).items ?? []).length > 0);
    // Every namespaced object of Velero's archive is created: secret, config map, service, deployment, claim.
    assert.equal(result.status?.phase, 'Completed', JSON.stringify(result.status));
    const namespaced = plan.filter((p) => p.namespace === target);
    assert.deepEqual(
      namespaced.filter((p) => p.outcome !== 'created'),
      [],
      'every namespaced item is created',
    );
    assert.ok(
      ['configmaps', 'secrets', 'services', 'deployments.apps', 'persistentvolumeclaims'].every((gr) =>
        namespaced.some((p) => p.groupResource === gr),
      ),
      JSON.stringify(namespaced),
    );
  });
});

describe('conflict policies', () => {
  async function setup(t: TestContext) {
    const ns = await testNamespace(t, a, 'conf');
    const cm = (data: Record<string, string>) => ({ metadata: { name: 'settings' }, data });
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: cm({ mode: 'backed-up' }),
    });
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { metadata: { name: 'same' }, data: { x: '1' } },
    });
    const name = await backup(a, [ns]);
    const live = await a.json<KubeObject>({ path: `/api/v1/namespaces/${ns}/configmaps/settings` });
    await a.json({
      method: 'PUT',
      path: `/api/v1/namespaces/${ns}/configmaps/settings`,
      body: { ...live, data: { mode: 'changed-since' } },
    });
    const modeOf = async () =>
      (
        (await a.json<KubeObject>({ path: `/api/v1/namespaces/${ns}/configmaps/settings` })).data as {
          mode: string;
        }
      ).mode;
    return { ns, name, modeOf };
  }

  it('skip-on-conflict keeps the live object and warns that it differs', async (t) => {
    const { ns, name, modeOf } = await setup(t);
    const { restore: result, plan } = await restore(a, { backupName: name, includedNamespaces: [ns] });
    assert.equal(result.status?.phase, 'Completed');
    assert.equal(await modeOf(), 'changed-since');
    const settings = plan.find((p) => p.name === 'settings');
    assert.equal(settings?.outcome, 'skipped');
    assert.ok(settings?.diff?.some((d) => d.path === '/data/mode'));
    assert.equal(plan.find((p) => p.name === 'same')?.outcome, 'unchanged');
    assert.equal(result.status?.warnings, 1);
  });

  it('fail-on-conflict makes the item an error and the restore PartiallyFailed', async (t) => {
    const { ns, name, modeOf } = await setup(t);
    const { restore: result, plan } = await restore(a, {
      backupName: name,
      includedNamespaces: [ns],
      namespacedConflictPolicy: 'fail-on-conflict',
    });
    assert.equal(result.status?.phase, 'PartiallyFailed');
    assert.equal(plan.find((p) => p.name === 'settings')?.outcome, 'failed');
    assert.equal(await modeOf(), 'changed-since');
  });

  it('update-on-conflict replaces the live object with the backup', async (t) => {
    const { ns, name, modeOf } = await setup(t);
    const { restore: result, plan } = await restore(a, {
      backupName: name,
      includedNamespaces: [ns],
      namespacedConflictPolicy: 'update-on-conflict',
    });
    assert.equal(result.status?.phase, 'Completed');
    assert.equal(plan.find((p) => p.name === 'settings')?.outcome, 'updated');
    assert.equal(await modeOf(), 'backed-up');
  });

  it('delete-and-restore deletes the namespace first, then restores it whole', async (t) => {
    const { ns, name, modeOf } = await setup(t);
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { metadata: { name: 'created-after-backup' } },
    });
    const { restore: result, plan } = await restore(a, {
      backupName: name,
      includedNamespaces: [ns],
      namespacedConflictPolicy: 'delete-and-restore',
    });
    assert.equal(result.status?.phase, 'Completed', JSON.stringify(result.status));
    assert.equal(plan[0]?.outcome, 'deleted');
    assert.equal(await modeOf(), 'backed-up');
    assert.equal(
      (await a.send({ path: `/api/v1/namespaces/${ns}/configmaps/created-after-backup` })).status,
      404,
    );
  });

  it('use-existing-version keeps a live cluster-scoped object, use-backup-version replaces it', async (t) => {
    const role = `conf-${uniqueSuffix()}`;
    const path = `/apis/rbac.authorization.k8s.io/v1/clusterroles/${role}`;
    await a.json({
      method: 'POST',
      path: '/apis/rbac.authorization.k8s.io/v1/clusterroles',
      body: { metadata: { name: role }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] },
    });
    t.after(async () => {
      await a.send({ method: 'DELETE', path });
    });
    const name = await backup(a, ['kube-system'], {
      includedResources: ['clusterroles'],
      includeClusterResources: true,
    });
    const live = await a.json<KubeObject>({ path });
    await a.json({
      method: 'PUT',
      path,
      body: { ...live, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }] },
    });
    const verbs = async () => ((await a.json<KubeObject>({ path })).rules as { verbs: string[] }[])[0]?.verbs;
    const spec = { backupName: name, includedResources: ['clusterroles'], includeClusterResources: true };
    await restore(a, spec);
    assert.deepEqual(await verbs(), ['list']);
    await restore(a, { ...spec, clusterConflictPolicy: 'use-backup-version' });
    assert.deepEqual(await verbs(), ['get']);
  });
});

describe('mappings and status', () => {
  it('restores into a mapped namespace, with RoleBinding subjects and claims following, and storage classes changed', async (t) => {
    const ns = await testNamespace(t, a, 'src');
    const target = `dst-${uniqueSuffix()}`;
    t.after(async () => {
      await a.send({ method: 'DELETE', path: `/api/v1/namespaces/${target}` });
    });
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/serviceaccounts`,
      body: { metadata: { name: 'app' } },
    });
    await a.json({
      method: 'POST',
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`,
      body: {
        metadata: { name: 'app' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
        subjects: [{ kind: 'ServiceAccount', name: 'app', namespace: ns }],
      },
    });
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
      body: {
        metadata: { name: 'data' },
        spec: {
          accessModes: ['ReadWriteOnce'],
          storageClassName: 'standard',
          resources: { requests: { storage: '1Gi' } },
        },
      },
    });
    const name = await backup(a, [ns]);
    const { restore: result } = await restore(a, {
      backupName: name,
      namespaceMapping: { [ns]: target },
      storageClassMapping: { standard: 'fast' },
    });
    assert.equal(result.status?.phase, 'Completed', JSON.stringify(result.status));
    const binding = await a.json<KubeObject>({
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${target}/rolebindings/app`,
    });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'app', namespace: target }]);
    const pvc = await a.json<KubeObject>({
      path: `/api/v1/namespaces/${target}/persistentvolumeclaims/data`,
    });
    assert.equal((pvc.spec as { storageClassName: string }).storageClassName, 'fast');
    // The source namespace is untouched.
    assert.equal(
      (await a.send({ path: `/api/v1/namespaces/${ns}/persistentvolumeclaims/data` })).status,
      200,
    );
  });

  it('restores the status of the resources named in restoreStatus, and only those', async (t) => {
    const group = `st${uniqueSuffix()}.cairn.example.com`;
    await a.json({
      method: 'POST',
      path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      body: {
        metadata: { name: `gadgets.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              subresources: { status: {} },
              schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
            },
          ],
        },
      },
    });
    t.after(async () => {
      await a.send({
        method: 'DELETE',
        path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.${group}`,
      });
    });
    const ns = await testNamespace(t, a, 'status');
    const path = `/apis/${group}/v1/namespaces/${ns}/gadgets`;
    await eventually('gadgets to be served', async () =>
      (await a.send({ path })).status === 200 ? true : undefined,
    );
    const created = await a.json<KubeObject>({
      method: 'POST',
      path,
      body: { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'g' }, spec: { size: 1 } },
    });
    await a.json({ method: 'PUT', path: `${path}/g/status`, body: { ...created, status: { ready: true } } });
    const name = await backup(a, [ns]);
    for (const [target, restoreStatus, expected] of [
      [`st-${uniqueSuffix()}`, { includedResources: ['gadgets'] }, { ready: true }],
      [`st-${uniqueSuffix()}`, undefined, undefined],
    ] as const) {
      t.after(async () => {
        await a.send({ method: 'DELETE', path: `/api/v1/namespaces/${target}` });
      });
      const { restore: result } = await restore(a, {
        backupName: name,
        namespaceMapping: { [ns]: target },
        ...(restoreStatus
          ? { restoreStatus: { includedResources: [...restoreStatus.includedResources] } }
          : {}),
      });
      assert.equal(result.status?.phase, 'Completed', JSON.stringify(result.status));
      const live = await a.json<KubeObject>({ path: `/apis/${group}/v1/namespaces/${target}/gadgets/g` });
      assert.deepEqual(live.status, expected);
    }
  });
});

describe('dry runs', () => {
  it('change nothing, and plan exactly what the restore then does', async (t) => {
    const ns = await testNamespace(t, a, 'dry');
    await createApp(a, ns).then((app) => t.after(() => deleteAppClusterObjects(a, app)));
    const name = await backup(a, [ns]);
    // Some objects change, some go, some stay the same.
    await a.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}/configmaps/settings` });
    const secret = await a.json<KubeObject>({ path: `/api/v1/namespaces/${ns}/secrets/db-password` });
    await a.json({
      method: 'PUT',
      path: `/api/v1/namespaces/${ns}/secrets/db-password`,
      body: { ...secret, data: { password: Buffer.from('changed').toString('base64') } },
    });
    const versions = async () => {
      const out: Record<string, string> = {};
      for (const kind of [
        'configmaps',
        'secrets',
        'services',
        'serviceaccounts',
        'persistentvolumeclaims',
        'pods',
      ]) {
        const list = await a.json<{ items: KubeObject[] }>({ path: `/api/v1/namespaces/${ns}/${kind}` });
        for (const item of list.items) {
          // The kubelet writes a pod's status as its containers start or back off: a pod counts as
          // unchanged when its metadata and spec are.
          const { resourceVersion, managedFields, ...metadata } = item.metadata;
          out[`${kind}/${item.metadata.name}`] =
            kind === 'pods'
              ? JSON.stringify({
                  metadata,
                  spec: item.spec,
                  managers: (
                    (managedFields ?? []) as { manager?: string; time?: string; subresource?: string }[]
                  )
                    .filter((f) => f.subresource !== 'status')
                    .map((f) => `${f.manager} ${f.time}`),
                })
              : (resourceVersion ?? '');
        }
      }
      return out;
    };
    const before = await versions();
    const dry = await restore(a, { backupName: name, includedNamespaces: [ns], dryRun: true });
    assert.deepEqual(await versions(), before, 'the dry run changed nothing');
    const planned = new Map(
      dry.plan.map((p) => [`${p.groupResource}/${p.namespace ?? ''}/${p.name}`, p.outcome]),
    );
    assert.equal(planned.get(`configmaps/${ns}/settings`), 'created');
    assert.equal(planned.get(`secrets/${ns}/db-password`), 'skipped');
    assert.equal(dry.plan.find((p) => p.name === 'db-password')?.diff?.[0]?.path, '/data/password');

    const real = await restore(a, { backupName: name, includedNamespaces: [ns] });
    const done = new Map(
      real.plan.map((p) => [`${p.groupResource}/${p.namespace ?? ''}/${p.name}`, p.outcome]),
    );
    assert.deepEqual(done, planned, 'the restore did what the dry run planned');
  });
});

describe('bad input', () => {
  it('refuses a damaged archive before applying anything', async (t) => {
    const ns = await testNamespace(t, a, 'bad');
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { metadata: { name: 'x' } },
    });
    const store = new MemoryStore();
    const location = new BackupStore({ location: 'mem', store, key: generateLocationKey() });
    const name = `b-${uniqueSuffix()}`;
    await createBackup({
      client: a,
      name,
      spec: { includedNamespaces: [ns] },
      stores: [location],
      now: () => new Date(),
      writer: 'test',
      uid: 'u',
    });
    const key = backupKeys(name).archive;
    const { buffer } = await import('node:stream/consumers');
    const stored = await buffer(await store.get(key));
    await store.delete(key);
    await store.put(key, flip(stored, Math.floor(stored.length / 2)));
    const target = `bad-${uniqueSuffix()}`;
    const error = await rejection(
      restore(a, { backupName: name, namespaceMapping: { [ns]: target } }, { store: location }),
    );
    assert.ok(error instanceof RestoreSourceError, String(error));
    assert.match((error as Error).message, /nothing was restored/);
    assert.equal((await a.send({ path: `/api/v1/namespaces/${target}` })).status, 404, 'nothing was applied');
  });

  it('refuses an encrypted archive with one byte flipped anywhere, its checksums rewritten to match, applying nothing', async (t) => {
    // Whoever can write the bucket can also rewrite the checksum manifest and velero-backup.json to match
    // a changed archive: then only the encryption's authentication stands between the change and the cluster.
    const ns = await testNamespace(t, a, 'tamper');
    for (const name of ['x', 'y'])
      await a.json({
        method: 'POST',
        path: `/api/v1/namespaces/${ns}/configmaps`,
        body: { metadata: { name }, data: { v: 'x'.repeat(100_000) } },
      });
    const store = new MemoryStore();
    const location = new BackupStore({ location: 'mem', store, key: generateLocationKey() });
    const name = `b-${uniqueSuffix()}`;
    await createBackup({
      client: a,
      name,
      spec: { includedNamespaces: [ns] },
      stores: [location],
      now: () => new Date(),
      writer: 'test',
      uid: 'u',
    });
    const { buffer } = await import('node:stream/consumers');
    const { createHash } = await import('node:crypto');
    const keys = backupKeys(name);
    const stored = await buffer(await store.get(keys.archive));
    const manifest = JSON.parse(
      (await buffer(await store.get(keys.checksums))).toString(),
    ) as ChecksumManifest;
    const metadata = JSON.parse((await buffer(await store.get(keys.metadata))).toString()) as Backup;
    const archiveFile = keys.archive.slice(keys.archive.lastIndexOf('/') + 1);
    const replace = async (key: string, bytes: Buffer) => {
      await store.delete(key);
      await store.put(key, bytes);
    };
    // The header (magic, version, chunk size, key id, salt), the first chunk, the middle, the last tag.
    const positions = [
      0,
      8,
      12,
      16,
      40,
      54,
      1000,
      Math.floor(stored.length / 2),
      stored.length - 16,
      stored.length - 1,
    ];
    const outcomes = new Outcomes();
    for (const at of positions) {
      const tampered = flip(stored, at);
      const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
      const forged: ChecksumManifest = {
        ...manifest,
        files: { ...manifest.files, [archiveFile]: { sha256: sha256(tampered), size: tampered.length } },
      };
      await replace(keys.archive, tampered);
      await replace(keys.checksums, manifestBytes(forged));
      await replace(
        keys.metadata,
        Buffer.from(
          JSON.stringify({
            ...metadata,
            status: { ...metadata.status, checksums: sha256(manifestBytes(forged)) },
          }),
        ),
      );
      const target = `tamper-${uniqueSuffix()}`;
      const error = await rejection(
        restore(a, { backupName: name, namespaceMapping: { [ns]: target } }, { store: location }),
      );
      assert.ok(error instanceof RestoreSourceError, `byte ${at}: ${String(error)}`);
      assert.match((error as Error).message, /nothing was restored/);
      outcomes.add(
        `${(error as Error).name} (${String(((error as Error).cause as Error | undefined)?.name ?? '')})`,
      );
      assert.equal(
        (await a.send({ path: `/api/v1/namespaces/${target}` })).status,
        404,
        `byte ${at}: nothing applied`,
      );
      const created = await a.json<{ items: unknown[] }>({
        path: `/api/v1/configmaps?labelSelector=${encodeURIComponent(`${RESTORE_BACKUP_LABEL}=${name}`)}`,
      });
      assert.equal(created.items.length, 0, `byte ${at}: no object of the backup restored anywhere`);
    }
    recordReliability({
      section: 'Security',
      subject: 'restore (createRestore) of an encrypted backup, cluster a',
      tried:
        'one byte flipped in the archive (header, chunks, last tag), checksum manifest and velero-backup.json rewritten to match',
      cases: outcomes.cases,
      outcome: `refused before applying: ${outcomes.summary().replace(/^refused: /, '')}`,
      lost: 'nothing: no object created (the mapped namespace never appeared)',
    });
  });

  it('names a missing backup, a bad policy and a bad selector, applying nothing', async () => {
    const missing = await rejection(restore(a, { backupName: 'no-such-backup' }));
    assert.ok(missing instanceof RestoreValidationError);
    assert.match((missing as Error).message, /backupName "no-such-backup": no such backup/);
    const bad = await rejection(
      restore(a, {
        backupName: 'x',
        namespacedConflictPolicy: 'overwrite' as never,
        labelSelector: 'a in (',
      }),
    );
    assert.ok(bad instanceof RestoreValidationError);
    assert.match((bad as Error).message, /namespacedConflictPolicy "overwrite"/);
  });

  it('fails the items of a namespace that is being deleted, naming it', async (t) => {
    const ns = await testNamespace(t, a, 'term');
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { metadata: { name: 'x' } },
    });
    const name = await backup(a, [ns]);
    const stuck = `stuck-${uniqueSuffix()}`;
    await a.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: stuck } } });
    // A configmap with a finalizer keeps the namespace Terminating.
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${stuck}/configmaps`,
      body: { metadata: { name: 'held', finalizers: ['cairn.dev/test-hold'] } },
    });
    await a.send({ method: 'DELETE', path: `/api/v1/namespaces/${stuck}` });
    t.after(async () => {
      const held = await a
        .json<KubeObject>({ path: `/api/v1/namespaces/${stuck}/configmaps/held` })
        .catch(() => undefined);
      if (held)
        await a.send({
          method: 'PUT',
          path: `/api/v1/namespaces/${stuck}/configmaps/held`,
          body: { ...held, metadata: { ...held.metadata, finalizers: [] } },
        });
    });
    await eventually('the namespace to be Terminating', async () => {
      const live = await a.json<KubeObject>({ path: `/api/v1/namespaces/${stuck}` });
      return (live.status as { phase?: string }).phase === 'Terminating' ? true : undefined;
    });
    const { restore: result, plan } = await restore(a, {
      backupName: name,
      namespaceMapping: { [ns]: stuck },
    });
    assert.equal(result.status?.phase, 'PartiallyFailed');
    const failed = plan.filter((p) => p.outcome === 'failed');
    assert.ok(
      failed.some((p) => p.name === 'x' && /being deleted \(Terminating\)/.test(p.reason ?? '')),
      JSON.stringify(plan),
    );
  });

  it('reports the kinds the restoring identity may not create as failed items, and restores the rest', async (t) => {
    const ns = await testNamespace(t, a, 'rbac');
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { metadata: { name: 'allowed' } },
    });
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/secrets`,
      body: { metadata: { name: 'denied' }, stringData: { k: 'v' } },
    });
    const name = await backup(a, [ns]);
    const target = `rbac-${uniqueSuffix()}`;
    await a.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: target } } });
    t.after(async () => {
      await a.send({ method: 'DELETE', path: `/api/v1/namespaces/${target}` });
    });
    // A service account that may read and create config maps (and read namespaces), but not secrets.
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${target}/serviceaccounts`,
      body: { metadata: { name: 'restorer' } },
    });
    const role = `restorer-${target}`;
    await a.json({
      method: 'POST',
      path: '/apis/rbac.authorization.k8s.io/v1/clusterroles',
      body: {
        metadata: { name: role },
        rules: [
          { apiGroups: [''], resources: ['configmaps', 'namespaces'], verbs: ['get', 'list', 'create'] },
          { apiGroups: ['*'], resources: ['*'], verbs: ['get', 'list'] },
        ],
      },
    });
    await a.json({
      method: 'POST',
      path: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
      body: {
        metadata: { name: role },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ kind: 'ServiceAccount', name: 'restorer', namespace: target }],
      },
    });
    t.after(async () => {
      await a.send({
        method: 'DELETE',
        path: `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${role}`,
      });
      await a.send({ method: 'DELETE', path: `/apis/rbac.authorization.k8s.io/v1/clusterroles/${role}` });
    });
    const token = await a.json<{ status: { token: string } }>({
      method: 'POST',
      path: `/api/v1/namespaces/${target}/serviceaccounts/restorer/token`,
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 600 },
      },
    });
    const { KubeClient } = await import('../../src/kube/index.ts');
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    const admin = (await import('../helpers/testbed.ts')).testbedEnv('KUBECONFIG');
    kc.loadFromFile(admin);
    const cluster = kc.getCurrentCluster();
    assert.ok(cluster);
    const limited = new KubeConfig();
    limited.loadFromOptions({
      clusters: [cluster],
      users: [{ name: 'restorer', token: token.status.token }],
      contexts: [{ name: 'restorer', cluster: cluster.name, user: 'restorer' }],
      currentContext: 'restorer',
    });
    const { restore: result, plan } = await restore(new KubeClient(limited), {
      backupName: name,
      namespaceMapping: { [ns]: target },
    });
    assert.equal(result.status?.phase, 'PartiallyFailed');
    assert.equal(plan.find((p) => p.name === 'allowed')?.outcome, 'created');
    const denied = plan.find((p) => p.name === 'denied');
    assert.equal(denied?.outcome, 'failed');
    assert.match(denied?.reason ?? '', /forbidden/i);
  });
});

describe('rules, configured mappings and schedules', () => {
  it('applies transformation rules, and names a rule that does not apply as the error of its items', async (t) => {
    const ns = await testNamespace(t, a, 'rules');
    await a.json({
      method: 'POST',
      path: `/apis/apps/v1/namespaces/${ns}/deployments`,
      body: {
        metadata: { name: 'web', labels: { app: 'web' } },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
          },
        },
      },
    });
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { metadata: { name: 'cfg' } },
    });
    const name = await backup(a, [ns]);
    const target = `rules-${uniqueSuffix()}`;
    t.after(async () => {
      await a.send({ method: 'DELETE', path: `/api/v1/namespaces/${target}` });
    });
    const transformRules = [
      'version: v1',
      'resourceModifierRules:',
      '- name: one-replica',
      '  conditions: { groupResource: deployments.apps, resourceNameRegex: "^web$" }',
      '  patches:',
      '  - { operation: replace, path: /spec/replicas, value: "1" }',
      '- name: broken',
      '  conditions: { groupResource: configmaps, resourceNameRegex: "^cfg$" }',
      '  patches:',
      '  - { operation: replace, path: /data/missing, value: "x" }',
      '',
    ].join('\n');
    const { restore: result, plan } = await restore(a, {
      backupName: name,
      namespaceMapping: { [ns]: target },
      transformRules,
    });
    assert.equal(result.status?.phase, 'PartiallyFailed');
    const web = await a.json<KubeObject>({ path: `/apis/apps/v1/namespaces/${target}/deployments/web` });
    assert.equal((web.spec as { replicas: number }).replicas, 1);
    const cfg = plan.find((p) => p.groupResource === 'configmaps' && p.name === 'cfg');
    assert.equal(cfg?.outcome, 'failed');
    assert.match(cfg?.reason ?? '', /rule "broken"/);
  });

  it('maps storage classes from a labelled ConfigMap, for claims and StatefulSet claim templates', async (t) => {
    const ns = await testNamespace(t, a, 'sc');
    await addRestoreExtras(a, ns);
    const config = await testNamespace(t, a, 'cfg');
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${config}/configmaps`,
      body: {
        metadata: {
          name: 'storage-classes',
          labels: { 'cairn.dev/change-storage-class': 'RestoreItemAction' },
        },
        data: { standard: 'premium' },
      },
    });
    const name = await backup(a, [ns]);
    const target = `sc-${uniqueSuffix()}`;
    t.after(async () => {
      await a.send({ method: 'DELETE', path: `/api/v1/namespaces/${target}` });
    });
    const result = await createRestore({
      client: a,
      name: `r-${uniqueSuffix()}`,
      spec: { backupName: name, namespaceMapping: { [ns]: target } },
      backups,
      records: new RestoreStore(new MemoryStore()),
      now: () => new Date(),
      uid: 'u',
      configNamespace: config,
    });
    assert.equal(result.restore.status?.phase, 'Completed', JSON.stringify(result.restore.status));
    const sts = await a.json<KubeObject>({
      path: `/apis/apps/v1/namespaces/${target}/statefulsets/db-cluster`,
    });
    const templates = (sts.spec as { volumeClaimTemplates: { spec: { storageClassName: string } }[] })
      .volumeClaimTemplates;
    assert.equal(templates[0]?.spec.storageClassName, 'premium');
  });

  it('restores the newest Completed backup of a schedule', async (t) => {
    const ns = await testNamespace(t, a, 'sched');
    const schedule = `nightly-${uniqueSuffix()}`;
    const names: string[] = [];
    for (const value of ['first', 'second']) {
      await a.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}/configmaps/state` });
      await a.json({
        method: 'POST',
        path: `/api/v1/namespaces/${ns}/configmaps`,
        body: { metadata: { name: 'state' }, data: { value } },
      });
      const name = `${schedule}-${value}`;
      const made = await createBackup({
        client: a,
        name,
        spec: { includedNamespaces: [ns] },
        labels: { 'cairn.dev/schedule-name': schedule },
        stores: [backups],
        now: () => new Date(),
        writer: 'test',
        uid: name,
      });
      assert.equal(made.status?.phase, 'Completed');
      names.push(name);
    }
    const target = `sched-${uniqueSuffix()}`;
    t.after(async () => {
      await a.send({ method: 'DELETE', path: `/api/v1/namespaces/${target}` });
    });
    const { restore: result } = await restore(a, {
      scheduleName: schedule,
      namespaceMapping: { [ns]: target },
    });
    assert.equal(result.spec.backupName, names[1]);
    const state = await a.json<KubeObject>({ path: `/api/v1/namespaces/${target}/configmaps/state` });
    assert.deepEqual(state.data, { value: 'second' });
  });
});

describe('volumes', () => {
  it('provisions a claim anew instead of restoring a volume whose reclaim policy is Delete', async (t) => {
    const ns = await testNamespace(t, a, 'vol');
    const pv = `pv-del-${uniqueSuffix()}`;
    await a.json({
      method: 'POST',
      path: '/api/v1/persistentvolumes',
      body: {
        metadata: { name: pv },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          storageClassName: '',
          hostPath: { path: `/tmp/${pv}` },
          persistentVolumeReclaimPolicy: 'Delete',
          // Pre-bound to its claim: an unbound volume may be taken by any pending claim in the cluster.
          claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: ns, name: 'data' },
        },
      },
    });
    t.after(async () => {
      await a.send({ method: 'DELETE', path: `/api/v1/persistentvolumes/${pv}` });
    });
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
      body: {
        metadata: { name: 'data' },
        spec: {
          accessModes: ['ReadWriteOnce'],
          storageClassName: '',
          volumeName: pv,
          resources: { requests: { storage: '1Gi' } },
        },
      },
    });
    const name = await backup(a, [ns]);
    const target = `vol-${uniqueSuffix()}`;
    t.after(async () => {
      await a.send({ method: 'DELETE', path: `/api/v1/namespaces/${target}` });
    });
    const { restore: result, plan } = await restore(a, {
      backupName: name,
      namespaceMapping: { [ns]: target },
    });
    assert.equal(result.status?.phase, 'Completed', JSON.stringify(result.status));
    const volume = plan.find((p) => p.groupResource === 'persistentvolumes' && p.name === pv);
    assert.equal(volume?.outcome, 'skipped');
    assert.match(volume?.reason ?? '', /reclaim policy Delete/);
    const claim = await a.json<KubeObject>({
      path: `/api/v1/namespaces/${target}/persistentvolumeclaims/data`,
    });
    assert.equal((claim.spec as { volumeName?: string }).volumeName, undefined);
  });
});

describe('filters and sources of rules', () => {
  it('restores only the objects whose backed-up labels match the selector', async (t) => {
    const ns = await testNamespace(t, a, 'sel');
    for (const [name, app] of [
      ['web-config', 'web'],
      ['db-config', 'db'],
    ] as const)
      await a.json({
        method: 'POST',
        path: `/api/v1/namespaces/${ns}/configmaps`,
        body: { metadata: { name, labels: { app } } },
      });
    const name = await backup(a, [ns]);
    const target = `sel-${uniqueSuffix()}`;
    t.after(async () => {
      await a.send({ method: 'DELETE', path: `/api/v1/namespaces/${target}` });
    });
    const { restore: result, plan } = await restore(a, {
      backupName: name,
      namespaceMapping: { [ns]: target },
      labelSelector: 'app=web',
    });
    assert.equal(result.status?.phase, 'Completed');
    assert.deepEqual(
      plan.filter((p) => p.groupResource === 'configmaps').map((p) => p.name),
      ['web-config'],
    );
    assert.equal((await a.send({ path: `/api/v1/namespaces/${target}/configmaps/db-config` })).status, 404);
  });

  it("reads transformation rules from a ConfigMap (Velero's resourceModifier)", async (t) => {
    const ns = await testNamespace(t, a, 'mod');
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { metadata: { name: 'cfg' } },
    });
    const rulesNs = await testNamespace(t, a, 'rules');
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${rulesNs}/configmaps`,
      body: {
        metadata: { name: 'modifiers' },
        data: {
          'rules.yaml': [
            'version: v1',
            'resourceModifierRules:',
            '- conditions: { groupResource: configmaps }',
            '  mergePatches:',
            '  - patchData: \'{"metadata": {"annotations": {"restored-by": "rules"}}}\'',
            '',
          ].join('\n'),
        },
      },
    });
    const name = await backup(a, [ns]);
    const target = `mod-${uniqueSuffix()}`;
    t.after(async () => {
      await a.send({ method: 'DELETE', path: `/api/v1/namespaces/${target}` });
    });
    const { restore: result } = await restore(a, {
      backupName: name,
      namespaceMapping: { [ns]: target },
      resourceModifier: { kind: 'ConfigMap', name: 'modifiers', namespace: rulesNs },
    });
    assert.equal(result.status?.phase, 'Completed', JSON.stringify(result.status));
    const cfg = await a.json<KubeObject>({ path: `/api/v1/namespaces/${target}/configmaps/cfg` });
    assert.equal(cfg.metadata.annotations?.['restored-by'], 'rules');
    const missing = await rejection(
      restore(a, {
        backupName: name,
        resourceModifier: { kind: 'ConfigMap', name: 'nope', namespace: rulesNs },
      }),
    );
    assert.ok(missing instanceof RestoreValidationError);
    assert.match((missing as Error).message, new RegExp(`resourceModifier "${rulesNs}/nope"`));
  });

  it('names every item of a resource the target serves in no version the backup has', async (t) => {
    const group = `nv${uniqueSuffix()}.cairn.example.com`;
    const crd = (version: string) => ({
      metadata: { name: `things.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'things', singular: 'thing', kind: 'Thing' },
        versions: [
          {
            name: version,
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          },
        ],
      },
    });
    const crdPath = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/things.${group}`;
    for (const [client, version] of [
      [a, 'v1'],
      [b, 'v2'],
    ] as const) {
      await client.json({
        method: 'POST',
        path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
        body: crd(version),
      });
      t.after(async () => {
        await client.send({ method: 'DELETE', path: crdPath });
      });
      await eventually(`things ${version} to be served`, async () =>
        (await client.send({ path: `/apis/${group}/${version}/things` })).status === 200 ? true : undefined,
      );
    }
    const ns = await testNamespace(t, a, 'nv');
    await a.json({
      method: 'POST',
      path: `/apis/${group}/v1/namespaces/${ns}/things`,
      body: { apiVersion: `${group}/v1`, kind: 'Thing', metadata: { name: 'one' } },
    });
    const name = await backup(a, [ns]);
    t.after(async () => {
      await b.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
    });
    const { restore: result, plan } = await restore(b, { backupName: name, includeClusterResources: false });
    assert.equal(result.status?.phase, 'PartiallyFailed');
    const thing = plan.find((p) => p.groupResource === `things.${group}`);
    assert.equal(thing?.outcome, 'failed');
    assert.equal(
      thing?.reason,
      `the target cluster serves things.${group} in v2, and the backup has it in v1 only`,
    );
  });
});

describe('restoring over live objects', () => {
  /** Each item's outcome, by resource, namespace and name. */
  const outcomes = (plan: { groupResource: string; namespace?: string; name: string; outcome: string }[]) =>
    new Map(plan.map((p) => [`${p.groupResource}/${p.namespace ?? ''}/${p.name}`, p.outcome]));

  it('leaves a NodePort Service that is live as backed up unchanged when its node port is kept, and the restore Completes as the dry run said', async (t) => {
    const ns = await testNamespace(t, a, 'nodeport');
    const service = (name: string, nodePort?: number) => ({
      metadata: { name },
      spec: {
        type: 'NodePort',
        selector: { app: name },
        ports: [{ name: 'http', port: 80, targetPort: 8080, ...(nodePort ? { nodePort } : {}) }],
      },
    });
    // A node port set explicitly (a free one: another test may hold the one tried first).
    let explicit: number | undefined;
    for (let attempt = 0; explicit === undefined && attempt < 20; attempt++) {
      const port = 30000 + Math.floor(Math.random() * 2700);
      const response = await a.send({
        method: 'POST',
        path: `/api/v1/namespaces/${ns}/services`,
        body: service('explicit', port),
      });
      if (response.status === 201) explicit = port;
    }
    assert.ok(explicit, 'a free node port was found');
    await a.json({ method: 'POST', path: `/api/v1/namespaces/${ns}/services`, body: service('allocated') });
    const name = await backup(a, [ns]);

    for (const preserveNodePorts of [false, true]) {
      const spec: RestoreSpec = { backupName: name, includedNamespaces: [ns], preserveNodePorts };
      const dry = await restore(a, { ...spec, dryRun: true });
      const real = await restore(a, spec);
      assert.equal(
        real.restore.status?.phase,
        'Completed',
        JSON.stringify(real.plan.filter((p) => p.outcome === 'failed')),
      );
      const done = outcomes(real.plan);
      assert.equal(
        done.get(`services/${ns}/explicit`),
        'unchanged',
        `preserveNodePorts ${preserveNodePorts}`,
      );
      assert.equal(
        done.get(`services/${ns}/allocated`),
        'unchanged',
        `preserveNodePorts ${preserveNodePorts}`,
      );
      assert.deepEqual(done, outcomes(dry.plan), 'the restore did what the dry run planned');
    }
    const live = await a.json<KubeObject>({ path: `/api/v1/namespaces/${ns}/services/explicit` });
    assert.equal((live.spec as { ports: { nodePort: number }[] }).ports[0]?.nodePort, explicit);
  });

  it("recreates a StorageClass whose parameters differ under use-backup-version, with the backup's parameters, as the dry run said", async (t) => {
    const suffix = uniqueSuffix();
    const scName = `params-${suffix}`;
    const path = `/apis/storage.k8s.io/v1/storageclasses/${scName}`;
    const storageClass = (type: string) => ({
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: scName, labels: { 'cairn.dev/test': suffix } },
      provisioner: 'cairn.dev/no-such-provisioner',
      parameters: { type },
      reclaimPolicy: 'Delete',
    });
    await a.json({
      method: 'POST',
      path: '/apis/storage.k8s.io/v1/storageclasses',
      body: storageClass('ssd'),
    });
    t.after(async () => {
      await a.send({ method: 'DELETE', path });
    });
    const name = await backup(a, ['kube-system'], {
      includedResources: ['storageclasses'],
      includeClusterResources: true,
      labelSelector: `cairn.dev/test=${suffix}`,
    });
    await a.json({ method: 'DELETE', path });
    await eventually('the storage class to be gone', async () =>
      (await a.send({ path })).status === 404 ? true : undefined,
    );
    const other = await a.json<KubeObject>({
      method: 'POST',
      path: '/apis/storage.k8s.io/v1/storageclasses',
      body: storageClass('hdd'),
    });
    const spec: RestoreSpec = {
      backupName: name,
      includedResources: ['storageclasses'],
      includeClusterResources: true,
      clusterConflictPolicy: 'use-backup-version',
    };
    const dry = await restore(a, { ...spec, dryRun: true });
    const planned = dry.plan.find((p) => p.name === scName);
    assert.equal(planned?.outcome, 'recreated', JSON.stringify(planned));
    assert.match(planned?.reason ?? '', /\/parameters\/type/);
    assert.equal(
      (await a.json<KubeObject>({ path })).metadata.uid,
      other.metadata.uid,
      'the dry run changed nothing',
    );

    const real = await restore(a, spec);
    assert.equal(
      real.restore.status?.phase,
      'Completed',
      JSON.stringify(real.plan.filter((p) => p.outcome === 'failed')),
    );
    assert.equal(real.plan.find((p) => p.name === scName)?.outcome, 'recreated');
    assert.equal(real.restore.status?.counts?.recreated, 1);
    const live = await a.json<KubeObject>({ path });
    assert.deepEqual(live.parameters, { type: 'ssd' });
    assert.notEqual(live.metadata.uid, other.metadata.uid);
    assert.deepEqual(outcomes(real.plan), outcomes(dry.plan), 'the restore did what the dry run planned');
  });

  it('recreates a Deployment whose selector differs, keeping its ReplicaSet, which the new Deployment adopts', async (t) => {
    const ns = await testNamespace(t, a, 'orphan');
    const deployments = `/apis/apps/v1/namespaces/${ns}/deployments`;
    const replicaSets = `/apis/apps/v1/namespaces/${ns}/replicasets`;
    const labels = { app: 'web', tier: 'front' };
    const deployment = (selector: Record<string, string>) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: 1,
        selector: { matchLabels: selector },
        template: {
          metadata: { labels },
          spec: { containers: [{ name: 'web', image: 'registry.invalid/web:1' }] },
        },
      },
    });
    await a.json({ method: 'POST', path: deployments, body: deployment(labels) });
    const name = await backup(a, [ns]);
    await a.json({ method: 'DELETE', path: `${deployments}/web` });
    await eventually('the deployment and its replica set to be gone', async () => {
      const left = await a.json<{ items: unknown[] }>({ path: replicaSets });
      return (await a.send({ path: `${deployments}/web` })).status === 404 && left.items.length === 0
        ? true
        : undefined;
    });
    // Live: the same pods, a narrower selector (immutable).
    await a.json({ method: 'POST', path: deployments, body: deployment({ app: 'web' }) });
    const before = await eventually('the live deployment to make its replica set', async () => {
      const list = await a.json<{ items: KubeObject[] }>({ path: replicaSets });
      return list.items[0];
    });

    const real = await restore(a, {
      backupName: name,
      includedNamespaces: [ns],
      includedResources: ['deployments'],
      namespacedConflictPolicy: 'update-on-conflict',
    });
    const planned = real.plan.find((p) => p.groupResource === 'deployments.apps');
    assert.equal(planned?.outcome, 'recreated', JSON.stringify(real.plan));
    const restored = await a.json<KubeObject>({ path: `${deployments}/web` });
    assert.deepEqual((restored.spec as { selector: unknown }).selector, { matchLabels: labels });
    const adopted = await eventually('a replica set owned by the restored deployment', async () => {
      const list = await a.json<{ items: KubeObject[] }>({ path: replicaSets });
      return list.items.find((rs) =>
        (rs.metadata.ownerReferences ?? []).some((o) => o.uid === restored.metadata.uid),
      );
    });
    assert.equal(adopted.metadata.uid, before.metadata.uid, 'the live replica set was kept and adopted');
  });

  it('deletes nothing that cannot be replaced: refuses a recreate the server would not create, and puts back a deleted object whose replacement it refused', async (t) => {
    const ns = await testNamespace(t, a, 'putback');
    const suffix = uniqueSuffix();
    const configMaps = `/api/v1/namespaces/${ns}/configmaps`;
    const cm = (cmName: string, value: string) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: cmName },
      immutable: true,
      data: { a: value },
    });
    await a.json({ method: 'POST', path: configMaps, body: cm('refused', 'denied') });
    await a.json({ method: 'POST', path: configMaps, body: cm('named', 'named-denied') });
    const name = await backup(a, [ns]);
    for (const cmName of ['refused', 'named']) {
      await a.json({ method: 'DELETE', path: `${configMaps}/${cmName}` });
      await a.json({ method: 'POST', path: configMaps, body: cm(cmName, '1') });
    }
    // An admission policy that refuses the backup's versions: any ConfigMap holding "denied", and only
    // under its own name one holding "named-denied" (a dry run under a generated name passes it).
    const policy = `cairn-putback-${suffix}`;
    const admission = '/apis/admissionregistration.k8s.io/v1';
    await a.json({
      method: 'POST',
      path: `${admission}/validatingadmissionpolicies`,
      body: {
        metadata: { name: policy },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: {
            resourceRules: [
              { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] },
            ],
          },
          validations: [
            {
              expression:
                "!(has(object.data) && has(object.data.a) && (object.data.a == 'denied' || (object.metadata.name == 'named' && object.data.a == 'named-denied')))",
              message: 'refused by the test policy',
            },
          ],
        },
      },
    });
    t.after(async () => {
      await a.send({ method: 'DELETE', path: `${admission}/validatingadmissionpolicies/${policy}` });
    });
    await a.json({
      method: 'POST',
      path: `${admission}/validatingadmissionpolicybindings`,
      body: {
        metadata: { name: policy },
        spec: {
          policyName: policy,
          validationActions: ['Deny'],
          matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } },
        },
      },
    });
    t.after(async () => {
      await a.send({ method: 'DELETE', path: `${admission}/validatingadmissionpolicybindings/${policy}` });
    });
    await eventually('the admission policy to refuse', async () => {
      const probe = await a.send({
        method: 'POST',
        path: configMaps,
        query: { dryRun: 'All' },
        body: cm('probe', 'denied'),
      });
      return probe.status === 422 || probe.status === 403 ? true : undefined;
    });
    const uidOf = async (cmName: string) =>
      (await a.json<KubeObject>({ path: `${configMaps}/${cmName}` })).metadata.uid;
    const refusedUid = await uidOf('refused');
    const spec: RestoreSpec = {
      backupName: name,
      includedNamespaces: [ns],
      includedResources: ['configmaps'],
      namespacedConflictPolicy: 'update-on-conflict',
    };

    const dry = await restore(a, { ...spec, dryRun: true });
    const dryRefused = dry.plan.find((p) => p.name === 'refused');
    assert.equal(dryRefused?.outcome, 'failed', JSON.stringify(dry.plan));
    assert.match(dryRefused?.reason ?? '', /would be refused: .*refused by the test policy/);

    const real = await restore(a, spec);
    assert.equal(real.restore.status?.phase, 'PartiallyFailed');
    const refused = real.plan.find((p) => p.name === 'refused');
    assert.equal(refused?.outcome, 'failed');
    assert.match(refused?.reason ?? '', /would be refused: .*refused by the test policy/);
    assert.equal(await uidOf('refused'), refusedUid, 'the live object was not deleted');

    const named = real.plan.find((p) => p.name === 'named');
    assert.equal(named?.outcome, 'failed', JSON.stringify(real.plan));
    assert.match(
      named?.reason ?? '',
      /cannot be created: .*refused by the test policy; the deleted object was created again as it was/,
    );
    const putBack = await a.json<KubeObject>({ path: `${configMaps}/named` });
    assert.deepEqual(putBack.data, { a: '1' }, 'the live version is back');
  });

  it("keeps the target's own built-in ClusterRole that a RoleBinding names, even under use-backup-version, and says so", async (t) => {
    const ns = await testNamespace(t, a, 'builtin');
    await a.json({
      method: 'POST',
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`,
      body: {
        metadata: { name: 'viewers' },
        subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: ns }],
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      },
    });
    const name = await backup(a, [ns], {
      includedResources: ['rolebindings', 'clusterroles'],
      includeClusterResources: true,
    });
    assert.ok(
      (await archiveItems(name)).some(
        (i) =>
          i.groupResource === 'clusterroles.rbac.authorization.k8s.io' && i.object.metadata.name === 'view',
      ),
      'the backup holds the ClusterRole',
    );
    const viewPath = '/apis/rbac.authorization.k8s.io/v1/clusterroles/view';
    const before = await a.json<KubeObject>({ path: viewPath });
    const spec: RestoreSpec = {
      backupName: name,
      includedNamespaces: [ns],
      clusterConflictPolicy: 'use-backup-version',
    };
    const dry = await restore(a, { ...spec, dryRun: true });
    const real = await restore(a, spec);
    for (const run of [dry, real]) {
      const view = run.plan.find(
        (p) => p.groupResource === 'clusterroles.rbac.authorization.k8s.io' && p.name === 'view',
      );
      assert.equal(view?.outcome, 'skipped', JSON.stringify(view));
      assert.match(view?.reason ?? '', /default role of Kubernetes.*the target cluster's own is kept/);
    }
    const after = await a.json<KubeObject>({ path: viewPath });
    assert.equal(after.metadata.uid, before.metadata.uid);
  });

  it('restores, under a scope list, only the definitions of the custom objects restored, not every definition in the backup', async (t) => {
    const suffix = uniqueSuffix();
    const group = `scope${suffix}.cairn.example.com`;
    const label = { 'cairn.dev/test': suffix };
    const crd = (plural: string, kind: string) => ({
      metadata: { name: `${plural}.${group}`, labels: label },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural, singular: kind.toLowerCase(), kind },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          },
        ],
      },
    });
    const crdPath = (plural: string) =>
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${plural}.${group}`;
    for (const [plural, kind] of [
      ['gizmos', 'Gizmo'],
      ['unrelateds', 'Unrelated'],
    ] as const) {
      await a.json({
        method: 'POST',
        path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
        body: crd(plural, kind),
      });
      t.after(async () => {
        await a.send({ method: 'DELETE', path: crdPath(plural) });
      });
    }
    const ns = await testNamespace(t, a, 'scope');
    const gizmos = `/apis/${group}/v1/namespaces/${ns}/gizmos`;
    await eventually('gizmos to be served', async () =>
      (await a.send({ path: gizmos })).status === 200 ? true : undefined,
    );
    await a.json({
      method: 'POST',
      path: gizmos,
      body: {
        apiVersion: `${group}/v1`,
        kind: 'Gizmo',
        metadata: { name: 'g', labels: label },
        spec: { size: 1 },
      },
    });
    const name = await backup(a, [ns], {
      includeClusterResources: true,
      labelSelector: `cairn.dev/test=${suffix}`,
    });
    const inBackup = (await archiveItems(name)).map((i) => i.object.metadata.name);
    assert.ok(inBackup.includes(`unrelateds.${group}`), 'the backup holds the unrelated definition');
    for (const plural of ['gizmos', 'unrelateds']) {
      await a.send({ method: 'DELETE', path: crdPath(plural) });
      await eventually(`${plural} to be gone`, async () =>
        (await a.send({ path: crdPath(plural) })).status === 404 ? true : undefined,
      );
    }

    const spec: RestoreSpec = {
      backupName: name,
      includedNamespaces: [ns],
      clusterResourceScope: ['storageclasses', 'customresourcedefinitions'],
    };
    const dry = await restore(a, { ...spec, dryRun: true });
    const real = await restore(a, spec);
    assert.equal(real.restore.status?.phase, 'Completed', JSON.stringify(real.restore.status));
    const done = outcomes(real.plan);
    assert.equal(done.get(`customresourcedefinitions.apiextensions.k8s.io//gizmos.${group}`), 'created');
    assert.equal(done.get(`customresourcedefinitions.apiextensions.k8s.io//unrelateds.${group}`), undefined);
    assert.equal(done.get(`gizmos.${group}/${ns}/g`), 'created');
    assert.equal(
      (await a.send({ path: crdPath('unrelateds') })).status,
      404,
      'the unrelated definition was not restored',
    );
    assert.equal((await a.send({ path: `${gizmos}/g` })).status, 200);
    assert.deepEqual(done, outcomes(dry.plan), 'the restore did what the dry run planned');
  });
});

describe('restoring side by side', () => {
  /**
   * `client`, counting the requests in flight into `namespace`'s collections by resource, and what was
   * in flight together. Each such request waits 50 ms first: requests to the testbed are over before the
   * restore has read the next item from disk, so that without the wait nothing would be seen together.
   */
  function watched(client: KubeClient, namespace: string) {
    const inFlight = new Map<string, number>();
    const together: string[][] = [];
    let most = 0;
    const resourceOf = (path: string) => new RegExp(`/namespaces/${namespace}/([^/?]+)`).exec(path)?.[1];
    const count = <T>(path: string, request: () => Promise<T>) => {
      const resource = resourceOf(path);
      if (resource === undefined) return request();
      inFlight.set(resource, (inFlight.get(resource) ?? 0) + 1);
      most = Math.max(
        most,
        [...inFlight.values()].reduce((s, n) => s + n, 0),
      );
      together.push([...inFlight.keys()].sort());
      const done = () => {
        const left = (inFlight.get(resource) ?? 1) - 1;
        if (left === 0) inFlight.delete(resource);
        else inFlight.set(resource, left);
      };
      return delay(50).then(request).finally(done);
    };
    const proxy = new Proxy(client, {
      get(target, property, receiver) {
        if (property === 'json')
          return (req: Parameters<KubeClient['json']>[0]) => count(req.path, () => target.json(req));
        if (property === 'send')
          return (req: Parameters<KubeClient['send']>[0]) => count(req.path, () => target.send(req));
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    });
    return { client: proxy, together, most: () => most };
  }

  it('restores the resources outside the priorities side by side, the prioritized ones alone, never more than the concurrency in flight, the plan in restore order', async (t) => {
    const ns = await testNamespace(t, a, 'sidebyside');
    const made: Promise<unknown>[] = [];
    for (let i = 0; i < 12; i++) {
      const name = `item-${String(i).padStart(2, '0')}`;
      const post = (path: string, body: Record<string, unknown>) =>
        a.json({ method: 'POST', path, body: { metadata: { name }, ...body } });
      made.push(
        post(`/api/v1/namespaces/${ns}/configmaps`, { data: { i: String(i) } }),
        post(`/api/v1/namespaces/${ns}/secrets`, { stringData: { i: String(i) } }),
        post(`/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`, {
          spec: { podSelector: { matchLabels: { i: String(i) } } },
        }),
        post(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`, {
          spec: { maxUnavailable: 1, selector: { matchLabels: { i: String(i) } } },
        }),
      );
    }
    await Promise.all(made);
    const name = await backup(a, [ns]);
    const target = await testNamespace(t, a, 'sidebyside-copy');
    const seen = watched(a, target);
    const { restore: result, plan } = await restore(seen.client, {
      backupName: name,
      includedNamespaces: [ns],
      namespaceMapping: { [ns]: target },
    });
    assert.equal(result.status?.phase, 'Completed', JSON.stringify(result.status));

    assert.equal(seen.most(), 8, 'as many in flight as the concurrency (8), never more');
    const tail = ['networkpolicies', 'poddisruptionbudgets'];
    assert.ok(
      seen.together.some((resources) => tail.every((r) => resources.includes(r))),
      'network policies and disruption budgets were restored side by side',
    );
    for (const prioritized of ['secrets', 'configmaps'])
      assert.ok(
        seen.together.every((resources) => !resources.includes(prioritized) || resources.length === 1),
        `${prioritized} were restored alone`,
      );
    const restored = plan.filter((e) => e.namespace === target && e.outcome === 'created');
    const order = restored.map((e) => e.groupResource).filter((gr, i, all) => all[i - 1] !== gr);
    assert.deepEqual(order, [
      'secrets',
      'configmaps',
      'networkpolicies.networking.k8s.io',
      'poddisruptionbudgets.policy',
    ]);
    const names = restored.filter((e) => e.groupResource === 'configmaps').map((e) => e.name);
    assert.deepEqual(names, [...names].sort(), 'the items of a resource in the backup order');
    assert.equal(names.length, 12);
  });
});
