// The server outlives its API server: a leader whose requests fail longer than the renew deadline (as
// during a control-plane upgrade) stops leading, stays up, campaigns again, and leads and works again once
// the API server answers. A backup running through the outage is finished and its status written whole,
// unless another server took the lease meanwhile: then it fails, naming that server, and commits nothing.
// The outage is a fault-injecting proxy in front of the testbed's API server.
import assert from 'node:assert/strict';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backup } from '../../src/api/index.ts';
import { ORPHAN_REASON, resourcePath } from '../../src/controller/index.ts';
import { KubeClient } from '../../src/kube/index.ts';
import { backupKeys } from '../../src/storage/index.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { createCr, installCrds, startServer, type RunningServer } from '../helpers/server.ts';
import { clusterClient, eventually, uniqueSuffix } from '../helpers/testbed.ts';

let admin: KubeClient;
let proxy: FaultProxy;
let through: KubeClient;
let server: RunningServer;
/** A second replica, on the real API server, that takes the lease over during an outage. */
let second: RunningServer | undefined;
let namespace: string;
let dir: string;
let down = false;
/** While set, the server's list of ConfigMaps in the namespace (a backup's) is held back until it resolves. */
let hold: PromiseWithResolvers<void> | undefined;
/** Writes to these paths whose connection is dropped before they land: how many more. */
const dropWrites = new Map<string, number>();
const dropped = (req: { method?: string | undefined; url?: string | undefined }) => {
  const left = req.method === 'PATCH' ? (dropWrites.get(req.url ?? '') ?? 0) : 0;
  if (left > 0) dropWrites.set(req.url ?? '', left - 1);
  return left > 0;
};
const listsConfigMaps = (url: string | undefined) =>
  url?.startsWith(`/api/v1/namespaces/${namespace}/configmaps`) ?? false;

const ready = async (s: RunningServer) => (await s.get('/readyz')).status === 200;
const phaseOf = async (name: string) =>
  (await admin.json<Backup>({ path: resourcePath('Backup', namespace, name) })).status;
const stored = async (name: string, file: 'metadata' | 'archive') =>
  access(join(dir, 'local', backupKeys(name)[file])).then(
    () => true,
    () => false,
  );

/**
 * Starts the backup `name` and returns once the server is listing its ConfigMaps (held back), and then
 * the API server is away and the server has stopped leading.
 */
async function backupIntoOutage(name: string): Promise<PromiseWithResolvers<void>> {
  const held = Promise.withResolvers<void>();
  hold = held;
  const asked = proxy.seen.length;
  await createCr(admin, namespace, 'Backup', name, { includedNamespaces: [namespace] });
  await eventually('the backup to list ConfigMaps', () =>
    Promise.resolve(proxy.seen.slice(asked).some((r) => listsConfigMaps(r.split(' ')[1])) || undefined),
  );
  assert.equal((await phaseOf(name))?.phase, 'InProgress');
  down = true;
  await eventually('the server to stop leading', async () => ((await ready(server)) ? undefined : true));
  hold = undefined;
  return held;
}

