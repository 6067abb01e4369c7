// Two clusters writing one bucket: a server in cluster a and one in cluster b, with the same location
// (bucket, prefix, key), back up at the same time; both complete, a backup name both take is refused to
// the later one, and every backup stored verifies. Two writers into one volume-data repository both
// finish under their locks, which keep an exclusive lock out meanwhile, and restic checks every byte.
// A ReadOnly location on the bucket, behind a counting proxy, sees no write: not from catalog sync, a
// restore from it, or a backup it refuses.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { Backup, BackupLocationSpec, Restore } from '../../src/api/index.ts';
import { keySecretName } from '../../src/controller/index.ts';
import type { KubeClient, KubeObject } from '../../src/kube/index.ts';
import {
  backupDirectory,
  LockConflictError,
  polynomialToHex,
  randomPolynomial,
  Repository,
  systemRandomBytes,
  type Backend,
} from '../../src/repo/index.ts';
import { BackupStore, generateLocationKey, withPrefix, type ObjectStore } from '../../src/storage/index.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import { repositoryPrefix, StoreBackend } from '../../src/volumes/index.ts';
import { startStoreFaultProxy, type StoreFaultProxy } from '../helpers/fault-proxy.ts';
import { recordReliability } from '../helpers/reliability.ts';
import { createCr, getCr, installCrds, listCrs, startServer, type RunningServer } from '../helpers/server.ts';
import { clusterClient, eventually, minioOptions, testbedEnv, uniqueSuffix } from '../helpers/testbed.ts';

const run = promisify(execFile);
const PREFIX = 'cairn';
const PASSWORD = 'cairn-shared-bucket-test';

let a: KubeClient;
let b: KubeClient;
let bucket: string;
let key: Buffer;
const servers: RunningServer[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

function s3Store(): ObjectStore {
  const { endpoint, region, forcePathStyle, credentials } = minioOptions();
  return withPrefix(new S3Store({ bucket, region, endpoint, forcePathStyle, credentials }), `${PREFIX}/`);
}

async function createNamespace(client: KubeClient, name: string): Promise<string> {
  await client.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name } } });
  cleanups.push(() => client.send({ method: 'DELETE', path: `/api/v1/namespaces/${name}` }));
  return name;
}

