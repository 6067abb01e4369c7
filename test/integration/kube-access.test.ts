// Cairn's Kubernetes access against the testbed's real API server: discovery, resource-name resolution,
// paged lists, and lists at one exact revision while a writer keeps changing the cluster.
import assert from 'node:assert/strict';
import { describe, it, before } from 'node:test';
import {
  currentRevision,
  discover,
  listItems,
  listPages,
  ResourceMapper,
  UnknownResourceError,
  type ApiResource,
  type KubeClient,
} from '../../src/kube/index.ts';
import { clusterClient, eventually, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;
let mapper: ResourceMapper;
let configmaps: ApiResource;

before(async () => {
  client = clusterClient('a');
  mapper = new ResourceMapper((await discover(client)).resources);
  configmaps = mapper.resolve('configmaps');
});

describe('discovery', () => {
  it('finds core and grouped resources with their scope, kind, verbs and preferred version', async () => {
    const { resources, failedGroupVersions } = await discover(client);
    assert.deepEqual(failedGroupVersions, []);
    const deployments = resources.find((r) => r.groupResource === 'deployments.apps' && r.preferred);
    assert.deepEqual(
      deployments && {
        groupVersion: deployments.groupVersion,
        kind: deployments.kind,
        namespaced: deployments.namespaced,
        shortNames: deployments.shortNames,
        singular: deployments.singular,
      },
      {
        groupVersion: 'apps/v1',
        kind: 'Deployment',
        namespaced: true,
        shortNames: ['deploy'],
        singular: 'deployment',
      },
    );
    const namespaces = resources.find((r) => r.groupResource === 'namespaces');
    assert.equal(namespaces?.namespaced, false);
    assert.ok(namespaces?.verbs.includes('list'));
    assert.ok(!resources.some((r) => r.resource.includes('/')), 'subresources are not resources');
  });

  it('gives the same resources through aggregated and per-group-version discovery', async () => {
    const key = (r: ApiResource) =>
      `${r.groupVersion} ${r.resource} ${r.kind} ${r.namespaced} ${r.preferred} ${r.shortNames.join(',')}`;
    const aggregated = (await discover(client)).resources.map(key).sort();
    const legacy = (await discover(client, { legacy: true })).resources.map(key).sort();
    assert.deepEqual(legacy, aggregated);
  });

  it('sees a new CustomResourceDefinition with the preferred version first', async (t) => {
    const group = `d${uniqueSuffix()}.cairn.dev`;
    const schema = { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } };
    await client.json({
      method: 'POST',
      path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      body: {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: `gadgets.${group}` },
        spec: {
          group,
          scope: 'Cluster',
          names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', shortNames: ['gdg'] },
          versions: [
            { name: 'v1beta1', served: true, storage: false, schema },
            { name: 'v1', served: true, storage: true, schema },
          ],
        },
      },
    });
    t.after(() =>
      client.send({
        method: 'DELETE',
        path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.${group}`,
      }),
    );
    const versions = await eventually('the gadgets resource in discovery', async () => {
      const found = new ResourceMapper((await discover(client)).resources).versionsOf(`gadgets.${group}`);
      return found.length === 2 ? found : undefined;
    });
    assert.deepEqual(
      versions.map((v) => [v.version, v.preferred, v.namespaced]),
      [
        ['v1', true, false],
        ['v1beta1', false, false],
      ],
    );
  });
});

describe('resource names', () => {
  it('resolves plural, singular, short, kind and group-qualified names as kubectl does', () => {
    const cases: [string, string][] = [
      ['secret', 'secrets'],
      ['secrets', 'secrets'],
      ['Secret', 'secrets'],
      ['cm', 'configmaps'],
      ['deploy', 'deployments.apps'],
      ['deployments.apps', 'deployments.apps'],
      ['deployment.apps', 'deployments.apps'],
      ['deployments.v1.apps', 'deployments.apps'],
      ['crd', 'customresourcedefinitions.apiextensions.k8s.io'],
      ['events', 'events'],
      ['events.events.k8s.io', 'events.events.k8s.io'],
    ];
    for (const [input, groupResource] of cases) {
      assert.equal(mapper.resolve(input).groupResource, groupResource, `resolving ${input}`);
    }
  });

  it('names the resource the cluster does not serve', () => {
    assert.throws(
      () => mapper.resolve('sekrets'),
      (error: unknown) =>
        error instanceof UnknownResourceError &&
        error.input === 'sekrets' &&
        error.message ===
          'unknown resource "sekrets": the cluster serves no resource of that name (see kubectl api-resources)',
    );
  });
});

async function createConfigMaps(ns: string, count: number, prefix = 'cm') {
  for (let i = 0; i < count; i++) {
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: {
        metadata: {
          name: `${prefix}-${String(i).padStart(3, '0')}`,
          labels: { tier: i % 2 ? 'odd' : 'even' },
        },
        data: { n: String(i) },
      },
    });
  }
}

describe('lists', () => {
  it('pages through a resource and fills in apiVersion and kind', async (t) => {
    const ns = await testNamespace(t, client);
    await createConfigMaps(ns, 23);
    const pages: number[] = [];
    for await (const page of listPages(client, configmaps, { namespace: ns, limit: 5 }))
      pages.push(page.items.length);
    assert.ok(pages.length >= 5 && pages.every((n) => n <= 5), `pages ${pages.join(',')}`);
    const items = [];
    for await (const item of listItems(client, configmaps, { namespace: ns, labelSelector: 'tier=odd' }))
      items.push(item);
    assert.equal(items.length, 11);
    assert.ok(items.every((i) => i.apiVersion === 'v1' && i.kind === 'ConfigMap'));
  });

  it('lists every page at one exact revision while a writer changes the namespace', async (t) => {
    const ns = await testNamespace(t, client);
    await createConfigMaps(ns, 30);
    const revision = await currentRevision(client);

    // A writer that changes every object and adds new ones while the paged list runs.
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      while (writing) {
        const i = writes % 30;
        await client.json({
          method: 'PATCH',
          path: `/api/v1/namespaces/${ns}/configmaps/cm-${String(i).padStart(3, '0')}`,
          contentType: 'application/merge-patch+json',
          body: { data: { n: `changed-${writes}` } },
        });
        await client.json({
          method: 'POST',
          path: `/api/v1/namespaces/${ns}/configmaps`,
          body: { metadata: { name: `late-${writes}` } },
        });
        writes++;
      }
    })();
    t.after(async () => {
      writing = false;
      await writer;
    });

    // Wait until the writer has changed things, then read slowly, page by page, at the revision.
    await eventually('the writer to make changes', () => Promise.resolve(writes >= 10 ? true : undefined));
    // Between any two pages the writer makes more changes (waited for, not slept for), so every page
    // after the first is read while the namespace has moved on from the revision.
    const seen = [];
    let pages = 0;
    for await (const page of listPages(client, configmaps, {
      namespace: ns,
      limit: 4,
      resourceVersion: revision,
    })) {
      assert.equal(page.resourceVersion, revision);
      seen.push(...page.items);
      pages++;
      const target = writes + 2;
      await eventually('the writer to change more between pages', () =>
        Promise.resolve(writes >= target ? true : undefined),
      );
    }
    writing = false;
    await writer;
    assert.ok(pages >= 8, `${pages} pages`);
    // The namespace as it is now holds what the list at the revision must not: later objects and changes.
    const now = [];
    for await (const item of listItems(client, configmaps, { namespace: ns })) now.push(item);
    assert.ok(now.filter((i) => i.metadata.name.startsWith('late-')).length >= 2 * pages);
    assert.ok(
      now.some((i) => String((i.data as Record<string, string> | undefined)?.n).startsWith('changed')),
    );
    const ours = seen.filter((i) => i.metadata.name.startsWith('cm-') || i.metadata.name.startsWith('late-'));
    assert.equal(ours.length, 30, 'objects created after the revision are not in the list');
    for (const item of ours) {
      assert.ok(
        BigInt(item.metadata.resourceVersion ?? '0') <= BigInt(revision),
        `${item.metadata.name} is newer than the revision`,
      );
      assert.ok(
        !String((item.data as Record<string, string>).n).startsWith('changed'),
        `${item.metadata.name} has a later change`,
      );
    }
  });

  it('reads the current revision, which grows with every write', async (t) => {
    const ns = await testNamespace(t, client);
    const before = BigInt(await currentRevision(client));
    await createConfigMaps(ns, 1);
    const after = BigInt(await currentRevision(client));
    assert.ok(after > before, `${after} > ${before}`);
  });
});

describe('connections', () => {
  it('reuses its connections to the API server instead of opening one per request', async () => {
    const fresh = clusterClient('a');
    for (let i = 0; i < 20; i++) await fresh.serverVersion();
    assert.equal(fresh.connectionsOpened, 1, 'twenty requests one after another share one connection');
    await Promise.all(Array.from({ length: 4 }, () => fresh.serverVersion()));
    assert.ok(fresh.connectionsOpened <= 4, `${fresh.connectionsOpened} connections for 4 parallel requests`);
    fresh.close();
  });
});
