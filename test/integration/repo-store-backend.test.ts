// The volume-data repositories' Backend over an object store (StoreBackend) runs the repository-backend
// conformance suite on the filesystem store and on the testbed's MinIO. Its ranged reads of a known
// length go straight into one buffer that owns its memory (a blob worker takes it without a copy), and
// a store answering with a body shorter or longer than the range fails the read, naming the file.
import assert from 'node:assert/strict';
import { CreateBucketCommand, DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { LongReadError, ShortFileError } from '../../src/repo/index.ts';
import { FilesystemStore, type ObjectStore } from '../../src/storage/index.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import { StoreBackend } from '../../src/volumes/index.ts';
import { repoBackendConformance } from '../conformance/repo-backend.ts';
import { rejection } from '../helpers/bytes.ts';
import { minioOptions, uniqueSuffix } from '../helpers/testbed.ts';

type OpenStore = (t: TestContext) => Promise<ObjectStore>;

const filesystem: OpenStore = async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-store-backend-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return new FilesystemStore({ root: dir });
};

const minio: OpenStore = async (t) => {
  const bucket = `cairn-${uniqueSuffix()}`;
  const admin = new S3Client(minioOptions());
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  const store = new S3Store({ ...minioOptions(), bucket });
  t.after(async () => {
    const keys: string[] = [];
    for await (const entry of store.list('')) if (entry.type === 'object') keys.push(entry.key);
    await Promise.all(keys.map((key) => store.delete(key)));
    await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
    admin.destroy();
    store.destroy();
  });
  return store;
};

/** The store, answering every ranged get with a body `by` bytes longer (or shorter) than asked for. */
function wrongRange(store: ObjectStore, by: number): ObjectStore {
  return {
    description: store.description,
    put: (key, body, options) => store.put(key, body, options),
    get: (key, options) =>
      store.get(key, {
        ...options,
        range: options?.range && {
          offset: options.range.offset,
          length: (options.range.length as number) + by,
        },
      }),
    head: (key, options) => store.head(key, options),
    list: (prefix, options) => store.list(prefix, options),
    delete: (key, options) => store.delete(key, options),
  };
}

const pack = { type: 'data', name: '4f3a' + 'ab'.repeat(30) } as const;
const path = `data/4f/${pack.name}`;
const bytes = Buffer.from('0123456789abcdefghij');

for (const [name, open] of [
  ['the filesystem store', filesystem],
  ['MinIO', minio],
] as const) {
  repoBackendConformance(`StoreBackend on ${name}`, async (t) => new StoreBackend(await open(t), 'shop'));

  describe(`StoreBackend's ranged reads of a known length on ${name}`, () => {
    it('read exactly the range, into a buffer that owns all of its memory', async (t) => {
      const store = await open(t);
      await new StoreBackend(store, 'shop').save(pack, bytes);
      const loaded = await new StoreBackend(store, 'shop').load(pack, { offset: 3, length: 12 });
      assert.equal(loaded.toString(), '3456789abcde');
      assert.equal(loaded.byteOffset, 0);
      assert.equal(loaded.buffer.byteLength, 12);
    });

    it('read into a lent buffer long enough, and into a new one when it is too short', async (t) => {
      const store = await open(t);
      await new StoreBackend(store, 'shop').save(pack, bytes);
      const lent = Buffer.alloc(64, 0x2e);
      const into = await new StoreBackend(store, 'shop').load(pack, { offset: 3, length: 12, into: lent });
      assert.equal(into.toString(), '3456789abcde');
      assert.equal(into.buffer, lent.buffer, 'a view of the lent buffer');
      assert.equal(into.byteOffset, lent.byteOffset);
      assert.equal(lent.subarray(0, 13).toString(), '3456789abcde.', 'written from its start, nothing past');
      const short = Buffer.alloc(4);
      const fresh = await new StoreBackend(store, 'shop').load(pack, { offset: 3, length: 12, into: short });
      assert.equal(fresh.toString(), '3456789abcde');
      assert.notEqual(fresh.buffer, short.buffer);
    });

    it('fail with ShortFileError when the store answers with fewer bytes than asked for', async (t) => {
      const store = await open(t);
      await new StoreBackend(store, 'shop').save(pack, bytes);
      const error = await rejection(
        new StoreBackend(wrongRange(store, -1), 'shop').load(pack, { offset: 3, length: 12 }),
      );
      assert.ok(error instanceof ShortFileError, String(error));
      assert.equal(error.path, path);
    });

    it('fail with LongReadError when the store answers with more bytes than asked for', async (t) => {
      const store = await open(t);
      await new StoreBackend(store, 'shop').save(pack, bytes);
      const error = await rejection(
        new StoreBackend(wrongRange(store, 1), 'shop').load(pack, { offset: 3, length: 12 }),
      );
      assert.ok(error instanceof LongReadError, String(error));
      assert.equal(error.path, path);
      assert.match(error.message, /reading 12 bytes at offset 3 of file data\/4f\/4f3a/);
    });
  });
}
