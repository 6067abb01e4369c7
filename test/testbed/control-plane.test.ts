// The testbed's control plane is a real Kubernetes: these tests pin down the API behaviours Cairn's
// backup and restore engines rely on, against the kube-apiserver, etcd, controller-manager and scheduler
// that the testbed builds from the official modules.
import assert from 'node:assert/strict';
import { describe, it, before } from 'node:test';
import { Watch } from '@kubernetes/client-node';
import { KubeApiError, loadKubeConfig, type KubeClient } from '../../src/kube/index.ts';
import { clusterClient, eventually, testbedEnv, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';

interface ObjectMeta {
  name: string;
  namespace?: string;
  resourceVersion: string;
  uid: string;
  managedFields?: { manager: string; operation: string }[];
  ownerReferences?: { kind: string; name: string }[];
}
interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  data?: Record<string, string>;
  status?: { conditions?: { type: string; status: string }[] };
}
interface KubeList {
  metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number };
  items: KubeObject[];
}

function configMap(name: string, data: Record<string, string>) {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data };
}

async function createConfigMap(
  client: KubeClient,
  ns: string,
  name: string,
  data: Record<string, string> = {},
) {
  return client.json<KubeObject>({
    method: 'POST',
    path: `/api/v1/namespaces/${ns}/configmaps`,
    body: configMap(name, data),
  });
}

let a: KubeClient;
before(() => {
  a = clusterClient('a');
});

