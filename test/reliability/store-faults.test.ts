// Faults of the object store, against a MinIO of the test's own (test/helpers/private-minio.ts: the
// testbed's MinIO is shared and is never signalled): backups run by the engine (createBackup) on cluster a
// into a location on it, with short store timeouts so that a stall is judged in seconds.
// - MinIO stopped (SIGSTOP) mid-upload and resumed within the retry budget: the backup waits, retries,
//   and is Completed and verified. Stopped past the limit: Failed, naming the location; nothing Completed,
//   no object a reader would take for the backup.
// - MinIO killed and restarted (same port, same data) mid-upload: the upload's requests are tried again
//   until it is back (within the idle timeout): Completed and verified. The next backup completes.
// - MinIO answering 503 SlowDown to a fifth of the requests at random: backups complete and verify, and a
//   restore from that location completes.
// - A location out of space (a filesystem location, and a MinIO, on a small tmpfs): Failed, naming the
//   location and saying it is out of space; no partial file or multipart upload left; once space is freed
//   the next backup completes.
// Each check records what it tried in docs/reliability.md (section Faults).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statfsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import type { Backup, BackupLocationSpec } from '../../src/api/index.ts';
import { createBackup } from '../../src/backup/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { createRestore } from '../../src/restore/index.ts';
import {
  BackupStore,
  MemoryStore,
  openObjectStore,
  RestoreStore,
  withRetry,
  withTimeouts,
} from '../../src/storage/index.ts';
import { startStoreFaultProxy } from '../helpers/fault-proxy.ts';
import { startPrivateMinio, type PrivateMinio } from '../helpers/private-minio.ts';
import { recordReliability } from '../helpers/reliability.ts';
import { clusterClient, eventually, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;
let minio: PrivateMinio;

before(async () => {
  client = clusterClient('a');
  minio = await startPrivateMinio();
});
after(async () => {
  await minio.stop();
});

/** A namespace with `count` config maps of `bytes` random (incompressible) bytes each. */
async function appNamespace(t: TestContext, count = 2, bytes = 1024): Promise<string> {
  const ns = await testNamespace(t, client, 'storefault');
  for (let i = 0; i < count; i++)
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { metadata: { name: `data-${i}` }, binaryData: { blob: randomBytes(bytes).toString('base64') } },
    });
  return ns;
}

async function newBucket(on: PrivateMinio): Promise<string> {
  const bucket = `faults-${uniqueSuffix()}`;
  await on.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** An S3 location on `endpoint` (the private MinIO, or a proxy in front of it) with short timeouts. */
async function s3Location(
  name: string,
  on: PrivateMinio,
  options: {
    bucket: string;
    endpoint?: string;
    requestTimeout: string;
    idleTimeout: string;
    attempts: number;
  },
): Promise<BackupStore> {
  const spec: BackupLocationSpec = {
    provider: 's3',
    objectStorage: { bucket: options.bucket },
    config: { region: 'us-east-1', s3Url: options.endpoint ?? on.endpoint, s3ForcePathStyle: 'true' },
    requestTimeout: options.requestTimeout,
    idleTimeout: options.idleTimeout,
  };
  const store = await openObjectStore(spec, {
    location: name,
    credentials: { kind: 's3', ...on.credentials },
    retry: { attempts: options.attempts, baseDelayMs: 200, maxDelayMs: 1000 },
  });
  return new BackupStore({ location: name, store });
}

function backUp(name: string, namespace: string, store: BackupStore): Promise<Backup> {
  return createBackup({
    client,
    name,
    spec: { includedNamespaces: [namespace] },
    stores: [store],
    now: () => new Date(),
    writer: 'cairn reliability test',
    uid: `uid-${name}`,
  });
}

/** Asserts the backup Completed in its location and that every stored file matches its checksum. */
async function assertCompletedAndVerified(backup: Backup, store: BackupStore): Promise<void> {
  assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status));
  const record = await store.verifyChecksums(backup.metadata.name, { now: () => new Date() });
  assert.equal(record.outcome, 'Passed', record.problems.join('; '));
  assert.ok(record.files > 0);
}

/** The keys in a bucket, and its multipart uploads not completed. */
async function bucketContents(on: PrivateMinio, bucket: string) {
  const objects = (await on.s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? [];
  const uploads = (await on.s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? [];
  return { keys: objects.map((o) => o.Key ?? ''), uploads: uploads.map((u) => u.Key ?? '') };
}

/**
 * What a reader of the location takes for the backup: its metadata's phase, or undefined when there is
 * none. A Completed one must have every file its manifest names.
 */
async function storedPhase(on: PrivateMinio, bucket: string, name: string): Promise<string | undefined> {
  try {
    const answer = await on.s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: `backups/${name}/velero-backup.json` }),
    );
    const backup = JSON.parse(await (answer.Body?.transformToString() ?? '{}')) as Backup;
    return backup.status?.phase ?? 'none';
  } catch (error) {
    if ((error as Error).name === 'NoSuchKey') return undefined;
    throw error;
  }
}

