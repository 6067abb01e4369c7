// The API server throttles (429 with Retry-After, as one over its max in-flight requests answers): a
// backup and a restore complete, through the engines and through a server process, and no client asks
// again sooner than Retry-After said; the server, throttled whole for a while, stops leading, and then
// leads again and picks up a Backup created meanwhile, without a restart. The throttling is the fault
// proxy (test/helpers/fault-proxy.ts) in front of cluster a: the shared API server itself is left as is.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backup, Restore } from '../../src/api/index.ts';
import { createBackup } from '../../src/backup/index.ts';
import { KubeClient, type KubeObject } from '../../src/kube/index.ts';
import { createRestore } from '../../src/restore/index.ts';
import { Informer } from '../../src/controller/index.ts';
import {
  BackupStore,
  FilesystemStore,
  generateLocationKey,
  MemoryStore,
  RestoreStore,
} from '../../src/storage/index.ts';
import { retryAfterViolations, startFaultProxy, Throttle, type FaultProxy } from '../helpers/fault-proxy.ts';
import { recordReliability } from '../helpers/reliability.ts';
import { createCr, getCr, installCrds, startServer } from '../helpers/server.ts';
import { clusterClient, eventually, uniqueSuffix } from '../helpers/testbed.ts';

const configMaps = 8;
let admin: KubeClient;
let namespace: string;
let dir: string;
const cleanups: (() => Promise<unknown>)[] = [];

/** A proxy throttling with `throttle`, and a client through it that tries often enough to get through. */
async function throttled(throttle: Throttle): Promise<{ proxy: FaultProxy; client: KubeClient }> {
  const proxy = await startFaultProxy((req) => throttle.decide(req));
  // Ten tries: a request is throttled ten times in a row at 20 % once in ten million.
  const client = new KubeClient(proxy.kubeConfig, {
    retry: { attempts: 10, baseDelayMs: 50, maxDelayMs: 500 },
  });
  cleanups.push(
    () => proxy.close(),
    () => Promise.resolve(client.close()),
  );
  return { proxy, client };
}

async function configMapsIn(ns: string): Promise<string[]> {
  const list = await admin.json<{ items: KubeObject[] }>({ path: `/api/v1/namespaces/${ns}/configmaps` });
  return list.items.map((c) => c.metadata.name).filter((n) => n.startsWith('config-'));
}

