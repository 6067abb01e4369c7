// The server's life of a backup against the testbed, under a wall clock the test moves by hand: schedules
// firing (and not firing), retention and TTL expiry through DeleteBackupRequests, delete locks, and the
// catalog sync that lets a second cluster pointed at the same MinIO bucket see the first one's backups.
import assert from 'node:assert/strict';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { after, before, describe, it } from 'node:test';
import type { Backup, BackupLocation, DeleteBackupRequest, Restore, Schedule } from '../../src/api/index.ts';
import { keySecretName } from '../../src/controller/index.ts';
import type { KubeClient, KubeObject } from '../../src/kube/index.ts';
import {
  createCr,
  getCr,
  installCrds,
  listCrs,
  metricValue,
  startServer,
  type RunningServer,
} from '../helpers/server.ts';
import { clusterClient, eventually, minioOptions, testbedEnv, uniqueSuffix } from '../helpers/testbed.ts';

const HOUR = 3_600_000;
/** The test's wall clock: the machine's plus an offset the test moves. */
let offsetMs = 0;
const now = () => new Date(Date.now() + offsetMs);

let a: KubeClient;
let b: KubeClient;
let nsA: string;
let nsB: string;
let app: string;
let bucket: string;
let s3: S3Client;
let serverA: RunningServer;
let serverB: RunningServer | undefined;

const phaseOf = async (client: KubeClient, ns: string, name: string) =>
  (await getCr<Backup>(client, ns, 'Backup', name))?.status?.phase;

async function finished(client: KubeClient, ns: string, name: string): Promise<Backup> {
  return eventually(`backup ${name} to finish`, async () => {
    const backup = await getCr<Backup>(client, ns, 'Backup', name);
    const phase = backup?.status?.phase;
    return phase && !['New', 'InProgress'].includes(phase) ? backup : undefined;
  });
}

/** The backups a schedule made, oldest first. */
async function backupsOf(schedule: string): Promise<Backup[]> {
  return (await listCrs<Backup>(a, nsA, 'Backup'))
    .filter((x) => x.metadata.labels?.['cairn.dev/schedule-name'] === schedule)
    .sort((x, y) => (x.metadata.name < y.metadata.name ? -1 : 1));
}

/**
 * The backups stored whole (their velero-backup.json written), now: a backup still being written, or
 * being deleted by cluster a's retention meanwhile, is not one a second cluster must show.
 */
async function committedBackups(): Promise<string[]> {
  const names: string[] = [];
  let token: string | undefined;
  do {
    const listed = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: 'cairn/backups/', ContinuationToken: token }),
    );
    for (const object of listed.Contents ?? [])
      if (object.Key?.endsWith('/velero-backup.json')) names.push(object.Key.split('/')[2] ?? '');
    token = listed.NextContinuationToken;
  } while (token);
  return names.sort();
}

async function storedBackups(): Promise<string[]> {
  const listed = await s3.send(
    new ListObjectsV2Command({ Bucket: bucket, Prefix: 'cairn/backups/', Delimiter: '/' }),
  );
  return (listed.CommonPrefixes ?? []).map((p) => p.Prefix?.split('/')[2] ?? '').sort();
}

const credentials = () =>
  `[default]\naws_access_key_id = ${testbedEnv('AWS_ACCESS_KEY_ID')}\naws_secret_access_key = ${testbedEnv('AWS_SECRET_ACCESS_KEY')}\n`;

async function locationIn(client: KubeClient, ns: string, accessMode: 'ReadWrite' | 'ReadOnly') {
  await client.json({
    method: 'POST',
    path: `/api/v1/namespaces/${ns}/secrets`,
    body: { metadata: { name: 'minio' }, stringData: { cloud: credentials() } },
  });
  await createCr(client, ns, 'BackupLocation', 'minio', {
    provider: 's3',
    objectStorage: { bucket, prefix: 'cairn' },
    config: { region: 'us-east-1', s3Url: testbedEnv('CAIRN_S3_ENDPOINT'), s3ForcePathStyle: 'true' },
    credential: { name: 'minio', key: 'cloud' },
    default: true,
    accessMode,
    backupSyncPeriod: '1s',
    validationFrequency: '1s',
  });
}

