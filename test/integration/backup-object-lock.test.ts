// A backup's delete lock on a bucket with S3 Object Lock (MinIO): every stored object of the backup is
// retained in compliance mode until the lock passes, so even the store's own credentials cannot delete
// a version of it. Without a lock, nothing is retained.
import assert from 'node:assert/strict';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectRetentionCommand,
  ListObjectVersionsCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { before, describe, it } from 'node:test';
import { createBackup } from '../../src/backup/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { BackupStore, generateLocationKey } from '../../src/storage/index.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import { clusterClient, minioOptions, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;

async function backupInto(bucket: string, name: string, ns: string, deleteLockDays?: number) {
  const store = new BackupStore({
    location: 'locked',
    store: new S3Store({ ...minioOptions(), bucket }),
    key: generateLocationKey(),
  });
  const started = new Date();
  const backup = await createBackup({
    client,
    name,
    spec: { includedNamespaces: [ns], ...(deleteLockDays ? { deleteLockDays } : {}) },
    stores: [store],
    now: () => started,
    writer: 'cairn test',
    uid: name,
  });
  return { backup, started };
}

describe('backups on a bucket with S3 Object Lock', () => {
  before(() => {
    client = clusterClient('a');
  });

  it('retains every object of a locked backup in compliance mode until the lock passes', async (t) => {
    const ns = await testNamespace(t, client, 'lock');
    const bucket = `cairn-lock-${uniqueSuffix()}`;
    const s3 = new S3Client(minioOptions());
    t.after(() => s3.destroy());
    await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));

    const { backup, started } = await backupInto(bucket, 'locked', ns, 2);
    assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status));
    const versions = await s3.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'backups/locked/' }),
    );
    const objects = versions.Versions ?? [];
    // Every file of the backup is retained, the metadata written last included. (The claim, written
    // before the backup starts, is not: it is deleted once the backup is committed.)
    const names = objects
      .map((v) => v.Key?.split('/').at(-1) ?? '')
      .filter((n) => !n.endsWith('-claim.json'));
    assert.deepEqual(names.sort(), [
      'locked-checksums.json',
      'locked-logs.gz',
      'locked-resource-list.json.gz',
      'locked-results.gz',
      'locked.tar.gz',
      'velero-backup.json',
    ]);
    for (const version of objects.filter((v) => !v.Key?.endsWith('-claim.json'))) {
      const retention = await s3.send(
        new GetObjectRetentionCommand({ Bucket: bucket, Key: version.Key, VersionId: version.VersionId }),
      );
      assert.equal(retention.Retention?.Mode, 'COMPLIANCE', version.Key);
      // S3 keeps whole seconds.
      const until = retention.Retention?.RetainUntilDate?.getTime() ?? 0;
      assert.ok(
        Math.abs(until - (started.getTime() + 2 * 86_400_000)) < 1000,
        `${version.Key} retained until ${until}`,
      );
    }
    const archive = objects.find((v) => v.Key?.endsWith('locked.tar.gz'));
    await assert.rejects(
      s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: archive?.Key, VersionId: archive?.VersionId })),
      /AccessDenied|WORM protected|locked|retention/i,
      'the locked archive cannot be deleted, even with the credentials that wrote it',
    );
  });

  it('retains nothing of a backup without a delete lock, in the same kind of bucket', async (t) => {
    const ns = await testNamespace(t, client, 'nolock');
    const bucket = `cairn-lock-${uniqueSuffix()}`;
    const s3 = new S3Client(minioOptions());
    t.after(() => s3.destroy());
    await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
    const { backup } = await backupInto(bucket, 'free', ns);
    assert.equal(backup.status?.phase, 'Completed');
    const versions = await s3.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'backups/free/' }),
    );
    const archive = (versions.Versions ?? []).find((v) => v.Key?.endsWith('free.tar.gz'));
    await assert.rejects(
      s3.send(
        new GetObjectRetentionCommand({ Bucket: bucket, Key: archive?.Key, VersionId: archive?.VersionId }),
      ),
      /retention|NoSuchObjectLockConfiguration|not found/i,
    );
    await s3.send(
      new DeleteObjectCommand({ Bucket: bucket, Key: archive?.Key, VersionId: archive?.VersionId }),
    );
  });
});