/** The location `name` in `ns`: the bucket, its credentials and the shared key, in Secrets of `ns`. */
async function location(
  client: KubeClient,
  ns: string,
  name: string,
  spec: Partial<BackupLocationSpec> & { s3Url?: string },
): Promise<void> {
  const credentials = `[default]\naws_access_key_id = ${testbedEnv('AWS_ACCESS_KEY_ID')}\naws_secret_access_key = ${testbedEnv('AWS_SECRET_ACCESS_KEY')}\n`;
  for (const [secret, data] of [
    [`${name}-credentials`, { cloud: Buffer.from(credentials).toString('base64') }],
    [keySecretName(name), { key: Buffer.from(`${key.toString('base64')}\n`).toString('base64') }],
  ] as const)
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/secrets`,
      body: { metadata: { name: secret }, data },
    });
  const { s3Url, ...rest } = spec;
  await createCr(client, ns, 'BackupLocation', name, {
    provider: 's3',
    objectStorage: { bucket, prefix: PREFIX },
    config: {
      region: testbedEnv('AWS_REGION'),
      s3Url: s3Url ?? testbedEnv('CAIRN_S3_ENDPOINT'),
      s3ForcePathStyle: 'true',
    },
    credential: { name: `${name}-credentials`, key: 'cloud' },
    backupSyncPeriod: '1s',
    validationFrequency: '1s',
    ...rest,
  });
}

async function server(client: KubeClient, namespace: string, identity: string): Promise<RunningServer> {
  const started = await startServer({
    client,
    namespace,
    identity,
    locationIntervalMs: 1000,
    syncGraceMs: 0,
  });
  servers.push(started);
  return started;
}

async function finished<T extends Backup | Restore>(
  client: KubeClient,
  ns: string,
  kind: 'Backup' | 'Restore',
  name: string,
): Promise<T> {
  return eventually(
    `${kind} ${name} in ${ns} to finish`,
    async () => {
      const object = await getCr<T>(client, ns, kind, name);
      return ['New', 'InProgress', undefined].includes(object?.status?.phase) ? undefined : object;
    },
    180_000,
  );
}

async function configMaps(client: KubeClient, ns: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++)
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { metadata: { name: `config-${i}` }, data: { index: String(i) } },
    });
}

describe('two clusters writing one bucket', () => {
  let nsA: string;
  let nsB: string;
  let appA: string;
  let appB: string;

  before(async () => {
    a = clusterClient('a');
    b = clusterClient('b');
    await Promise.all([installCrds(a), installCrds(b)]);
    bucket = `cairn-shared-${uniqueSuffix()}`;
    const s3 = new S3Client(minioOptions());
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    s3.destroy();
    key = generateLocationKey();
    const suffix = uniqueSuffix();
    nsA = await createNamespace(a, `cairn-shared-a-${suffix}`);
    nsB = await createNamespace(b, `cairn-shared-b-${suffix}`);
    appA = await createNamespace(a, `app-a-${suffix}`);
    appB = await createNamespace(b, `app-b-${suffix}`);
    await configMaps(a, appA, 5);
    await configMaps(b, appB, 5);
    await location(a, nsA, 'shared', { default: true });
    await location(b, nsB, 'shared', { default: true });
    await server(a, nsA, 'a');
    await server(b, nsB, 'b');
  });

  after(async () => {
    for (const s of servers) await s.stop();
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('backs up from both at once: both complete, a name both take is refused to one, all verify', async () => {
    await Promise.all([
      createCr(a, nsA, 'Backup', 'from-a', { includedNamespaces: [appA] }),
      createCr(b, nsB, 'Backup', 'from-b', { includedNamespaces: [appB] }),
      createCr(a, nsA, 'Backup', 'both', { includedNamespaces: [appA] }),
      createCr(b, nsB, 'Backup', 'both', { includedNamespaces: [appB] }),
    ]);
    const fromA = await finished<Backup>(a, nsA, 'Backup', 'from-a');
    const fromB = await finished<Backup>(b, nsB, 'Backup', 'from-b');
    assert.equal(fromA.status?.phase, 'Completed', JSON.stringify(fromA.status));
    assert.equal(fromB.status?.phase, 'Completed', JSON.stringify(fromB.status));
    const both = [
      await finished<Backup>(a, nsA, 'Backup', 'both'),
      await finished<Backup>(b, nsB, 'Backup', 'both'),
    ];
    const phases = both.map((x) => x.status?.phase).sort();
    assert.deepEqual(phases, ['Completed', 'Failed'], JSON.stringify(both.map((x) => x.status)));
    const loser = both.find((x) => x.status?.phase === 'Failed');
    assert.match(
      loser?.status?.failureReason ?? '',
      /a backup named "both" already exists in location "shared"/,
      JSON.stringify(loser?.status),
    );

    // What is stored: three backups, each whole (every file against its checksum, the archive decrypted
    // with the shared key).
    const store = new BackupStore({ location: 'shared', store: s3Store(), key });
    const names: string[] = [];
    for await (const entry of store.listBackups()) if (entry.complete) names.push(entry.name);
    assert.deepEqual(names.sort(), ['both', 'from-a', 'from-b']);
    for (const name of names) {
      const verified = await store.verifyChecksums(name, { now: () => new Date() });
      assert.equal(verified.outcome, 'Passed', JSON.stringify(verified));
      const archive = await store.openFile(name, 'archive');
      let bytes = 0;
      for await (const chunk of archive) bytes += (chunk as Buffer).length;
      assert.ok(bytes > 0, `${name}: the archive decrypts`);
    }
    const winner = both.find((x) => x.status?.phase === 'Completed');
    const stored = await store.getBackup('both');
    assert.equal(stored?.metadata.uid, winner?.metadata.uid, 'the stored "both" is the winner\'s');
    recordReliability({
      section: 'Faults',
      subject: 'two clusters, one bucket (cairn server in each, same location and key)',
      tried: 'backups at the same time from both, one name taken in both',
      cases: 4,
      outcome: `distinct names completed; the name taken twice was refused to one: ${loser?.status?.failureReason ?? ''}; every stored backup verified`,
      lost: 'nothing',
    });
  });

  it('lets two writers back up into one volume repository under their locks, and restic checks it', async (t) => {
    const namespace = `volumes-${uniqueSuffix()}`;
    const work = await mkdtemp(join(tmpdir(), 'cairn-shared-repo-'));
    t.after(() => rm(work, { recursive: true, force: true }));
    const initial = await Repository.init(new StoreBackend(s3Store(), namespace), {
      password: PASSWORD,
      polynomial: polynomialToHex(randomPolynomial(systemRandomBytes)),
    });
    await initial.close();
    // Writer one's first pack is held back until the test has looked at the locks.
    const release = Promise.withResolvers<void>();
    const holding = Promise.withResolvers<void>();
    const plain = new StoreBackend(s3Store(), namespace);
    const held: Backend = {
      description: plain.description,
      save: async (handle, bytes, options) => {
        if (handle.type === 'data') {
          holding.resolve();
          await release.promise;
        }
        return plain.save(handle, bytes, options);
      },
      load: (handle, options) => plain.load(handle, options),
      stat: (handle, options) => plain.stat(handle, options),
      list: (type, options) => plain.list(type, options),
      remove: (handle, options) => plain.remove(handle, options),
    };
    const sources = await Promise.all(
      ['one', 'two'].map(async (writer) => {
        const dir = join(work, writer);
        await mkdir(dir, { recursive: true });
        for (let i = 0; i < 4; i++) await writeFile(join(dir, `file-${i}`), `${writer} ${i} `.repeat(20_000));
        return dir;
      }),
    );
    const one = await Repository.open(held, { password: PASSWORD });
    const two = await Repository.open(new StoreBackend(s3Store(), namespace), { password: PASSWORD });
    const third = await Repository.open(new StoreBackend(s3Store(), namespace), { password: PASSWORD });
    const first = backupDirectory(one, { source: sources[0] ?? '', hostname: 'writer-one' });
    await holding.promise;
    const second = await backupDirectory(two, { source: sources[1] ?? '', hostname: 'writer-two' });
    // Writer one still holds its lock: an exclusive lock (prune's) is refused.
    await assert.rejects(third.lock({ exclusive: true }), LockConflictError);
    release.resolve();
    const firstResult = await first;
    assert.deepEqual(firstResult.errors, []);
    assert.deepEqual(second.errors, []);
    await Promise.all([one.close(), two.close(), third.close()]);
    const locksLeft: string[] = [];
    for await (const entry of s3Store().list(`${repositoryPrefix(namespace)}locks/`))
      locksLeft.push(entry.type === 'object' ? entry.key : entry.prefix);
    assert.deepEqual(locksLeft, [], 'both locks are released');

    const { endpoint } = minioOptions();
    const { stdout } = await run(
      'restic',
      [
        '--repo',
        `s3:${endpoint}/${bucket}/${PREFIX}/${repositoryPrefix(namespace)}`,
        '--no-cache',
        'check',
        '--read-data',
      ],
      {
        env: {
          ...process.env,
          RESTIC_PASSWORD: PASSWORD,
          AWS_ACCESS_KEY_ID: testbedEnv('AWS_ACCESS_KEY_ID'),
          AWS_SECRET_ACCESS_KEY: testbedEnv('AWS_SECRET_ACCESS_KEY'),
        },
      },
    );
    assert.match(stdout, /no errors were found/);
    const snapshots = await run(
      'restic',
      [
        '--repo',
        `s3:${endpoint}/${bucket}/${PREFIX}/${repositoryPrefix(namespace)}`,
        '--no-cache',
        'snapshots',
        '--json',
      ],
      {
        env: {
          ...process.env,
          RESTIC_PASSWORD: PASSWORD,
          AWS_ACCESS_KEY_ID: testbedEnv('AWS_ACCESS_KEY_ID'),
          AWS_SECRET_ACCESS_KEY: testbedEnv('AWS_SECRET_ACCESS_KEY'),
        },
      },
    );
    const ids = (JSON.parse(snapshots.stdout) as { id: string }[]).map((s) => s.id).sort();
    assert.deepEqual(ids, [firstResult.snapshotId, second.snapshotId].sort());
    recordReliability({
      section: 'Faults',
      subject: 'volume repository (backupDirectory) with two writers',
      tried: 'two repository handles backing up into one restic repository on MinIO at once',
      cases: 2,
      outcome:
        'both snapshots written; an exclusive lock was refused while they ran; locks released; restic check --read-data found no errors',
      lost: 'nothing',
    });
  });

  it('never writes to a ReadOnly location: not syncing, restoring from it, or refusing a backup into it', async () => {
    const proxy: StoreFaultProxy = await startStoreFaultProxy(
      testbedEnv('CAIRN_S3_ENDPOINT'),
      () => undefined,
    );
    cleanups.push(() => proxy.close());
    const nsRO = await createNamespace(b, `cairn-shared-ro-${uniqueSuffix()}`);
    await location(b, nsRO, 'readonly', { default: true, accessMode: 'ReadOnly', s3Url: proxy.endpoint });
    await server(b, nsRO, 'b-readonly');
    await eventually(
      'the backups of the bucket synced into the ReadOnly namespace',
      async () => {
        const synced = (await listCrs<Backup>(b, nsRO, 'Backup')).filter(
          (x) => x.status?.phase === 'Completed',
        );
        return synced.length >= 3 ? synced : undefined;
      },
      120_000,
    );
    const copy = await createNamespace(b, `${appA}-copy`);
    await createCr(b, nsRO, 'Restore', 'from-readonly', {
      backupName: 'from-a',
      namespaceMapping: { [appA]: copy },
    });
    const restore = await finished<Restore>(b, nsRO, 'Restore', 'from-readonly');
    assert.equal(restore.status?.phase, 'Completed', JSON.stringify(restore.status));
    const restored = await b.json<{ items: KubeObject[] }>({ path: `/api/v1/namespaces/${copy}/configmaps` });
    assert.equal(restored.items.filter((c) => c.metadata.name.startsWith('config-')).length, 5);
    await createCr(b, nsRO, 'Backup', 'into-readonly', { storageLocation: 'readonly' });
    const refused = await finished<Backup>(b, nsRO, 'Backup', 'into-readonly');
    assert.notEqual(refused.status?.phase, 'Completed');
    assert.match(JSON.stringify(refused.status), /ReadOnly/, JSON.stringify(refused.status));

    const writes = proxy.seen.filter((r) => !/^(GET|HEAD) /.test(r));
    assert.ok(proxy.seen.length > 0, 'the location was read through the proxy');
    assert.deepEqual(writes, []);
    recordReliability({
      section: 'Faults',
      subject: 'ReadOnly location on a bucket other clusters write',
      tried: 'catalog sync, a restore from it and a backup into it, every store request counted',
      cases: proxy.seen.length,
      outcome: `backups synced and restored; the backup was refused: ${refused.status?.failureReason ?? refused.status?.validationErrors?.join('; ') ?? ''}`,
      lost: 'nothing; no PUT, POST or DELETE reached the store',
    });
  });
});