describe('cairn server across an API server outage', () => {
  before(async () => {
    admin = clusterClient('a');
    await installCrds(admin);
    namespace = `cairn-${uniqueSuffix()}`;
    await admin.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: namespace } } });
    dir = await mkdtemp(join(tmpdir(), 'cairn-outage-'));
    await createCr(admin, namespace, 'BackupLocation', 'local', {
      provider: 'fs',
      config: { path: join(dir, 'local') },
      default: true,
    });
    for (let i = 0; i < 20; i++)
      await admin.json({
        method: 'POST',
        path: `/api/v1/namespaces/${namespace}/configmaps`,
        body: { metadata: { name: `config-${i}` }, data: { index: String(i) } },
      });
    proxy = await startFaultProxy((req) =>
      down || dropped(req) ? 'reset' : hold && listsConfigMaps(req.url) ? { wait: hold.promise } : undefined,
    );
    // Few tries per request, so that the outage shows within the renew deadline.
    through = new KubeClient(proxy.kubeConfig, { retry: { attempts: 2, baseDelayMs: 50, maxDelayMs: 100 } });
    server = await startServer({ client: through, namespace, identity: 'outlives' });
  });

  after(async () => {
    down = false;
    hold?.resolve();
    await second?.stop();
    await server.stop();
    through.close();
    await proxy.close();
    await admin.send({ method: 'DELETE', path: `/api/v1/namespaces/${namespace}` });
    await rm(dir, { recursive: true, force: true });
  });

  it('stops leading while the API server is away, stays up, and leads and backs up again after', async () => {
    await eventually('the server to lead', async () => ((await ready(server)) ? true : undefined));
    down = true;
    await eventually('the server to stop leading', async () => ((await ready(server)) ? undefined : true));
    assert.equal((await server.get('/healthz')).status, 200, 'the process is still up');
    down = false;
    await eventually('the server to lead again', async () => ((await ready(server)) ? true : undefined));
    assert.ok(
      server.logs.some((l) =>
        l.includes('outlives lost the lease (the API server did not answer in time); campaigning again'),
      ),
      server.logs.join('\n'),
    );
    await createCr(admin, namespace, 'Backup', 'after', { includedNamespaces: [namespace] });
    const backup = await eventually('the backup to finish', async () => {
      const b = await admin.json<Backup>({ path: resourcePath('Backup', namespace, 'after') });
      return ['Completed', 'PartiallyFailed', 'Failed'].includes(b.status?.phase ?? '') ? b : undefined;
    });
    assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status));
  });

  it('finishes a backup that runs through the outage, with its status whole and its files stored', async () => {
    await eventually('the server to lead', async () => ((await ready(server)) ? true : undefined));
    // Its first writes of its location label and fields are lost as well.
    dropWrites.set(resourcePath('Backup', namespace, 'through'), 3);
    const held = await backupIntoOutage('through');
    assert.equal((await server.get('/healthz')).status, 200, 'the process is still up');
    // The held list now meets the outage. It is tried again more often than the server's client tries a
    // request (2 tries): the backup waits for the API server rather than failing.
    const released = proxy.seen.length;
    held.resolve();
    await eventually('the list to be tried again through the outage', () =>
      Promise.resolve(
        proxy.seen.slice(released).filter((r) => listsConfigMaps(r.split(' ')[1])).length >= 6 || undefined,
      ),
    );
    down = false;
    const status = await eventually('the backup to finish', async () => {
      const s = await phaseOf('through');
      return s?.phase === 'InProgress' ? undefined : s;
    });
    assert.equal(status?.phase, 'Completed', JSON.stringify(status));
    assert.deepEqual(
      status.locations?.map((l) => [l.name, l.phase]),
      [['local', 'Completed']],
    );
    assert.ok((status.progress?.itemsBackedUp ?? 0) >= 20, JSON.stringify(status.progress));
    assert.equal(status.progress?.itemsBackedUp, status.progress?.totalItems);
    assert.ok(
      status.completionTimestamp && status.startTimestamp && status.expiration,
      JSON.stringify(status),
    );
    const backup = await admin.json<Backup>({ path: resourcePath('Backup', namespace, 'through') });
    assert.equal(backup.metadata.labels?.['velero.io/storage-location'], 'local');
    assert.ok(await stored('through', 'metadata'), 'velero-backup.json is committed');
    assert.ok(await stored('through', 'archive'), 'the archive is stored');
    assert.ok(
      server.logs.some((l) => l.includes('backup through: waiting for the API server')) &&
        server.logs.some((l) => /backup through: recording its locations: written after \d+ tries/.test(l)),
      server.logs.join('\n'),
    );
    assert.deepEqual(
      server.logs.filter((l) => l.startsWith('error ') || l.includes('cannot record its locations')),
      [],
    );
  });

  it('fails a backup that a server which led and released the lease during the outage failed, and commits nothing', async () => {
    await eventually('the server to lead', async () => ((await ready(server)) ? true : undefined));
    const held = await backupIntoOutage('released');
    // It leads while the first server cannot see the lease, fails the backup as an orphan, and stops
    // cleanly: the lease is released (no holder), so the first server never sees who held it.
    const passing = await startServer({ client: admin, namespace, identity: 'passing' });
    await eventually('the passing server to lead', async () => ((await ready(passing)) ? true : undefined));
    await eventually('the passing server to fail the backup as an orphan', async () =>
      (await phaseOf('released'))?.failureReason === ORPHAN_REASON ? true : undefined,
    );
    await passing.stop();
    held.resolve();
    down = false;
    const status = await eventually('the backup to end', async () => {
      const s = await phaseOf('released');
      return s?.failureReason === ORPHAN_REASON ? undefined : s;
    });
    assert.equal(status.phase, 'Failed', JSON.stringify(status));
    assert.equal(
      status.failureReason,
      'another server led while this backup was running and marked it Failed; nothing is committed',
    );
    assert.equal(await stored('released', 'metadata'), false, 'nothing is committed');
    assert.equal((await phaseOf('released'))?.phase, 'Failed');
  });

  it('fails a backup whose lease another server took during the outage, naming it, and commits nothing', async () => {
    await eventually('the server to lead', async () => ((await ready(server)) ? true : undefined));
    const held = await backupIntoOutage('taken');
    second = await startServer({ client: admin, namespace, identity: 'second' });
    await eventually('the second server to lead', async () =>
      second && (await ready(second)) ? true : undefined,
    );
    // The new leader fails the backup it finds InProgress and does not run, as it would a dead server's.
    await eventually('the second server to fail the backup as an orphan', async () =>
      (await phaseOf('taken'))?.failureReason === ORPHAN_REASON ? true : undefined,
    );
    held.resolve();
    down = false;
    const status = await eventually('the takeover to be recorded', async () => {
      const s = await phaseOf('taken');
      return s?.failureReason?.startsWith('another server') ? s : undefined;
    });
    assert.equal(status.phase, 'Failed');
    assert.equal(
      status.failureReason,
      'another server (second) took over leadership while this backup was running',
    );
    // The first server, a standby now, is still up and has let the backup go without committing it.
    await eventually('the first server to let the backup go', () =>
      Promise.resolve(server.logs.some((l) => l.includes('backup taken Failed')) || undefined),
    );
    assert.equal((await server.get('/healthz')).status, 200);
    assert.equal(await ready(server), false, 'the first server is a standby');
    assert.equal(await stored('taken', 'metadata'), false, 'nothing is committed');
    assert.equal((await phaseOf('taken'))?.phase, 'Failed');
  });
});
