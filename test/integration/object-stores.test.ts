// The testbed's object stores are real servers: MinIO speaks S3, Azurite speaks Azure Blob, and
// fake-gcs-server speaks the GCS JSON API. Each test works in a bucket of its own.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { Storage } from '@google-cloud/storage';
import { minioOptions, testbedEnv, uniqueSuffix } from '../helpers/testbed.ts';

const payload = Buffer.from('{"kind":"Backup","name":"nightly"}\n');

describe('the testbed object stores', () => {
  it('MinIO stores, lists, returns and deletes objects over S3', async (t) => {
    const s3 = new S3Client(minioOptions());
    t.after(() => s3.destroy());
    const Bucket = `cairn-${uniqueSuffix()}`;
    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'backups/nightly/velero-backup.json', Body: payload }));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'backups/other/velero-backup.json', Body: payload }));

    const listed = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'backups/', Delimiter: '/' }));
    assert.deepEqual(listed.CommonPrefixes?.map((p) => p.Prefix).sort(), [
      'backups/nightly/',
      'backups/other/',
    ]);

    const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'backups/nightly/velero-backup.json' }));
    assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), payload);

    for (const Key of ['backups/nightly/velero-backup.json', 'backups/other/velero-backup.json']) {
      await s3.send(new DeleteObjectCommand({ Bucket, Key }));
    }
    const after = await s3.send(new ListObjectsV2Command({ Bucket }));
    assert.equal(after.KeyCount, 0);
    await s3.send(new DeleteBucketCommand({ Bucket }));
  });

  it('Azurite stores, lists, returns and deletes blobs', async () => {
    const service = BlobServiceClient.fromConnectionString(testbedEnv('CAIRN_AZURE_CONNECTION_STRING'));
    const container = service.getContainerClient(`cairn-${uniqueSuffix()}`);
    await container.create();
    const blob = container.getBlockBlobClient('backups/nightly/velero-backup.json');
    await blob.upload(payload, payload.length);

    const names: string[] = [];
    for await (const item of container.listBlobsFlat({ prefix: 'backups/' })) names.push(item.name);
    assert.deepEqual(names, ['backups/nightly/velero-backup.json']);

    assert.deepEqual(await blob.downloadToBuffer(), payload);
    await blob.delete();
    const left: string[] = [];
    for await (const item of container.listBlobsFlat()) left.push(item.name);
    assert.deepEqual(left, []);
    await container.delete();
  });

  it('fake-gcs-server stores, lists, returns and deletes objects over the GCS API', async () => {
    const storage = new Storage({ apiEndpoint: testbedEnv('CAIRN_GCS_ENDPOINT'), projectId: 'cairn-test' });
    const [bucket] = await storage.createBucket(`cairn-${uniqueSuffix()}`);
    const file = bucket.file('backups/nightly/velero-backup.json');
    await file.save(payload, { resumable: false });

    const [files] = await bucket.getFiles({ prefix: 'backups/' });
    assert.deepEqual(
      files.map((f) => f.name),
      ['backups/nightly/velero-backup.json'],
    );
    const [content] = await file.download();
    assert.deepEqual(content, payload);
    await file.delete();
    const [left] = await bucket.getFiles();
    assert.equal(left.length, 0);
    await bucket.delete();
  });
});