describe('cairn server: schedules, retention, deletion and catalog sync', () => {
  before(async () => {
    a = clusterClient('a');
    b = clusterClient('b');
    await Promise.all([installCrds(a), installCrds(b)]);
    nsA = `cairn-${uniqueSuffix()}`;
    nsB = `cairn-${uniqueSuffix()}`;
    app = `app-${uniqueSuffix()}`;
    for (const ns of [nsA, app])
      await a.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: ns } } });
    await b.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: nsB } } });
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${app}/configmaps`,
      body: { metadata: { name: 'settings' }, data: { color: 'blue' } },
    });
    bucket = `cairn-server-${uniqueSuffix()}`;
    s3 = new S3Client(minioOptions());
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await locationIn(a, nsA, 'ReadWrite');
    serverA = await startServer({
      client: clusterClient('a'),
      namespace: nsA,
      identity: 'a',
      now,
      resyncMs: 200,
      gcIntervalMs: 500,
      locationIntervalMs: 1000,
      syncGraceMs: 0,
    });
  });

  after(async () => {
    await serverA.stop();
    await serverB?.stop();
    for (const ns of [nsA, app]) await a.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
    await b.send({ method: 'DELETE', path: `/api/v1/namespaces/${nsB}` });
    s3.destroy();
  });

  it('finds its location Available', async () => {
    const location = await eventually('the location to be checked', async () => {
      const l = await getCr<BackupLocation>(a, nsA, 'BackupLocation', 'minio');
      return l?.status?.phase ? l : undefined;
    });
    assert.equal(location.status?.phase, 'Available', location.status?.message);
    const metrics = await serverA.get('/metrics');
    assert.equal(
      metricValue(metrics.text, 'cairn_backup_location_status_gauge{backup_location_name="minio"}'),
      1,
    );
  });

  it('backs up at once for a new schedule, again when its next run comes, and keeps the last one by its policy', async () => {
    await createCr(a, nsA, 'Schedule', 'nightly', {
      schedule: '0 2 * * *',
      template: { includedNamespaces: [app], ttl: '720h' },
      retention: { keepLast: 1 },
    });
    const [first] = await eventually('the first scheduled backup', async () => {
      const made = await backupsOf('nightly');
      return made.length === 1 ? made : undefined;
    });
    assert.match(first!.metadata.name, /^nightly-\d{14}$/);
    assert.equal((await finished(a, nsA, first!.metadata.name)).status?.phase, 'Completed');
    const schedule = await eventually('the schedule status', async () => {
      const s = await getCr<Schedule>(a, nsA, 'Schedule', 'nightly');
      return s?.status?.lastBackup && s.status.nextRun ? s : undefined;
    });
    assert.equal(schedule.status?.phase, 'Enabled');
    const nextRun = new Date(schedule.status?.nextRun ?? '');
    assert.equal(nextRun.getUTCHours(), 2);
    // The clock reaches the next run: a second backup, and retention (keep the last 1) deletes the first
    // through a DeleteBackupRequest, from the bucket and from the cluster.
    offsetMs += nextRun.getTime() - now().getTime() + 1000;
    const second = await eventually('the second scheduled backup', async () => {
      const made = await backupsOf('nightly');
      return made.find((x) => x.metadata.name !== first!.metadata.name);
    });
    // No backup before the next run: the one found after the first is named for a time at or past it
    // (the timing itself is the unit tests' matter, on an injected clock: schedule-timing.test.ts).
    const stamp = /-(\d{14})$/.exec(second.metadata.name)?.[1] ?? '';
    assert.ok(
      stamp >= nextRun.toISOString().replace(/[-:T]/g, '').slice(0, 14),
      `${second.metadata.name} is not the run of ${nextRun.toISOString()}`,
    );
    assert.equal((await finished(a, nsA, second.metadata.name)).status?.phase, 'Completed');
    await eventually('the first backup to be collected', async () =>
      (await getCr(a, nsA, 'Backup', first!.metadata.name)) === undefined ? true : undefined,
    );
    assert.ok(!(await storedBackups()).includes(first!.metadata.name), 'its files are gone from the bucket');
    assert.ok((await storedBackups()).includes(second.metadata.name));
    // The location's figures follow what it stores: one backup of the schedule, its bytes.
    const stored = (await getCr<Backup>(a, nsA, 'Backup', second.metadata.name))?.status?.locations?.[0]
      ?.bytes;
    assert.ok(stored && stored > 0);
    await eventually('the location figures to show the one backup left', async () => {
      const text = (await serverA.get('/metrics')).text;
      const bytes = metricValue(text, 'cairn_backup_location_bytes{backup_location_name="minio"}');
      const count = metricValue(text, 'cairn_backup_location_backups{backup_location_name="minio"}');
      return bytes === stored && count === 1 ? true : undefined;
    });
    const requests = await listCrs<DeleteBackupRequest>(a, nsA, 'DeleteBackupRequest');
    const request = requests.find((r) => r.spec.backupName === first!.metadata.name);
    assert.deepEqual(request?.status, { phase: 'Processed', errors: [] });
    assert.match(
      request?.metadata.annotations?.['cairn.dev/reason'] ?? '',
      /garbage collection: no rule keeps it/,
    );
  });

  it('skips the first run with skipImmediately, and refuses a schedule that is not one', async () => {
    await createCr(a, nsA, 'Schedule', 'later', {
      schedule: '@every 24h',
      skipImmediately: true,
      template: { includedNamespaces: [app] },
    });
    await createCr(a, nsA, 'Schedule', 'broken', { schedule: '61 * * * *', template: {} });
    const later = await eventually('the skipped run', async () => {
      const s = await getCr<Schedule>(a, nsA, 'Schedule', 'later');
      return s?.status?.lastSkipped ? s : undefined;
    });
    assert.equal(later.status?.lastBackup, undefined);
    assert.equal((await backupsOf('later')).length, 0);
    const broken = await eventually('the bad schedule refused', async () => {
      const s = await getCr<Schedule>(a, nsA, 'Schedule', 'broken');
      return s?.status?.phase ? s : undefined;
    });
    assert.equal(broken.status?.phase, 'FailedValidation');
    assert.match(broken.status?.validationErrors?.join('\n') ?? '', /schedule "61 \* \* \* \*"/);
  });

  it('deletes a backup whose TTL ended, and refuses to delete a locked one, by GC or by request', async () => {
    await createCr(a, nsA, 'Backup', 'short', { includedNamespaces: [app], ttl: '1h' });
    await createCr(a, nsA, 'Backup', 'locked', { includedNamespaces: [app], ttl: '1h', deleteLockDays: 2 });
    assert.equal((await finished(a, nsA, 'short')).status?.phase, 'Completed');
    assert.equal((await finished(a, nsA, 'locked')).status?.phase, 'Completed');
    offsetMs += 2 * HOUR;
    await eventually('the expired backup to be collected', async () =>
      (await getCr(a, nsA, 'Backup', 'short')) === undefined ? true : undefined,
    );
    assert.ok(!(await storedBackups()).includes('short'));
    // The request the collector made says why: the TTL ended.
    const collected = (await listCrs<DeleteBackupRequest>(a, nsA, 'DeleteBackupRequest')).find(
      (r) => r.spec.backupName === 'short',
    );
    assert.match(
      collected?.metadata.annotations?.['cairn.dev/reason'] ?? '',
      /garbage collection: expired \(ttl 1h\)/,
    );
    // The locked one outlived its TTL but stays; a request to delete it is refused, with the reason.
    assert.equal(await phaseOf(a, nsA, 'locked'), 'Completed');
    await createCr(a, nsA, 'DeleteBackupRequest', 'locked-by-hand', { backupName: 'locked' });
    const refused = await eventually('the request to be processed', async () => {
      const r = await getCr<DeleteBackupRequest>(a, nsA, 'DeleteBackupRequest', 'locked-by-hand');
      return r?.status?.phase === 'Processed' ? r : undefined;
    });
    assert.match(refused.status?.errors?.join('\n') ?? '', /locked against deletion until/);
    assert.equal(await phaseOf(a, nsA, 'locked'), 'Completed');
    assert.ok((await storedBackups()).includes('locked'));
    // Once the lock has passed, the TTL takes it; the requests processed over a day ago are removed.
    offsetMs += 3 * 24 * HOUR;
    await eventually('the unlocked backup to be collected', async () =>
      (await getCr(a, nsA, 'Backup', 'locked')) === undefined ? true : undefined,
    );
    await eventually('the processed request of over a day ago to be removed', async () =>
      (await getCr(a, nsA, 'DeleteBackupRequest', 'locked-by-hand')) === undefined ? true : undefined,
    );
  });

  it('shows a second cluster, pointed ReadOnly at the same bucket, every backup the first one stored', async () => {
    // Cluster b gets the location (ReadOnly: a restore cluster) and a copy of its key.
    const key = await a.json<KubeObject & { data: Record<string, string> }>({
      path: `/api/v1/namespaces/${nsA}/secrets/${keySecretName('minio')}`,
    });
    await b.json({
      method: 'POST',
      path: `/api/v1/namespaces/${nsB}/secrets`,
      body: { metadata: { name: keySecretName('minio') }, data: key.data },
    });
    // Cluster a makes no more scheduled backups from here on.
    for (const schedule of ['nightly', 'later', 'broken'])
      await a.send({ method: 'DELETE', path: `/apis/cairn.dev/v1/namespaces/${nsA}/schedules/${schedule}` });
    await locationIn(b, nsB, 'ReadOnly');
    serverB = await startServer({
      client: clusterClient('b'),
      namespace: nsB,
      identity: 'b',
      now,
      gcIntervalMs: 500,
    });
    assert.ok((await committedBackups()).length >= 1);
    // Listed again at each look: cluster a's retention may still be deleting expired backups, and a
    // backup deleted before cluster b's first sync never shows there (a race that failed this test on a
    // loaded machine when the list was taken once, up front).
    const synced = await eventually('every stored backup in cluster b', async () => {
      const inB = await listCrs<Backup>(b, nsB, 'Backup');
      const stored = await committedBackups();
      return stored.length > 0 &&
        stored.every((name) => inB.some((x) => x.metadata.name === name && x.status?.phase))
        ? inB.filter((x) => stored.includes(x.metadata.name))
        : undefined;
    });
    for (const backup of synced) {
      const original = await getCr<Backup>(a, nsA, 'Backup', backup.metadata.name);
      if (!original) continue; // expired and deleted in cluster a since the look above
      assert.equal(backup.status?.phase, original.status?.phase, backup.metadata.name);
      assert.equal(backup.status?.consistency?.revision, original.status?.consistency?.revision);
      assert.equal(backup.metadata.labels?.['velero.io/storage-location'], 'minio');
      // Known by this cluster's location, whatever the writer called its own.
      assert.equal(backup.spec.storageLocation, 'minio');
      assert.deepEqual(
        backup.status?.locations?.map((l) => l.name),
        ['minio'],
      );
      assert.equal(backup.metadata.annotations?.['cairn.dev/synced-from'], 'minio');
    }
    // The migration: cluster b restores cluster a's scheduled backup from the bucket.
    const source = synced.find((x) => x.metadata.name.startsWith('nightly-'));
    assert.ok(source, 'a scheduled backup was synced');
    await createCr(b, nsB, 'Restore', 'migrate', { backupName: source.metadata.name });
    const restore = await eventually('the restore in cluster b', async () => {
      const r = await getCr<Restore>(b, nsB, 'Restore', 'migrate');
      return r?.status?.phase && !['New', 'InProgress'].includes(r.status.phase) ? r : undefined;
    });
    assert.equal(restore.status?.phase, 'Completed', JSON.stringify(restore.status));
    const settings = await b.json<KubeObject & { data: Record<string, string> }>({
      path: `/api/v1/namespaces/${app}/configmaps/settings`,
    });
    assert.deepEqual(settings.data, { color: 'blue' });
    await b.send({ method: 'DELETE', path: `/api/v1/namespaces/${app}` });
    // A restore of a backup that is not there is refused, naming it.
    await createCr(b, nsB, 'Restore', 'nothing', { backupName: 'no-such-backup' });
    const nothing = await eventually('the bad restore refused', async () => {
      const r = await getCr<Restore>(b, nsB, 'Restore', 'nothing');
      return r?.status?.phase ? r : undefined;
    });
    assert.equal(nothing.status?.phase, 'FailedValidation');
    assert.match(nothing.status?.validationErrors?.join('\n') ?? '', /no Backup named "no-such-backup"/);

    // Cluster b's garbage collection never asks to delete from a ReadOnly location, even expired backups:
    // two passes are waited for after the clock moved (the first may have begun before), none asks.
    offsetMs += 90 * 24 * HOUR;
    const gcRuns = async () =>
      metricValue((await serverB!.get('/metrics')).text, 'cairn_gc_runs_total{outcome="success"}') || 0;
    const passes = await gcRuns();
    await eventually('two garbage-collection passes in cluster b', async () =>
      (await gcRuns()) >= passes + 2 ? true : undefined,
    );
    assert.deepEqual(await listCrs(b, nsB, 'DeleteBackupRequest'), []);
  });

  it('removes from cluster a a backup whose metadata vanished from the bucket', async () => {
    // Stop a's collector from interfering: the backup is made now, with a long TTL.
    await createCr(a, nsA, 'Backup', 'vanishing', { includedNamespaces: [app], ttl: '100000h' });
    assert.equal((await finished(a, nsA, 'vanishing')).status?.phase, 'Completed');
    const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
    await s3.send(
      new DeleteObjectCommand({ Bucket: bucket, Key: 'cairn/backups/vanishing/velero-backup.json' }),
    );
    await eventually('the Backup to be removed', async () =>
      (await getCr(a, nsA, 'Backup', 'vanishing')) === undefined ? true : undefined,
    );
  });

  it("deletes a backup's CSI snapshot when its TTL ends", async (t) => {
    // A claim of the testbed's CSI class (bound at once, no pod needed): snapshotted after the pods.
    const ns = `csi-ttl-${uniqueSuffix()}`;
    await a.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: ns } } });
    t.after(() => a.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` }).then(() => undefined));
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
      body: {
        metadata: { name: 'data' },
        spec: {
          storageClassName: 'testbed-csi',
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: '8Mi' } },
        },
      },
    });
    await eventually('the claim to be bound', async () => {
      const claim = await a.json<{ status?: { phase?: string } }>({
        path: `/api/v1/namespaces/${ns}/persistentvolumeclaims/data`,
      });
      return claim.status?.phase === 'Bound' ? true : undefined;
    });
    const contents = async () =>
      (
        await a.json<{ items: { spec: { volumeSnapshotRef: { namespace: string } } }[] }>({
          path: '/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents',
        })
      ).items.filter((c) => c.spec.volumeSnapshotRef.namespace === ns);
    await createCr(a, nsA, 'Backup', 'snapped', {
      includedNamespaces: [ns],
      ttl: '1h',
      snapshotVolumes: true,
    });
    const backup = await finished(a, nsA, 'snapped');
    assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status));
    assert.equal(backup.status?.csiVolumeSnapshotsCompleted, 1);
    assert.equal((await contents()).length, 1);
    offsetMs += 2 * HOUR;
    await eventually('the expired backup and its snapshot to be deleted', async () =>
      (await getCr(a, nsA, 'Backup', 'snapped')) === undefined && (await contents()).length === 0
        ? true
        : undefined,
    );
  });
});
