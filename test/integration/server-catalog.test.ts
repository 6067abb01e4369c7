// The server's catalog sync with two locations that sync (a DR mirror's shape: its own location and
// another one), with a grace period: a backup whose files are gone from its location is removed once the
// grace period has passed, although the other location's syncs run in between; the other location's
// backups are left alone. (Each location's sync once cleared every other location's timers, so such a
// backup stayed Completed for ever.)
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backup } from '../../src/api/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { createCr, getCr, installCrds, startServer, type RunningServer } from '../helpers/server.ts';
import { clusterClient, eventually, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;
let namespace: string;
let app: string;
let dir: string;
let server: RunningServer;

async function finished(name: string): Promise<Backup> {
  return eventually(`Backup ${name} to finish`, async () => {
    const backup = await getCr<Backup>(client, namespace, 'Backup', name);
    const phase = backup?.status?.phase;
    return backup && phase && phase !== 'New' && phase !== 'InProgress' ? backup : undefined;
  });
}

describe('cairn server: the catalog of two syncing locations', () => {
  before(async () => {
    client = clusterClient('a');
    await installCrds(client);
    namespace = `cairn-${uniqueSuffix()}`;
    app = `app-${uniqueSuffix()}`;
    for (const ns of [namespace, app])
      await client.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: ns } } });
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${app}/configmaps`,
      body: { metadata: { name: 'settings' }, data: { color: 'blue' } },
    });
    dir = await mkdtemp(join(tmpdir(), 'cairn-catalog-'));
    for (const name of ['one', 'two'])
      await createCr(client, namespace, 'BackupLocation', name, {
        provider: 'fs',
        config: { path: join(dir, name) },
        default: name === 'one',
        backupSyncPeriod: '1s',
        validationFrequency: '1s',
      });
    server = await startServer({
      client,
      namespace,
      identity: 'catalog',
      resyncMs: 200,
      locationIntervalMs: 300,
      syncGraceMs: 3000,
    });
  });

  after(async () => {
    await server.stop();
    for (const ns of [namespace, app])
      await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
    await rm(dir, { recursive: true, force: true });
  });

  it("removes a backup whose files are gone from its location after the grace period, and keeps the other location's", async () => {
    for (const [name, location] of [
      ['in-one', 'one'],
      ['in-two', 'two'],
    ] as const)
      await createCr(client, namespace, 'Backup', name, {
        includedNamespaces: [app],
        storageLocation: location,
        ttl: '100000h',
      });
    for (const name of ['in-one', 'in-two']) assert.equal((await finished(name)).status?.phase, 'Completed');

    await rm(join(dir, 'one', 'backups', 'in-one'), { recursive: true, force: true });
    const gone = Date.now();
    await eventually(
      'the Backup whose files are gone to be removed',
      async () => ((await getCr(client, namespace, 'Backup', 'in-one')) === undefined ? true : undefined),
      60_000,
    );
    // Not before the grace period: its files might have been written again meanwhile.
    assert.ok(Date.now() - gone >= 3000, `removed after ${Date.now() - gone} ms`);
    assert.ok(
      server.logs.some((line) =>
        line.includes('removed Backup in-one: its metadata is gone from location one'),
      ),
    );
    // The other location's backup stays, its files there.
    assert.equal((await getCr<Backup>(client, namespace, 'Backup', 'in-two'))?.status?.phase, 'Completed');
  });
});