const pathOf = (url: string | undefined) => url?.split('?')[0] ?? '';

describe('the object store fails', () => {
  it('a MinIO stopped mid-upload and resumed within the retry budget: the backup is Completed and verified', async (t) => {
    const ns = await appNamespace(t);
    const bucket = await newBucket(minio);
    const name = `stop-${uniqueSuffix()}`;
    // Stopped twice: while the archive goes up, for less than the idle timeout (the upload waits), and
    // at the log file, for longer than both timeouts but within the retry budget (the write is tried again).
    const stops: { file: string; ms: number }[] = [
      { file: `${name}.tar.gz`, ms: 1500 },
      { file: `${name}-logs.gz`, ms: 7000 },
    ];
    const done: string[] = [];
    const proxy = await startStoreFaultProxy(minio.endpoint, (req) => {
      const stop = stops.find((s) => req.method === 'PUT' && pathOf(req.url).endsWith(`/${s.file}`));
      if (stop && !done.includes(stop.file)) {
        done.push(stop.file);
        minio.pause();
        setTimeout(() => minio.resume(), stop.ms);
      }
      return undefined;
    });
    t.after(() => proxy.close());
    const store = await s3Location('stopped-briefly', minio, {
      bucket,
      endpoint: proxy.endpoint,
      requestTimeout: '2s',
      idleTimeout: '5s',
      attempts: 6,
    });

    const backup = await backUp(name, ns, store);
    assert.deepEqual(done, [`${name}.tar.gz`, `${name}-logs.gz`], 'MinIO was stopped at both files');
    await assertCompletedAndVerified(backup, store);
    recordReliability({
      section: 'Faults',
      subject: 'backup to S3 (MinIO)',
      tried: 'MinIO stopped (SIGSTOP) mid-upload, resumed within the retry budget',
      cases: stops.length,
      outcome: 'the upload waited, the stalled write was tried again: Completed, checksums verified',
      lost: 'nothing',
    });
  });

  it('a MinIO stopped past the limit: Failed naming the location, nothing Completed, no partial backup', async (t) => {
    const ns = await appNamespace(t);
    const bucket = await newBucket(minio);
    const name = `stopped-${uniqueSuffix()}`;
    let stopped = false;
    const proxy = await startStoreFaultProxy(minio.endpoint, (req) => {
      if (!stopped && req.method === 'PUT' && pathOf(req.url).endsWith(`/${name}.tar.gz`)) {
        stopped = true;
        minio.pause();
      }
      return undefined;
    });
    t.after(() => proxy.close());
    t.after(() => minio.resume());
    const store = await s3Location('stopped', minio, {
      bucket,
      endpoint: proxy.endpoint,
      requestTimeout: '2s',
      idleTimeout: '2s',
      attempts: 2,
    });

    const backup = await backUp(name, ns, store);
    minio.resume();
    assert.ok(stopped, 'MinIO was stopped at the archive');
    assert.equal(backup.status?.phase, 'Failed', JSON.stringify(backup.status));
    assert.match(backup.status?.failureReason ?? '', /location "?stopped"?: /);
    assert.match(backup.status?.failureReason ?? '', /no progress for 2 s|no answer in 2 s/);
    assert.deepEqual(
      backup.status?.locations?.map((l) => [l.name, l.phase]),
      [['stopped', 'Failed']],
    );
    // Once it runs again, what it holds: requests it had taken in while stopped may still land, but no
    // reader takes the backup for Completed, and no multipart upload is left.
    const phase = await storedPhase(minio, bucket, name);
    assert.ok(phase === undefined || phase === 'Failed', `stored phase ${phase}`);
    const backups = await store.getBackup(name).catch(() => undefined);
    assert.notEqual(backups?.status?.phase, 'Completed');
    assert.deepEqual((await bucketContents(minio, bucket)).uploads, []);

    // The store is back: the next backup into the same location completes.
    const next = await backUp(`${name}-next`, ns, store);
    await assertCompletedAndVerified(next, store);
    recordReliability({
      section: 'Faults',
      subject: 'backup to S3 (MinIO)',
      tried: 'MinIO stopped (SIGSTOP) mid-upload past the idle timeout',
      cases: 1,
      outcome: `Failed: "${backup.status?.failureReason}"; the next backup after SIGCONT Completed`,
      lost: 'the failed backup (nothing stored is taken for it); no multipart upload left',
    });
  });

  it('a MinIO killed and restarted mid-upload: Completed after retries', async (t) => {
    const ns = await appNamespace(t);
    const bucket = await newBucket(minio);
    const name = `killed-${uniqueSuffix()}`;
    let restarted: Promise<void> | undefined;
    const proxy = await startStoreFaultProxy(minio.endpoint, (req) => {
      if (restarted || req.method !== 'PUT' || !pathOf(req.url).endsWith(`/${name}.tar.gz`)) return undefined;
      // The archive's request is held while MinIO is killed, then passed on to the dead port: it gets no
      // answer, and the tries after it find MinIO starting again.
      const killed = minio.kill();
      restarted = killed.then(() => minio.restart());
      return { wait: killed };
    });
    t.after(() => proxy.close());
    // The idle timeout is the archive's retry budget: generous, as MinIO may be slow to start again.
    const store = await s3Location('restarted', minio, {
      bucket,
      endpoint: proxy.endpoint,
      requestTimeout: '5s',
      idleTimeout: '30s',
      attempts: 5,
    });

    const backup = await backUp(name, ns, store);
    assert.ok(restarted, 'MinIO was killed at the archive');
    await restarted;
    await assertCompletedAndVerified(backup, store);
    const next = await backUp(`${name}-next`, ns, store);
    await assertCompletedAndVerified(next, store);
    recordReliability({
      section: 'Faults',
      subject: 'backup to S3 (MinIO)',
      tried: 'MinIO killed (SIGKILL) mid-upload and restarted on the same port and data',
      cases: 1,
      outcome: 'the upload was tried again until MinIO was back: Completed, checksums verified',
      lost: 'nothing',
    });
  });

  it('a MinIO answering 503 SlowDown at random: backups complete and verify, and restore', async (t) => {
    const ns = await appNamespace(t);
    const bucket = await newBucket(minio);
    const proxy = await startStoreFaultProxy(minio.endpoint, () =>
      Math.random() < 0.2 ? 'slowDown' : undefined,
    );
    t.after(() => proxy.close());
    const store = await s3Location('throttled', minio, {
      bucket,
      endpoint: proxy.endpoint,
      requestTimeout: '10s',
      idleTimeout: '10s',
      attempts: 3,
    });
    const names = [1, 2].map((i) => `slow-${i}-${uniqueSuffix()}`);
    for (const name of names) await assertCompletedAndVerified(await backUp(name, ns, store), store);

    const target = `${ns}-restored`;
    t.after(() => client.send({ method: 'DELETE', path: `/api/v1/namespaces/${target}` }));
    const restored = await createRestore({
      client,
      name: `r-${uniqueSuffix()}`,
      spec: { backupName: names[0] ?? '', namespaceMapping: { [ns]: target } },
      backups: store,
      records: new RestoreStore(new MemoryStore()),
      now: () => new Date(),
      uid: 'uid-restore',
    });
    assert.equal(restored.restore.status?.phase, 'Completed', JSON.stringify(restored.restore.status));
    const copy = await client.json<{ binaryData?: Record<string, string> }>({
      path: `/api/v1/namespaces/${target}/configmaps/data-0`,
    });
    const original = await client.json<{ binaryData?: Record<string, string> }>({
      path: `/api/v1/namespaces/${ns}/configmaps/data-0`,
    });
    assert.equal(copy.binaryData?.blob, original.binaryData?.blob);
    assert.ok(proxy.slowedDown.length > 0, 'some requests were answered 503 SlowDown');
    recordReliability({
      section: 'Faults',
      subject: 'backup and restore with S3 (MinIO)',
      tried: '503 SlowDown answered to 20% of the requests at random',
      cases: proxy.slowedDown.length,
      outcome: `${names.length} backups Completed and verified; a restore from the location Completed`,
      lost: 'nothing',
    });
  });
});

