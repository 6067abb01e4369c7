// Restore drills (verifyBackup) against the testbed: a backup restores equal to itself into fresh
// namespaces, and a change in the cluster that would alter restored objects shows up as a difference.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createBackup } from '../../src/backup/index.ts';
import type { KubeClient, KubeObject } from '../../src/kube/index.ts';
import { verifyBackup } from '../../src/restore/index.ts';
import { BackupStore, FilesystemStore, generateLocationKey } from '../../src/storage/index.ts';
import { createApp, deleteAppClusterObjects } from '../helpers/app.ts';
import { clusterClient, eventually, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;
let work: string;
let store: BackupStore;
before(async () => {
  client = clusterClient('a');
  work = await mkdtemp(join(tmpdir(), 'cairn-verify-test-'));
  store = new BackupStore({
    location: 'default',
    store: new FilesystemStore({ root: work }),
    key: generateLocationKey(),
  });
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function backupOf(namespace: string): Promise<string> {
  const name = `v-${uniqueSuffix()}`;
  const backup = await createBackup({
    client,
    name,
    spec: { includedNamespaces: [namespace] },
    stores: [store],
    now: () => new Date(),
    writer: 'test',
    uid: name,
  });
  assert.equal(backup.status?.phase, 'Completed');
  return name;
}

describe('verifying a backup by restoring it', () => {
  it('restores every object into a fresh namespace equal to the backup, then deletes that namespace', async (t) => {
    const ns = await testNamespace(t, client, 'ver');
    const app = await createApp(client, ns);
    t.after(() => deleteAppClusterObjects(client, app));
    const name = await backupOf(ns);
    const report = await verifyBackup({
      client,
      backups: store,
      backupName: name,
      now: () => new Date(),
      suffix: 'a1',
    });
    assert.equal(report.restorePhase, 'Completed');
    assert.deepEqual(report.differences, []);
    assert.ok(report.compared >= 10, `${report.compared} compared`);
    assert.equal(report.equal, report.compared);
    const drill = report.namespaces[ns];
    assert.equal(drill, `${ns}-verify-a1`);
    assert.equal(report.cleanedUp, true);
    const live = await client.send({ path: `/api/v1/namespaces/${drill}` });
    assert.ok(
      live.status === 404 ||
        (JSON.parse(live.body.toString()) as KubeObject & { status: { phase: string } }).status.phase ===
          'Terminating',
      'the drill namespace is deleted',
    );
  });

  it('reports an object that no longer restores as it was backed up, naming the field', async (t) => {
    const group = `ver${uniqueSuffix()}.cairn.example.com`;
    const crdPath = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/things.${group}`;
    const schema = (props: Record<string, unknown> | undefined) =>
      props
        ? { type: 'object', properties: { spec: { type: 'object', properties: props } } }
        : { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
    const crd = (props: Record<string, unknown> | undefined) => ({
      metadata: { name: `things.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'things', singular: 'thing', kind: 'Thing' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: schema(props) } }],
      },
    });
    await client.json({
      method: 'POST',
      path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      body: crd(undefined),
    });
    t.after(async () => {
      await client.send({ method: 'DELETE', path: crdPath });
    });
    const ns = await testNamespace(t, client, 'ver');
    const things = `/apis/${group}/v1/namespaces/${ns}/things`;
    await eventually('things to be served', async () =>
      (await client.send({ path: things })).status === 200 ? true : undefined,
    );
    await client.json({
      method: 'POST',
      path: things,
      body: {
        apiVersion: `${group}/v1`,
        kind: 'Thing',
        metadata: { name: 'a' },
        spec: { size: 1, extra: 'kept?' },
      },
    });
    const name = await backupOf(ns);
    // The definition changes after the backup: its schema no longer has spec.extra, so the API server prunes it.
    const live = await client.json<KubeObject>({ path: crdPath });
    await client.json({
      method: 'PUT',
      path: crdPath,
      body: { ...crd({ size: { type: 'integer' } }), metadata: { ...live.metadata } },
    });
    const report = await verifyBackup({
      client,
      backups: store,
      backupName: name,
      now: () => new Date(),
      suffix: 'b2',
    });
    const thing = report.differences.find((d) => d.groupResource === `things.${group}`);
    assert.ok(thing, JSON.stringify(report.differences));
    assert.equal(thing.problem, 'differs from the backup');
    assert.deepEqual(
      thing.diff?.map((d) => d.path),
      ['/spec/extra'],
    );
  });
});
