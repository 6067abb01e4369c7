// A writer killed mid-upload leaves an S3 multipart upload: invisible to listings, kept and billed until
// aborted. Deleting the backup aborts it; garbage collection's sweep aborts the stale ones. Against MinIO,
// through the location's whole stack (openObjectStore: first-use opening, retry, bucket prefix).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { patchStatus } from '../../src/controller/index.ts';
import { BackupStore, openObjectStore } from '../../src/storage/index.ts';
import { createCr, installCrds, startServer } from '../helpers/server.ts';
import { clusterClient, eventually, minioOptions, uniqueSuffix } from '../helpers/testbed.ts';

const s3 = new S3Client(minioOptions());

async function startUpload(bucket: string, key: string): Promise<void> {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  await s3.send(
    new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: Buffer.alloc(1024, 1) }),
  );
}

const uploads = async (bucket: string) =>
  ((await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []).map((u) => u.Key);

async function location(bucket: string) {
  const { endpoint, region, credentials } = minioOptions();
  return openObjectStore(
    {
      provider: 's3',
      objectStorage: { bucket, prefix: 'cluster-a' },
      config: { region, s3Url: endpoint, s3ForcePathStyle: 'true' },
    },
    { credentials: { kind: 's3', ...credentials } },
  );
}

describe('incomplete S3 uploads', () => {
  it("are aborted with the backup they belong to, and no other backup's", async () => {
    const bucket = `uploads-${randomUUID().slice(0, 8)}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await startUpload(bucket, 'cluster-a/backups/killed/killed.tar.gz');
    await startUpload(bucket, 'cluster-a/backups/running/running.tar.gz');
    const backups = new BackupStore({ location: 'minio', store: await location(bucket) });
    // Nothing but the upload is there: the backup is still found, and its upload aborted.
    assert.deepEqual(await backups.deleteBackup('killed'), { deleted: 0, uploadsAborted: 1 });
    assert.deepEqual(await uploads(bucket), ['cluster-a/backups/running/running.tar.gz']);
  });

  it('are aborted by age and key, under the location prefix only', async () => {
    const bucket = `uploads-${randomUUID().slice(0, 8)}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await startUpload(bucket, 'cluster-a/backups/b/b.tar.gz');
    await startUpload(bucket, 'outside/backups/b/b.tar.gz');
    const store = await location(bucket);
    const dayAgo = new Date(Date.now() - 24 * 3_600_000);
    assert.equal(await store.abortIncompleteUploads?.('backups/b/b.tar.gz', { olderThan: dayAgo }), 0);
    assert.equal(await store.abortIncompleteUploads?.('backups/b/b.tar.gz'), 1);
    assert.deepEqual(await uploads(bucket), ['outside/backups/b/b.tar.gz'], 'only under the location prefix');
  });

  it("are aborted by the server's garbage collection for a backup that Failed", async () => {
    const client = clusterClient('a');
    await installCrds(client);
    const namespace = `cairn-${uniqueSuffix()}`;
    const bucket = `uploads-${randomUUID().slice(0, 8)}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await client.json({
      method: 'POST',
      path: '/api/v1/namespaces',
      body: { metadata: { name: namespace } },
    });
    const { endpoint, region, credentials } = minioOptions();
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/secrets`,
      body: {
        metadata: { name: 'minio' },
        stringData: {
          cloud: `[default]\naws_access_key_id = ${credentials.accessKeyId}\naws_secret_access_key = ${credentials.secretAccessKey}\n`,
        },
      },
    });
    await createCr(client, namespace, 'BackupLocation', 'minio', {
      provider: 's3',
      objectStorage: { bucket, prefix: 'cluster-a' },
      config: { region, s3Url: endpoint, s3ForcePathStyle: 'true' },
      credential: { name: 'minio', key: 'cloud' },
      plaintext: true,
      default: true,
    });
    // A backup a killed server left: Failed, its archive's multipart upload never completed.
    await createCr(client, namespace, 'Backup', 'killed', { storageLocation: 'minio' });
    await patchStatus({ client, namespace }, 'Backup', 'killed', {
      phase: 'Failed',
      failureReason: 'the server stopped during the backup',
      locations: [{ name: 'minio', phase: 'Failed' }],
    });
    await startUpload(bucket, 'cluster-a/backups/killed/killed.tar.gz');
    const server = await startServer({ client, namespace, identity: 'sweeper', gcIntervalMs: 500 });
    try {
      await eventually('the upload to be aborted', async () =>
        (await uploads(bucket)).length === 0 ? true : undefined,
      );
      // The line is logged once the store has answered the abort, which can be after MinIO lists none.
      const said = (): boolean =>
        server.logs.some((l) =>
          l.includes('location minio: aborted 1 incomplete upload(s) of failed backup killed'),
        );
      await eventually('the abort to be logged', () => Promise.resolve(said() ? true : undefined)).catch(
        () => {},
      );
      assert.ok(said(), server.logs.join('\n'));
    } finally {
      await server.stop();
      await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${namespace}` });
    }
  });
});
