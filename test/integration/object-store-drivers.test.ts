// The cloud drivers run the conformance suite against the testbed's real servers: S3 on MinIO, Azure
// Blob on Azurite, GCS on fake-gcs-server. Each test gets a bucket (container) of its own, `cairn-<hex>`,
// emptied and deleted after it.
import assert from 'node:assert/strict';
import { CreateBucketCommand, DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { Storage } from '@google-cloud/storage';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { StoreUnavailableError, type ObjectStore } from '../../src/storage/index.ts';
import { AzureStore } from '../../src/storage/azure-store.ts';
import { GcsStore } from '../../src/storage/gcs-store.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import { objectStoreConformance, type OpenStore } from '../conformance/object-store.ts';
import { minioOptions, testbedEnv, uniqueSuffix } from '../helpers/testbed.ts';

const s3Options = minioOptions;

/** Deletes every object the store lists. */
async function empty(store: ObjectStore): Promise<void> {
  const keys: string[] = [];
  for await (const entry of store.list('')) if (entry.type === 'object') keys.push(entry.key);
  for (let i = 0; i < keys.length; i += 32)
    await Promise.all(keys.slice(i, i + 32).map((k) => store.delete(k)));
}

const openS3: OpenStore = async () => {
  const bucket = `cairn-${uniqueSuffix()}`;
  const admin = new S3Client(s3Options());
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  const store = new S3Store({ ...s3Options(), bucket });
  return {
    store,
    cleanup: async () => {
      await empty(store);
      await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
      admin.destroy();
      store.destroy();
    },
  };
};
objectStoreConformance('S3Store on MinIO', openS3);

const openAzure: OpenStore = async () => {
  const connectionString = testbedEnv('CAIRN_AZURE_CONNECTION_STRING');
  const container = `cairn-${uniqueSuffix()}`;
  await BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container).create();
  // Azure lists up to 5,000 blobs a page; a smaller page makes the 1,050-key test cross pages here too.
  const store = new AzureStore({ connectionString, container, listPageSize: 400 });
  return {
    store,
    cleanup: async () => {
      await BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container).delete();
    },
  };
};
objectStoreConformance('AzureStore on Azurite', openAzure);

const openGcs: OpenStore = async () => {
  const apiEndpoint = testbedEnv('CAIRN_GCS_ENDPOINT');
  const storage = new Storage({ apiEndpoint, projectId: 'cairn-test' });
  const [bucket] = await storage.createBucket(`cairn-${uniqueSuffix()}`);
  const store = new GcsStore({ bucket: bucket.name, apiEndpoint, projectId: 'cairn-test' });
  return {
    store,
    cleanup: async () => {
      await empty(store);
      await bucket.delete();
    },
  };
};
objectStoreConformance('GcsStore on fake-gcs-server', openGcs);

describe('the cloud drivers tell the progress of a large Buffer and of a stream as they send them', () => {
  // A piece at a time (256 KiB), not once the whole is sent: withTimeouts counts each as progress, so a
  // restic pack on a slow link is not idle while it moves.
  for (const [name, open] of [
    ['S3', openS3],
    ['Azure', openAzure],
    ['GCS', openGcs],
  ] as const) {
    it(name, async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      let told = 0;
      const body = randomBytes(3 * 1024 * 1024);
      await store.put('restic/data/00/pack', body, { onProgress: () => void told++ });
      assert.ok(told >= 8, `told ${told} times of 3 MiB`);
      assert.ok((await buffer(await store.get('restic/data/00/pack'))).equals(body));

      // And a stream's, whose parts or blocks S3 and Azure send after they stopped reading it.
      told = 0;
      const chunks = Array.from({ length: 12 }, () => randomBytes(1024 * 1024));
      await store.put('backups/b/b.tar.gz', Readable.from(chunks), { onProgress: () => void told++ });
      assert.ok(told >= 8, `told ${told} times of a 12 MiB stream`);
      assert.ok((await buffer(await store.get('backups/b/b.tar.gz'))).equals(Buffer.concat(chunks)));
    });
  }
});

describe('the cloud drivers against a missing bucket', () => {
  const missing = `cairn-missing-${uniqueSuffix()}`;
  const stores: [string, () => ObjectStore][] = [
    ['S3', () => new S3Store({ ...s3Options(), bucket: missing })],
    [
      'Azure',
      () =>
        new AzureStore({ connectionString: testbedEnv('CAIRN_AZURE_CONNECTION_STRING'), container: missing }),
    ],
    [
      'GCS',
      () =>
        new GcsStore({
          bucket: missing,
          apiEndpoint: testbedEnv('CAIRN_GCS_ENDPOINT'),
          projectId: 'cairn-test',
        }),
    ],
  ];
  for (const [name, open] of stores) {
    it(`${name} reports StoreUnavailableError naming the bucket on put, get and list`, async () => {
      const store = open();
      const calls: [string, () => Promise<unknown>][] = [
        ['put', () => store.put('k', Buffer.from('v'))],
        ['get', () => store.get('k')],
        ['list', async () => store.list('')[Symbol.asyncIterator]().next()],
      ];
      for (const [operation, call] of calls) {
        await assert.rejects(call(), (error: unknown) => {
          assert.ok(error instanceof StoreUnavailableError, `${operation}: ${String(error)}`);
          assert.equal(error.transient, false);
          assert.ok(error.message.includes(missing), error.message);
          return true;
        });
      }
      if (store instanceof S3Store) store.destroy();
    });
  }
});

describe('the S3 driver against an endpoint nobody listens on', () => {
  it('reports a transient StoreUnavailableError, which withRetry would retry', async () => {
    const server = createServer();
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    const { port } = server.address() as AddressInfo;
    await new Promise((closed) => server.close(closed));
    const store = new S3Store({
      ...s3Options(),
      endpoint: `http://127.0.0.1:${port}`,
      bucket: 'cairn-closed',
    });
    await assert.rejects(store.get('k'), (error: unknown) => {
      assert.ok(error instanceof StoreUnavailableError, String(error));
      assert.equal(error.transient, true);
      assert.match(error.message, /ECONNREFUSED/);
      return true;
    });
    store.destroy();
  });
});

describe('driver descriptions', () => {
  it('name the bucket and the endpoint, never a secret', () => {
    const s3 = new S3Store({ ...s3Options(), bucket: 'b' });
    assert.equal(s3.description, `s3://b (${testbedEnv('CAIRN_S3_ENDPOINT')})`);
    assert.ok(!s3.description.includes(testbedEnv('AWS_SECRET_ACCESS_KEY')));
    s3.destroy();
    const azure = new AzureStore({
      connectionString: testbedEnv('CAIRN_AZURE_CONNECTION_STRING'),
      container: 'c',
    });
    assert.match(
      azure.description,
      /^azure:\/\/devstoreaccount1\/c \(http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\)$/,
    );
    const gcs = new GcsStore({ bucket: 'g', apiEndpoint: testbedEnv('CAIRN_GCS_ENDPOINT') });
    assert.equal(gcs.description, `gs://g (${testbedEnv('CAIRN_GCS_ENDPOINT')})`);
    assert.equal(gcs.signedUrl, undefined);
  });
});