/** Mounts a tmpfs of `size` at a new directory; undefined (with the reason printed) where mount is refused. */
async function smallDisk(t: TestContext, size: string): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    const reason = `mounting a tmpfs is not permitted here (${(error as Error).message.split('\n')[0]})`;
    console.log(`skipped: ${reason}`);
    t.skip(reason);
    return undefined;
  }
  t.after(async () => {
    execFileSync('umount', ['--lazy', dir], { stdio: 'pipe' });
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Fills the filesystem of `dir` with a file `dir/filler`, leaving `leaveBytes` free. */
async function fill(dir: string, leaveBytes: number): Promise<void> {
  const { bavail, bsize } = statfsSync(dir);
  await writeFile(join(dir, 'filler'), Buffer.alloc(Math.max(0, bavail * bsize - leaveBytes)));
}

/** Every file under `dir`, as paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)));
}

describe('a location out of space', () => {
  // About 6 MiB of archive: more than the space left, and more than one part of a multipart upload.
  const DATA = { count: 8, bytes: 750 * 1024 };
  const LEFT = 3 * 1024 * 1024;

  it('a filesystem location: Failed naming it and the lack of space, no partial file; then Completed', async (t) => {
    const disk = await smallDisk(t, '32m');
    if (!disk) return;
    const ns = await appNamespace(t, DATA.count, DATA.bytes);
    const root = join(disk, 'backups');
    const store = new BackupStore({
      location: 'small-disk',
      store: await openObjectStore(
        { provider: 'fs', config: { path: root }, requestTimeout: '10s', idleTimeout: '10s' },
        { location: 'small-disk' },
      ),
    });
    await mkdir(root);
    await fill(disk, LEFT);
    const name = `full-${uniqueSuffix()}`;

    const backup = await backUp(name, ns, store);
    assert.equal(backup.status?.phase, 'Failed', JSON.stringify(backup.status));
    assert.match(backup.status?.failureReason ?? '', /location "?small-disk"?: /);
    assert.match(backup.status?.failureReason ?? '', /out of space/);
    const left = await filesUnder(root);
    assert.deepEqual(
      left.filter((f) => f.startsWith('.tmp/') || f.endsWith('.tar.gz')),
      [],
      'no partial archive, no temporary file',
    );
    assert.notEqual(await store.getBackup(name).then((b) => b?.status?.phase), 'Completed');

    await rm(join(disk, 'filler'));
    const next = await backUp(`${name}-next`, ns, store);
    await assertCompletedAndVerified(next, store);
    recordReliability({
      section: 'Faults',
      subject: 'backup to a filesystem location',
      tried: 'the location out of space (a full tmpfs) mid-upload, then space freed',
      cases: 1,
      outcome: `Failed: "${backup.status?.failureReason}"; no partial file left; the next backup Completed`,
      lost: 'the backup that did not fit (recorded as Failed)',
    });
  });

  it('a MinIO out of space: Failed naming the location and the lack of space, no upload left; then Completed', async (t) => {
    const disk = await smallDisk(t, '64m');
    if (!disk) return;
    const ns = await appNamespace(t, DATA.count, DATA.bytes);
    const full = await startPrivateMinio({ dataDir: join(disk, 'data') });
    t.after(() => full.stop());
    const bucket = await newBucket(full);
    // Parts of 5 MiB (the least S3 takes), so that the archive goes up as a multipart upload.
    const { S3Store } = await import('../../src/storage/s3-store.ts');
    const driver = new S3Store({
      bucket,
      region: 'us-east-1',
      endpoint: full.endpoint,
      forcePathStyle: true,
      credentials: full.credentials,
      partSize: 5 * 1024 * 1024,
    });
    t.after(() => driver.destroy());
    const store = new BackupStore({
      location: 'small-minio',
      store: withRetry(withTimeouts(driver, { location: 'small-minio', requestMs: 10_000, idleMs: 10_000 }), {
        attempts: 3,
        baseDelayMs: 200,
        maxDelayMs: 1000,
      }),
    });
    await fill(disk, LEFT);
    const name = `full-${uniqueSuffix()}`;

    const backup = await backUp(name, ns, store);
    assert.equal(backup.status?.phase, 'Failed', JSON.stringify(backup.status));
    assert.match(backup.status?.failureReason ?? '', /location "?small-minio"?: /);
    assert.match(backup.status?.failureReason ?? '', /out of space/);
    const { keys, uploads } = await bucketContents(full, bucket);
    assert.deepEqual(uploads, [], 'no multipart upload left');
    assert.deepEqual(
      keys.filter((k) => k.endsWith('.tar.gz')),
      [],
    );
    assert.notEqual(await storedPhase(full, bucket, name), 'Completed');

    await rm(join(disk, 'filler'));
    // MinIO caches what it knows of its disk's free space for a while: space is freed for it once it takes
    // an object of a part's size again.
    const probe = `space-probe-${uniqueSuffix()}`;
    await eventually('MinIO to see the freed space', async () => {
      try {
        await driver.put(probe, randomBytes(6 * 1024 * 1024));
        await driver.delete(probe);
        return true;
      } catch {
        return undefined;
      }
    });
    const next = await backUp(`${name}-next`, ns, store);
    await assertCompletedAndVerified(next, store);
    const archiveBytes = next.status?.locations?.[0]?.archiveBytes ?? 0;
    assert.ok(archiveBytes > 5 * 1024 * 1024, `the archive (${archiveBytes} bytes) took a multipart upload`);
    recordReliability({
      section: 'Faults',
      subject: 'backup to S3 (MinIO)',
      tried: 'MinIO out of space (its data on a full tmpfs) mid-upload, then space freed',
      cases: 1,
      outcome: `Failed: "${backup.status?.failureReason}"; no multipart upload left; the next backup Completed`,
      lost: 'the backup that did not fit',
    });
  });
});