describe('the testbed control plane', () => {
  it('is a real kube-apiserver v1.34.4', async (t) => {
    const version = await a.serverVersion();
    t.diagnostic(`talking to kube-apiserver ${version.gitVersion} (${version.goVersion}) at ${a.server}`);
    console.log(`kube-apiserver ${version.gitVersion} at ${a.server}`);
    assert.equal(version.gitVersion, 'v1.34.4');
    assert.equal(version.major, '1');
    assert.equal(version.minor, '34');
  });

  it('has the namespaces a fresh cluster has', async () => {
    const list = await a.json<KubeList>({ path: '/api/v1/namespaces' });
    const names = list.items.map((ns) => ns.metadata.name);
    for (const expected of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      assert.ok(names.includes(expected), `namespace ${expected} missing from ${names.join(', ')}`);
    }
  });

  it('establishes a CustomResourceDefinition and serves its custom objects', async (t) => {
    const group = `t${uniqueSuffix()}.cairn.dev`;
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wdg'] },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 } } },
                },
              },
            },
          },
        ],
      },
    };
    await a.json({
      method: 'POST',
      path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      body: crd,
    });
    t.after(() =>
      a.send({
        method: 'DELETE',
        path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.${group}`,
      }),
    );
    await eventually('the CRD to be Established', async () => {
      const live = await a.json<KubeObject>({
        path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.${group}`,
      });
      const established = live.status?.conditions?.find((c) => c.type === 'Established');
      return established?.status === 'True' ? true : undefined;
    });

    const ns = await testNamespace(t, a);
    const path = `/apis/${group}/v1/namespaces/${ns}/widgets`;
    // The API server may take a moment to serve the new group after Established.
    await eventually('the widgets resource to be served', async () => {
      const res = await a.send({ path });
      return res.status === 200 ? true : undefined;
    });
    for (const [name, size] of [
      ['small', 1],
      ['large', 9],
    ] as const) {
      await a.json({
        method: 'POST',
        path,
        body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name }, spec: { size } },
      });
    }
    const list = await a.json<KubeList>({ path });
    assert.deepEqual(list.items.map((w) => w.metadata.name).sort(), ['large', 'small']);

    // The schema is enforced by the real server: a size below the minimum is refused.
    await assert.rejects(
      a.json({
        method: 'POST',
        path,
        body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'bad' }, spec: { size: 0 } },
      }),
      (error: unknown) => error instanceof KubeApiError && error.status === 422,
    );
  });

  it('lists in pages with limit and continue', async (t) => {
    const ns = await testNamespace(t, a);
    const created = Array.from({ length: 25 }, (_, i) => `cm-${String(i).padStart(2, '0')}`);
    for (const name of created) await createConfigMap(a, ns, name);

    const seen: string[] = [];
    const pageSizes: number[] = [];
    let token: string | undefined;
    do {
      const page: KubeList = await a.json<KubeList>({
        path: `/api/v1/namespaces/${ns}/configmaps`,
        query: { limit: 10, continue: token, labelSelector: undefined },
      });
      pageSizes.push(page.items.length);
      seen.push(...page.items.map((i) => i.metadata.name).filter((n) => n.startsWith('cm-')));
      token = page.metadata.continue || undefined;
    } while (token);
    // 25 of ours plus kube-root-ca.crt, which the controller-manager adds to every namespace.
    assert.deepEqual(seen, created);
    assert.ok(pageSizes.length >= 3, `expected at least 3 pages, got ${pageSizes.join(',')}`);
    assert.ok(pageSizes.every((n) => n <= 10));
  });

  it('lists at an exact resourceVersion: the objects as they were at that revision', async (t) => {
    const ns = await testNamespace(t, a);
    await createConfigMap(a, ns, 'before', { value: 'old' });
    const snapshot = await a.json<KubeList>({ path: `/api/v1/namespaces/${ns}/configmaps` });
    const revision = snapshot.metadata.resourceVersion;

    await createConfigMap(a, ns, 'after');
    await a.json({
      method: 'PATCH',
      path: `/api/v1/namespaces/${ns}/configmaps/before`,
      contentType: 'application/merge-patch+json',
      body: { data: { value: 'new' } },
    });

    const atRevision = await a.json<KubeList>({
      path: `/api/v1/namespaces/${ns}/configmaps`,
      query: { resourceVersion: revision, resourceVersionMatch: 'Exact' },
    });
    assert.equal(atRevision.metadata.resourceVersion, revision);
    const names = atRevision.items.map((i) => i.metadata.name);
    assert.ok(names.includes('before') && !names.includes('after'), `got ${names.join(', ')}`);
    assert.equal(atRevision.items.find((i) => i.metadata.name === 'before')?.data?.value, 'old');

    const now = await a.json<KubeList>({ path: `/api/v1/namespaces/${ns}/configmaps` });
    assert.equal(now.items.find((i) => i.metadata.name === 'before')?.data?.value, 'new');
  });

  it('watches: a created object arrives as an ADDED event', async (t) => {
    const ns = await testNamespace(t, a);
    const watch = new Watch(loadKubeConfig({ kubeconfig: testbedEnv('KUBECONFIG'), env: {} }));
    const events: { type: string; name: string }[] = [];
    let resolveAdded: () => void;
    const added = new Promise<void>((resolve) => (resolveAdded = resolve));
    const controller = await watch.watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      {},
      (type, object: KubeObject) => {
        events.push({ type, name: object.metadata.name });
        if (type === 'ADDED' && object.metadata.name === 'watched') resolveAdded();
      },
      () => undefined,
    );
    t.after(() => controller.abort());
    await createConfigMap(a, ns, 'watched');
    await Promise.race([
      added,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`no ADDED event; saw ${JSON.stringify(events)}`)), 30_000).unref(),
      ),
    ]);
    assert.ok(events.some((e) => e.type === 'ADDED' && e.name === 'watched'));
  });

  it('applies server-side, tracks field managers and reports conflicts', async (t) => {
    const ns = await testNamespace(t, a);
    const path = `/api/v1/namespaces/${ns}/configmaps/applied`;
    const apply = (manager: string, data: Record<string, string>, force = false) =>
      a.json<KubeObject>({
        method: 'PATCH',
        path,
        query: { fieldManager: manager, force: force || undefined },
        contentType: 'application/apply-patch+yaml',
        body: configMap('applied', data),
      });

    await apply('cairn-a', { owner: 'a' });
    await assert.rejects(
      apply('cairn-b', { owner: 'b' }),
      (error: unknown) => error instanceof KubeApiError && error.status === 409,
    );
    const forced = await apply('cairn-b', { owner: 'b' }, true);
    assert.equal(forced.data?.owner, 'b');
    const managers = (forced.metadata.managedFields ?? []).map((f) => `${f.manager}/${f.operation}`);
    assert.ok(managers.includes('cairn-b/Apply'), `managers: ${managers.join(', ')}`);
  });

  it('deletes a namespace completely (the controller-manager finalizes it)', async () => {
    const name = `gone-${uniqueSuffix()}`;
    await a.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name } } });
    await createConfigMap(a, name, 'content');
    await a.json({ method: 'DELETE', path: `/api/v1/namespaces/${name}` });
    await eventually('the namespace to disappear', async () => {
      const res = await a.send({ path: `/api/v1/namespaces/${name}` });
      return res.status === 404 ? true : undefined;
    });
  });

  it('runs a Deployment into a ReplicaSet and pods (controllers at work)', async (t) => {
    const ns = await testNamespace(t, a);
    const labels = { app: 'web' };
    await a.json({
      method: 'POST',
      path: `/apis/apps/v1/namespaces/${ns}/deployments`,
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } },
        },
      },
    });
    const replicaSet = await eventually('a ReplicaSet owned by the Deployment', async () => {
      const list = await a.json<KubeList>({
        path: `/apis/apps/v1/namespaces/${ns}/replicasets`,
      });
      return list.items.find((rs) =>
        rs.metadata.ownerReferences?.some((o) => o.kind === 'Deployment' && o.name === 'web'),
      );
    });
    const pods = await eventually('two pods of the ReplicaSet', async () => {
      const list = await a.json<KubeList>({ path: `/api/v1/namespaces/${ns}/pods` });
      return list.items.length === 2 ? list.items : undefined;
    });
    assert.ok(replicaSet.metadata.name.startsWith('web-'));
    assert.ok(pods.every((p) => p.metadata.name.startsWith(replicaSet.metadata.name)));
  });
});

describe('the second testbed cluster', () => {
  it('is an independent control plane of the same version', async (t) => {
    const b = clusterClient('b');
    assert.notEqual(b.server, a.server);
    assert.equal((await b.serverVersion()).gitVersion, 'v1.34.4');
    const ns = await testNamespace(t, a, 'only-in-a');
    const inB = await b.send({ path: `/api/v1/namespaces/${ns}` });
    assert.equal(inB.status, 404);
  });
});