function deleteNamespaceLater(ns: string): void {
  cleanups.push(() => admin.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` }));
}

describe('the API server throttling', () => {
  before(async () => {
    admin = clusterClient('a');
    await installCrds(admin);
    namespace = `cairn-throttle-${uniqueSuffix()}`;
    await admin.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: namespace } } });
    deleteNamespaceLater(namespace);
    dir = await mkdtemp(join(tmpdir(), 'cairn-throttle-'));
    for (let i = 0; i < configMaps; i++)
      await admin.json({
        method: 'POST',
        path: `/api/v1/namespaces/${namespace}/configmaps`,
        body: { metadata: { name: `config-${i}` }, data: { index: String(i) } },
      });
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('backs up and restores through the engines, waiting as long as Retry-After says', async () => {
    const throttle = new Throttle({ retryAfterSeconds: 1, fraction: 0.2 });
    const { proxy, client } = await throttled(throttle);
    const store = new BackupStore({
      location: 'default',
      store: new FilesystemStore({ root: join(dir, 'engines') }),
      key: generateLocationKey(),
    });
    const name = `engines-${uniqueSuffix()}`;
    const backup = await createBackup({
      client,
      name,
      spec: { includedNamespaces: [namespace] },
      stores: [store],
      now: () => new Date(),
      writer: 'cairn throttling test',
      uid: name,
    });
    assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status));
    assert.ok((backup.status?.progress?.itemsBackedUp ?? 0) > configMaps, JSON.stringify(backup.status));

    const copy = `${namespace}-engines`;
    deleteNamespaceLater(copy);
    const { restore } = await createRestore({
      client,
      name: `r-${name}`,
      spec: { backupName: name, namespaceMapping: { [namespace]: copy } },
      backups: store,
      records: new RestoreStore(new MemoryStore()),
      now: () => new Date(),
      uid: `r-${name}`,
    });
    assert.equal(restore.status?.phase, 'Completed', JSON.stringify(restore.status));
    assert.deepEqual((await configMapsIn(copy)).sort(), (await configMapsIn(namespace)).sort());

    assert.ok(throttle.throttled > 0, 'some requests were throttled');
    assert.deepEqual(retryAfterViolations(proxy.requests), []);
    recordReliability({
      section: 'Faults',
      subject: 'backup and restore engines (createBackup, createRestore)',
      tried: 'API server answering 429 with Retry-After 1 s to a fifth of the requests',
      cases: throttle.throttled,
      outcome: 'both completed; no request was repeated before its Retry-After',
      lost: 'nothing',
    });
  });

  it("waits out a throttled watch's Retry-After before watching again, and catches up", async () => {
    // Only the informer's first watch is throttled, for 2 s: its own back-off (50 ms) is far shorter.
    let watches = 0;
    const proxy = await startFaultProxy((req) =>
      req.url?.includes('watch=true') && watches++ === 0 ? { status: 429, retryAfterSeconds: 2 } : undefined,
    );
    const client = new KubeClient(proxy.kubeConfig);
    cleanups.push(
      () => proxy.close(),
      () => Promise.resolve(client.close()),
    );
    const informer = new Informer({
      client,
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      minBackoffMs: 50,
    });
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    cleanups.push(async () => {
      stop.abort();
      await running;
    });
    await informer.hasSynced;
    await admin.json({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      body: { metadata: { name: 'while-throttled' } },
    });
    await eventually('the informer to see the ConfigMap created after the 429', () =>
      Promise.resolve(informer.get(`${namespace}/while-throttled`) ? true : undefined),
    );
    assert.equal(proxy.requests.filter((r) => r.status === 429).length, 1);
    assert.deepEqual(retryAfterViolations(proxy.requests), []);
    recordReliability({
      section: 'Faults',
      subject: "the server's informers (watch)",
      tried: 'a watch answered 429 with Retry-After 2 s, the informer backing off 50 ms',
      cases: 1,
      outcome: 'watched again after the Retry-After, from the same revision, and caught up',
      lost: 'nothing',
    });
  });

  it('keeps a server working through throttling, and it leads again and picks up new work after a total one', async () => {
    const throttle = new Throttle({ retryAfterSeconds: 1, fraction: 0.1 });
    const { proxy, client } = await throttled(throttle);
    await createCr(admin, namespace, 'BackupLocation', 'local', {
      provider: 'fs',
      config: { path: join(dir, 'server') },
      default: true,
    });
    const server = await startServer({ client, namespace, identity: 'throttled' });
    cleanups.push(() => server.stop());
    const ready = async () => (await server.get('/readyz')).status === 200;
    const finished = async <T extends Backup | Restore>(kind: 'Backup' | 'Restore', name: string) =>
      eventually(
        `${kind} ${name} to finish`,
        async () => {
          const object = await getCr<T>(admin, namespace, kind, name);
          const phase = object?.status?.phase ?? 'New';
          return ['New', 'InProgress'].includes(phase) ? undefined : object;
        },
        180_000,
      );

    await createCr(admin, namespace, 'Backup', 'nightly', { includedNamespaces: [namespace] });
    const nightly = await finished<Backup>('Backup', 'nightly');
    assert.equal(nightly?.status?.phase, 'Completed', JSON.stringify(nightly?.status));
    const copy = `${namespace}-server`;
    deleteNamespaceLater(copy);
    await createCr(admin, namespace, 'Restore', 'nightly-copy', {
      backupName: 'nightly',
      namespaceMapping: { [namespace]: copy },
    });
    const restored = await finished<Restore>('Restore', 'nightly-copy');
    assert.equal(restored?.status?.phase, 'Completed', JSON.stringify(restored?.status));
    assert.deepEqual((await configMapsIn(copy)).sort(), (await configMapsIn(namespace)).sort());

    // Every request throttled, longer than the renew deadline: the server stops leading, stays up.
    await eventually('the server to lead', async () => ((await ready()) ? true : undefined), 120_000);
    throttle.all = true;
    await eventually('the server to stop leading', async () => ((await ready()) ? undefined : true), 120_000);
    await createCr(admin, namespace, 'Backup', 'during', { includedNamespaces: [namespace] });
    assert.equal((await server.get('/healthz')).status, 200, 'the process is still up');
    throttle.all = false;
    await eventually('the server to lead again', async () => ((await ready()) ? true : undefined), 120_000);
    const during = await finished<Backup>('Backup', 'during');
    assert.equal(during?.status?.phase, 'Completed', JSON.stringify(during?.status));
    assert.ok(
      server.logs.some((l) => l.includes('throttled could not renew the lease')),
      server.logs.join('\n'),
    );
    assert.ok(throttle.throttled > 0, 'some requests were throttled');
    assert.deepEqual(retryAfterViolations(proxy.requests), []);
    recordReliability({
      section: 'Faults',
      subject: 'cairn server (informers, lease, backup and restore controllers)',
      tried:
        'API server answering 429 with Retry-After 1 s to a tenth of the requests, then to all of them past the renew deadline',
      cases: throttle.throttled,
      outcome:
        'backup and restore completed; the server stopped leading while throttled and led again without a restart, picking up a Backup created meanwhile; no request was repeated before its Retry-After',
      lost: 'nothing',
    });
  });
});
