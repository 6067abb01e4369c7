// A new leader fails the backups it finds InProgress and does not run (failOrphans), deciding from its
// informer's cache, which may be older than the Backup: a backup that finished since (its last write
// retried through an outage) keeps its Completed; one still InProgress is failed even when its
// resourceVersion moved on. Against the testbed's API server, with the informer stopped to keep its
// cache old.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Backup } from '../../src/api/index.ts';
import { BackupRuns } from '../../src/controller/backup-runs.ts';
import {
  BackupController,
  Informer,
  ORPHAN_REASON,
  patchStatus,
  resourcePath,
  ServerLocations,
  ServerMetrics,
  systemClock,
  type ControllerContext,
} from '../../src/controller/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { createCr, installCrds } from '../helpers/server.ts';
import { clusterClient, uniqueSuffix } from '../helpers/testbed.ts';

let admin: KubeClient;
let namespace: string;
const logs: string[] = [];

const statusOf = async (name: string) =>
  (await admin.json<Backup>({ path: resourcePath('Backup', namespace, name) })).status;

/** A controller whose informer listed the namespace's Backups once and then stopped. */
async function controllerWithOldCache(): Promise<{ controller: BackupController; stop: AbortController }> {
  const stop = new AbortController();
  const backups = new Informer<Backup>({ client: admin, path: resourcePath('Backup', namespace) });
  void backups.run(stop.signal);
  await backups.hasSynced;
  stop.abort();
  const ctx: ControllerContext = {
    client: admin,
    namespace,
    clock: systemClock,
    now: () => new Date(),
    locations: new ServerLocations({ client: admin, namespace, list: () => [] }),
    metrics: new ServerMetrics({ clock: systemClock }),
    log: (entry) => logs.push(`${entry.level} ${entry.message}`),
    writer: 'cairn test (orphans)',
  };
  const runs = new BackupRuns({ identity: 'orphans', signal: stop.signal, clock: systemClock });
  return { controller: new BackupController(ctx, backups, runs), stop };
}

async function inProgress(name: string): Promise<void> {
  await createCr(admin, namespace, 'Backup', name, { includedNamespaces: [namespace] });
  await patchStatus({ client: admin, namespace }, 'Backup', name, { phase: 'InProgress' });
}

describe('failing orphaned backups from an old cache', () => {
  before(async () => {
    admin = clusterClient('a');
    await installCrds(admin);
    namespace = `cairn-${uniqueSuffix()}`;
    await admin.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: namespace } } });
  });

  after(async () => {
    await admin.send({ method: 'DELETE', path: `/api/v1/namespaces/${namespace}` });
  });

  it('leaves Completed a backup the cache still saw InProgress', async () => {
    await inProgress('finished');
    const { controller } = await controllerWithOldCache();
    // The run's last write, retried through the outage, lands after the new leader listed.
    await patchStatus({ client: admin, namespace }, 'Backup', 'finished', { phase: 'Completed' });
    await controller.failOrphans(new AbortController().signal);
    const status = await statusOf('finished');
    assert.equal(status?.phase, 'Completed', JSON.stringify(status));
    assert.equal(status?.failureReason, undefined);
  });

  it('fails a backup still InProgress whose resourceVersion moved on since the cache saw it', async () => {
    await inProgress('progressing');
    const { controller } = await controllerWithOldCache();
    await patchStatus({ client: admin, namespace }, 'Backup', 'progressing', {
      progress: { itemsBackedUp: 3, totalItems: 9 },
    });
    await controller.failOrphans(new AbortController().signal);
    const status = await statusOf('progressing');
    assert.equal(status?.phase, 'Failed', JSON.stringify(status));
    assert.equal(status?.failureReason, ORPHAN_REASON);
    assert.ok(
      logs.some((l) => l.includes('backup progressing was InProgress when this server started leading')),
      logs.join('\n'),
    );
  });
});
