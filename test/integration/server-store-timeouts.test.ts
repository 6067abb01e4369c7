// The server against a stalled object store: the testbed's MinIO behind a proxy that stalls chosen
// requests as a stopped process does (accepted, never read, never answered), with short timeouts in the
// locations' specs. A black-holed location is Unavailable with the timeout as its reason while another
// location's check goes on and finds it Available; a backup whose archive upload stalls is logged while it
// stalls and fails once the idle timeout passes, naming the location; the calls in flight show in the
// metrics meanwhile.
import assert from 'node:assert/strict';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { Backup, BackupLocation } from '../../src/api/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { startStoreFaultProxy, type StoreFaultProxy } from '../helpers/fault-proxy.ts';
import {
  createCr,
  getCr,
  installCrds,
  metricValue,
  startServer,
  type RunningServer,
} from '../helpers/server.ts';
import { clusterClient, eventually, minioOptions, testbedEnv, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;
let namespace: string;
let app: string;
let bucket: string;
let s3: S3Client;
let server: RunningServer;
/** Stalls every request: a black-holed endpoint. */
let blackHole: StoreFaultProxy;
/** Stalls the upload of archives only: a store that stops while a backup's archive goes up. */
let stallsArchives: StoreFaultProxy;

const credentials = () =>
  `[default]\naws_access_key_id = ${testbedEnv('AWS_ACCESS_KEY_ID')}\naws_secret_access_key = ${testbedEnv('AWS_SECRET_ACCESS_KEY')}\n`;

/** A location in the test's bucket under `prefix`, at `endpoint` (MinIO, or a proxy in front of it). */
async function s3Location(name: string, endpoint: string, extra: Record<string, unknown>): Promise<void> {
  await createCr(client, namespace, 'BackupLocation', name, {
    provider: 's3',
    objectStorage: { bucket, prefix: name },
    config: { region: 'us-east-1', s3Url: endpoint, s3ForcePathStyle: 'true' },
    credential: { name: 'minio', key: 'cloud' },
    validationFrequency: '1s',
    backupSyncPeriod: '1s',
    ...extra,
  });
}

describe('cairn server against a stalled object store', () => {
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
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/secrets`,
      body: { metadata: { name: 'minio' }, stringData: { cloud: credentials() } },
    });
    bucket = `cairn-stall-${uniqueSuffix()}`;
    s3 = new S3Client(minioOptions());
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    blackHole = await startStoreFaultProxy(testbedEnv('CAIRN_S3_ENDPOINT'), () => 'stall');
    stallsArchives = await startStoreFaultProxy(testbedEnv('CAIRN_S3_ENDPOINT'), (req) =>
      req.method === 'PUT' && req.url?.split('?')[0]?.endsWith('.tar.gz') ? 'stall' : undefined,
    );
    // Named so that the black-holed location comes first: its check must not hold the other one's up.
    await s3Location('a-holed', blackHole.endpoint, { requestTimeout: '2s' });
    await s3Location('b-good', testbedEnv('CAIRN_S3_ENDPOINT'), {});
    // The idle timeout is longer than the backup's stall notice (10 s), so that its log says so first.
    await s3Location('minio', stallsArchives.endpoint, {
      requestTimeout: '5s',
      idleTimeout: '15s',
      plaintext: true,
      default: true,
    });
    server = await startServer({
      client,
      namespace,
      identity: 'stalls',
      resyncMs: 200,
      locationIntervalMs: 1000,
    });
  });

  after(async () => {
    await server.stop();
    await Promise.all([blackHole.close(), stallsArchives.close()]);
    for (const ns of [namespace, app])
      await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
    s3.destroy();
  });

  it('finds a location Available while another is black-holed, and that one Unavailable with the timeout', async () => {
    const phase = async (name: string) =>
      (await getCr<BackupLocation>(client, namespace, 'BackupLocation', name))?.status;
    await eventually('location b-good to be Available', async () =>
      (await phase('b-good'))?.phase === 'Available' ? true : undefined,
    );
    const holed = await eventually('location a-holed to be Unavailable', async () => {
      const status = await phase('a-holed');
      return status?.phase === 'Unavailable' ? status : undefined;
    });
    assert.equal(
      holed.message,
      "the availability check did not finish in 2 s (the location's requestTimeout)",
    );
    assert.ok(blackHole.stalled.length > 0, 'the proxy stalled the check');
    // Checked again and again meanwhile: the black hole holds nothing up.
    const checked = (await phase('b-good'))?.lastValidationTime;
    await eventually('location b-good to be checked again', async () =>
      (await phase('b-good'))?.lastValidationTime !== checked ? true : undefined,
    );
  });

  it('logs a backup whose archive upload stalls while it stalls, and fails it after the idle timeout, naming the location', async () => {
    const name = `stalled-${uniqueSuffix()}`;
    await createCr(client, namespace, 'Backup', name, {
      includedNamespaces: [app],
      storageLocation: 'minio',
    });
    // While it stalls: the upload is in flight, and the server's log says so.
    await eventually('the archive upload to stall', () =>
      Promise.resolve(stallsArchives.stalled.length > 0 ? true : undefined),
    );
    const metrics = await eventually('the upload in flight in the metrics', async () => {
      const text = (await server.get('/metrics')).text;
      const series = 'cairn_object_store_operations_in_flight{backup_location_name="minio",operation="put"}';
      return metricValue(text, series) >= 1 ? text : undefined;
    });
    assert.ok(
      metricValue(metrics, 'cairn_object_store_oldest_operation_age_seconds{backup_location_name="minio"}') >=
        0,
    );
    const backup = await eventually(
      `backup ${name} to fail`,
      async () => {
        const found = await getCr<Backup>(client, namespace, 'Backup', name);
        const phase = found?.status?.phase;
        return phase && phase !== 'New' && phase !== 'InProgress' ? found : undefined;
      },
      90_000,
    );
    const timeout = `location "minio": put "backups/${name}/${name}.tar.gz": no progress for 15 s (idle timeout)`;
    assert.equal(backup.status?.phase, 'Failed');
    assert.ok(backup.status?.failureReason?.includes(timeout), backup.status?.failureReason);
    assert.deepEqual(
      backup.status?.locations?.map((l) => [l.name, l.phase, l.message]),
      [['minio', 'Failed', `storing the archive failed: ${timeout}`]],
    );
    assert.ok(
      server.logs.some((line) =>
        line.startsWith(
          `warning location minio: no progress for 7 s (put "minio/backups/${name}/${name}.tar.gz"`,
        ),
      ),
      server.logs.join('\n'),
    );
    // The backup's own log, stored where the stall let it be: the stall, while it lasted.
    const stored = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: `minio/backups/${name}/${name}-logs.gz` }),
    );
    const log = gunzipSync(Buffer.from(await stored.Body!.transformToByteArray())).toString();
    assert.match(log, /location minio: no progress for 1\d s/);
  });
});
