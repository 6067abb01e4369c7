// The machinery controllers run on, against the testbed's real API server: watches, the informer's
// cache and its relists, and leader election on a Lease between two electors.
import assert from 'node:assert/strict';
import { globalAgent } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it, before } from 'node:test';
import {
  Informer,
  KubeLeaseStore,
  runLeaderElection,
  type LeaderElectionOptions,
  type LeaderElectionResult,
} from '../../src/controller/index.ts';
import {
  KubeClient,
  watch,
  WatchExpiredError,
  type KubeList,
  type KubeObject,
  type WatchEvent,
} from '../../src/kube/index.ts';
import { leaseStoreConformance } from '../conformance/lease-store.ts';
import { startFaultProxy, type Fault } from '../helpers/fault-proxy.ts';
import { clusterClient, eventually, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;

before(() => {
  client = clusterClient('a');
});

const configMaps = (ns: string) => `/api/v1/namespaces/${ns}/configmaps`;

// The test's own ConfigMaps: the controller manager adds kube-root-ca.crt to every namespace.
const ours = 'cairn.dev/test=machinery';

async function createConfigMap(ns: string, name: string, data: Record<string, string> = {}) {
  return client.json<KubeObject>({
    method: 'POST',
    path: configMaps(ns),
    body: { metadata: { name, labels: { 'cairn.dev/test': 'machinery' } }, data },
  });
}

async function patchConfigMap(ns: string, name: string, data: Record<string, string>) {
  return client.json<KubeObject>({
    method: 'PATCH',
    path: `${configMaps(ns)}/${name}`,
    contentType: 'application/merge-patch+json',
    body: { data },
  });
}

async function deleteConfigMap(ns: string, name: string) {
  await client.ok({ method: 'DELETE', path: `${configMaps(ns)}/${name}` });
}

/** The live ConfigMaps of a namespace, as "name@resourceVersion", sorted. */
async function liveState(ns: string): Promise<string[]> {
  const list = await client.json<KubeList>({ path: configMaps(ns), query: { labelSelector: ours } });
  return list.items.map((i) => `${i.metadata.name}@${i.metadata.resourceVersion ?? ''}`).sort();
}

describe('watch', () => {
  it('streams ADDED, MODIFIED and DELETED events from a revision on, whole however large', async (t) => {
    const ns = await testNamespace(t, client, 'watch');
    const { resourceVersion } = (await client.json<KubeList>({ path: configMaps(ns) })).metadata;
    // Larger than any chunk, with characters of several bytes: events arrive split across chunks.
    const big = 'é€'.repeat(150_000);
    const stop = new AbortController();
    const events: WatchEvent[] = [];
    const watching = (async () => {
      // The test's own ConfigMaps: the controller manager adds kube-root-ca.crt whenever it gets to it.
      const options = { resourceVersion, labelSelector: ours, signal: stop.signal };
      for await (const event of watch(client, configMaps(ns), options)) {
        events.push(event);
        if (event.type === 'DELETED') return;
      }
    })();
    t.after(() => stop.abort());

    await createConfigMap(ns, 'one', { size: 'small' });
    await patchConfigMap(ns, 'one', { big });
    await deleteConfigMap(ns, 'one');
    await eventually('the DELETED event', () =>
      Promise.resolve(events.some((e) => e.type === 'DELETED') ? true : undefined),
    );
    await watching;

    assert.deepEqual(
      events.map((e) => [e.type, e.type === 'ERROR' ? '' : e.object.metadata.name]),
      [
        ['ADDED', 'one'],
        ['MODIFIED', 'one'],
        ['DELETED', 'one'],
      ],
    );
    const modified = events[1]?.object as KubeObject | undefined;
    assert.equal((modified?.data as Record<string, string> | undefined)?.big, big);
  });

  it('ends when the server ends it (timeoutSeconds) and stops when the signal aborts', async (t) => {
    const ns = await testNamespace(t, client, 'watch');
    const events: string[] = [];
    for await (const event of watch(client, configMaps(ns), { timeoutSeconds: 1, labelSelector: ours }))
      events.push(event.type);
    assert.deepEqual(events, [], 'nothing matches: no events, and the stream ends');

    const stop = new AbortController();
    setTimeout(() => stop.abort(new Error('stopped by the test')), 300);
    await assert.rejects(
      (async () => {
        for await (const _ of watch(client, configMaps(ns), { signal: stop.signal }));
      })(),
      /stopped by the test/,
    );
  });

  it('throws WatchExpiredError from a revision the API server no longer keeps', async () => {
    // The API server's watch cache starts at the revision it was filled at, long after revision 1. Until
    // that cache is filled (a testbed just started), a watch goes to etcd, which has not compacted
    // revision 1 away yet and streams from it: such a watch ends by its timeout and is tried again.
    const error = await eventually('a watch from revision 1 to be refused', async () => {
      try {
        for await (const _ of watch(client, '/api/v1/configmaps', {
          resourceVersion: '1',
          timeoutSeconds: 2,
        }));
        return undefined;
      } catch (caught) {
        return caught;
      }
    });
    assert.ok(error instanceof WatchExpiredError, String(error));
    assert.equal(error.resourceVersion, '1');
    assert.match(error.detail, /too old resource version/);
  });
});

describe('informer', () => {
  it('keeps a cache that converges to the live state through creates, updates and deletes', async (t) => {
    const ns = await testNamespace(t, client, 'inf');
    for (let i = 0; i < 7; i++) await createConfigMap(ns, `early-${i}`);
    const seen: string[] = [];
    const logged: string[] = [];
    const informer = new Informer({
      client,
      path: configMaps(ns),
      labelSelector: ours,
      pageSize: 3, // several pages
      onAdd: (o) => seen.push(`add ${o.metadata.name}`),
      onUpdate: (before, after) => {
        assert.notEqual(before.metadata.resourceVersion, after.metadata.resourceVersion);
        seen.push(`update ${after.metadata.name}`);
      },
      onDelete: (o) => seen.push(`delete ${o.metadata.name}`),
      log: (message) => logged.push(message),
    });
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    t.after(async () => {
      stop.abort();
      await running;
    });

    await informer.hasSynced;
    assert.equal(informer.isSynced, true);
    assert.deepEqual(
      informer.keys().sort(),
      [0, 1, 2, 3, 4, 5, 6].map((i) => `${ns}/early-${i}`),
    );
    assert.equal(informer.get(`${ns}/early-0`)?.kind, 'ConfigMap', 'list items get their kind');

    await createConfigMap(ns, 'late');
    await patchConfigMap(ns, 'early-1', { changed: 'yes' });
    await deleteConfigMap(ns, 'early-2');
    await deleteConfigMap(ns, 'late');
    await patchConfigMap(ns, 'early-3', { changed: 'yes' });

    const live = await liveState(ns);
    await eventually('the cache to match the live state', () => {
      const cached = informer
        .list()
        .map((o) => `${o.metadata.name}@${o.metadata.resourceVersion ?? ''}`)
        .sort();
      return Promise.resolve(JSON.stringify(cached) === JSON.stringify(live) ? true : undefined);
    });
    assert.deepEqual(seen.slice(7), [
      'add late',
      'update early-1',
      'delete early-2',
      'delete late',
      'update early-3',
    ]);
    assert.equal(informer.get(`${ns}/early-2`), undefined);
    assert.deepEqual(logged, []);
  });

  it('lists again when its watch expires (410) and catches up with what changed meanwhile', async (t) => {
    const ns = await testNamespace(t, client, 'inf');
    await createConfigMap(ns, 'before');
    // The first watch is answered 410 Gone, as when the informer's revision was compacted; meanwhile a
    // ConfigMap appears that only the second list can report.
    let expired = 0;
    const proxy = await startFaultProxy((req): Fault => {
      if (!req.url?.includes('watch=true') || expired > 0) return undefined;
      expired += 1;
      return { status: 410 };
    });
    const through = new KubeClient(proxy.kubeConfig);
    const logged: string[] = [];
    const informer = new Informer({
      client: through,
      path: configMaps(ns),
      labelSelector: ours,
      watchTimeoutSeconds: 2, // the server ends each watch after 2 s: the informer watches again
      minBackoffMs: 50,
      log: (message) => logged.push(message),
    });
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    t.after(async () => {
      stop.abort();
      await running;
      through.close();
      await proxy.close(); // last: it waits for the connections to the proxy to end
      // The proxy forwards through Node's global agent and does not end a forwarded watch when its client
      // goes away: that upstream connection would keep this process alive until the API server drops it.
      globalAgent.destroy();
    });
    await informer.hasSynced;
    await createConfigMap(ns, 'after');

    await eventually('the cache to hold both ConfigMaps', () =>
      Promise.resolve(informer.get(`${ns}/after`) && informer.get(`${ns}/before`) ? true : undefined),
    );
    const requests = () =>
      proxy.seen
        .filter((s) => s.includes(`/namespaces/${ns}/configmaps`))
        .map((s) => (s.includes('watch=true') ? 'watch' : 'list'));
    assert.deepEqual(requests().slice(0, 4), ['list', 'watch', 'list', 'watch'], 'the 410 led to a list');
    assert.ok(
      logged.some((m) => /expired; listing again/.test(m)),
      `the relist is reported: ${logged.join('; ')}`,
    );

    // When the server ends a watch, the informer watches again from its revision without listing.
    await eventually(
      'two more watches',
      () => Promise.resolve(requests().filter((r) => r === 'watch').length >= 4 ? true : undefined),
      30_000,
    );
    assert.equal(requests().filter((r) => r === 'list').length, 2, 'no list after the relist');
    const revisions = proxy.seen
      .filter((s) => s.includes(`/namespaces/${ns}/configmaps`) && s.includes('watch=true'))
      .slice(1)
      .map((s) =>
        BigInt(new URL(s.split(' ')[1] ?? '', 'https://x').searchParams.get('resourceVersion') ?? '0'),
      );
    assert.ok(
      revisions.every((rv, i) => rv > 0n && (i === 0 || rv >= (revisions[i - 1] ?? 0n))),
      `each watch starts from the revision reached: ${revisions.join(', ')}`,
    );
    await patchConfigMap(ns, 'before', { changed: 'yes' });
    const live = await liveState(ns);
    await eventually('the cache to follow a change after the re-watches', () => {
      const cached = informer
        .list()
        .map((o) => `${o.metadata.name}@${o.metadata.resourceVersion ?? ''}`)
        .sort();
      return Promise.resolve(JSON.stringify(cached) === JSON.stringify(live) ? true : undefined);
    });
  });
});

/** An elector that records when it leads, in a race with others on one lease. */
function elector(name: string, ns: string, lease: string, settings: Partial<LeaderElectionOptions>) {
  const stop = new AbortController();
  const state = {
    identity: `${name}_${uniqueSuffix()}`,
    leading: false,
    startedAt: 0,
    stoppedLeading: 0,
    workFinished: false,
    stop,
    /** Replaced by the election's promise below. */
    result: Promise.resolve<LeaderElectionResult>({ led: false, end: 'stopped' }),
  };
  const own = clusterClient('a');
  state.result = runLeaderElection({
    client: own,
    namespace: ns,
    name: lease,
    identity: state.identity,
    signal: stop.signal,
    onStartedLeading: async (signal) => {
      state.leading = true;
      state.startedAt = Date.now();
      leaders.add(state.identity);
      maxLeaders = Math.max(maxLeaders, leaders.size);
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      await sleep(200); // finishing the item in progress
      leaders.delete(state.identity);
      state.workFinished = true;
    },
    onStoppedLeading: () => {
      state.leading = false;
      state.stoppedLeading += 1;
    },
    ...settings,
  }).finally(() => own.close());
  return state;
}

const leaders = new Set<string>();
let maxLeaders = 0;

async function readLease(ns: string, name: string) {
  return client.json<{
    spec: {
      holderIdentity?: string;
      leaseDurationSeconds?: number;
      renewTime?: string;
      acquireTime?: string;
      leaseTransitions?: number;
    };
  }>({ path: `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${name}` });
}

leaseStoreConformance('the Lease on the API server', async (t) => {
  const ns = await testNamespace(t, client, 'lease');
  return new KubeLeaseStore(client, ns, 'cairn');
});

describe('leader election', () => {
  // Order and outcome only: the timing of these elections is pinned down on an injected clock in
  // test/unit/leader-election.test.ts. Leases here are long enough that a loaded machine renews in time.
  it('lets exactly one of two lead; killed without release, the other takes over once the lease expires', async (t) => {
    const ns = await testNamespace(t, client, 'lead');
    leaders.clear();
    maxLeaders = 0;
    // Killing is stopping without release, so the lease must expire.
    const settings = {
      leaseDurationMs: 6000,
      renewDeadlineMs: 5000,
      retryPeriodMs: 500,
      releaseOnCancel: false,
    };
    const electors = [elector('a', ns, 'cairn', settings), elector('b', ns, 'cairn', settings)];
    t.after(async () => {
      for (const e of electors) e.stop.abort();
      await Promise.all(electors.map((e) => e.result));
    });

    const first = await eventually('a leader', () => Promise.resolve(electors.find((e) => e.leading)));
    const other = electors.find((e) => e !== first);
    assert.ok(other);
    // The leader renews for longer than the lease (as the lease itself records), and the other never leads.
    await eventually('renewals spanning more than the lease duration', async () => {
      const { spec } = await readLease(ns, 'cairn');
      return Date.parse(spec.renewTime ?? '') - Date.parse(spec.acquireTime ?? '') > 6000 ? true : undefined;
    });
    assert.equal(first.leading, true);
    assert.equal(other.leading, false);
    assert.equal((await readLease(ns, 'cairn')).spec.holderIdentity, first.identity);

    first.stop.abort();
    assert.deepEqual(await first.result, { led: true, end: 'stopped' });
    const lastRenewal = Date.parse((await readLease(ns, 'cairn')).spec.renewTime ?? '');
    await eventually('the other to take over', () => Promise.resolve(other.leading ? true : undefined));
    const lease = (await readLease(ns, 'cairn')).spec;
    assert.equal(lease.holderIdentity, other.identity);
    assert.equal(lease.leaseTransitions, 1);
    // Taken after the lease expired, never before: an order of two writes to the lease.
    assert.ok(
      Date.parse(lease.acquireTime ?? '') - lastRenewal >= 6000,
      `taken ${Date.parse(lease.acquireTime ?? '') - lastRenewal} ms after the last renewal, before the 6 s lease expired`,
    );
    assert.equal(first.stoppedLeading, 1);
    assert.equal(maxLeaders, 1, 'never two leaders at once');
  });

  it('hands over through the release when the leader stops, after its work is done', async (t) => {
    const ns = await testNamespace(t, client, 'lead');
    leaders.clear();
    maxLeaders = 0;
    // A lease of an hour: the other can only take it over because the leader released it.
    const settings = { leaseDurationMs: 3_600_000, renewDeadlineMs: 10_000, retryPeriodMs: 250 };
    const electors = [elector('a', ns, 'cairn', settings), elector('b', ns, 'cairn', settings)];
    t.after(async () => {
      for (const e of electors) e.stop.abort();
      await Promise.all(electors.map((e) => e.result));
    });
    const first = await eventually('a leader', () => Promise.resolve(electors.find((e) => e.leading)));
    const other = electors.find((e) => e !== first);
    assert.ok(other);

    first.stop.abort();
    assert.deepEqual(await first.result, { led: true, end: 'stopped' });
    assert.equal(first.workFinished, true, 'the lease is released only after the work returned');
    await eventually('the other to take over', () => Promise.resolve(other.leading ? true : undefined));
    const lease = (await readLease(ns, 'cairn')).spec;
    assert.equal(lease.holderIdentity, other.identity);
    assert.equal(lease.leaseTransitions, 1);
    assert.equal(maxLeaders, 1, 'never two leaders at once');
  });

  it('steps down and releases the lease when the leader work ends by itself', async (t) => {
    const ns = await testNamespace(t, client, 'lead');
    const only = elector('a', ns, 'cairn', {
      retryPeriodMs: 250,
      onStartedLeading: () => Promise.reject(new Error('the controllers crashed')),
    });
    t.after(() => only.stop.abort());
    assert.deepEqual(await only.result, { led: true, end: 'stopped' });
    const lease = await readLease(ns, 'cairn');
    assert.deepEqual(
      { holder: lease.spec.holderIdentity, seconds: lease.spec.leaseDurationSeconds },
      { holder: '', seconds: 1 },
    );
  });
});
