// `cairn server`, a child process, killed with SIGKILL mid-backup (its archive's upload held by a proxy in
// front of MinIO) and mid-restore (its read of the archive held): a new server process marks the orphan
// Failed with the reason (nothing stays InProgress), no backup whose stored files are incomplete is
// Completed (every Completed one passes `cairn backup verify --quick`), and the next backup and restore
// succeed. The takeover by a standby is test/e2e/server-failover.test.ts; the orphan marking on an
// injected InProgress, test/integration/server-backup.test.ts.
import assert from 'node:assert/strict';
import { CreateBucketCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Backup, Restore } from '../../src/api/index.ts';
import { ORPHAN_REASON, RESTORE_ORPHAN_REASON } from '../../src/controller/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { BackupStore, withPrefix } from '../../src/storage/index.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import { cairn } from '../helpers/cli.ts';
import { startStoreFaultProxy, type StoreFault, type StoreFaultProxy } from '../helpers/fault-proxy.ts';
import { recordReliability } from '../helpers/reliability.ts';
import { createCr, createServerDeployment, getCr, installCrds, listCrs } from '../helpers/server.ts';
import {
  killHard,
  leads,
  startServerProcess,
  stopProcess,
  type ServerProcess,
} from '../helpers/server-process.ts';
import { clusterClient, eventually, minioOptions, testbedEnv, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;
let namespace: string;
let app: string;
let bucket: string;
let s3: S3Client;
let proxy: StoreFaultProxy;
/** What the proxy holds now: requests it matches are held until `release()` opens `gate`. */
let hold: ((req: IncomingMessage) => boolean) | undefined;
let gate: Promise<void> = Promise.resolve();
let release: () => void = () => undefined;
let server: ServerProcess | undefined;

/** Short leases: the next process leads a few seconds after the killed one's last renewal. */
const start = (identity: string) =>
  startServerProcess(namespace, identity, [
    '--lease-duration',
    '4s',
    '--renew-deadline',
    '3s',
    '--retry-period',
    '500ms',
  ]);

async function restart(identity: string): Promise<ServerProcess> {
  const next = start(identity);
  server = next;
  await eventually(`${identity} to lead`, async () => ((await leads(next)) ? true : undefined), 120_000);
  return next;
}

/** Holds the requests `match` picks from now on, until the returned release is called. */
function holdWhere(match: (req: IncomingMessage) => boolean): void {
  let open: () => void = () => undefined;
  gate = new Promise<void>((resolve) => (open = resolve));
  hold = match;
  release = () => {
    hold = undefined;
    open();
  };
}

/** Kills the running server with SIGKILL. */
async function killServer(): Promise<void> {
  assert.ok(server, 'a server runs');
  await killHard(server);
}

const pathOf = (req: IncomingMessage) => req.url?.split('?')[0] ?? '';

async function finished<T extends Backup | Restore>(kind: 'Backup' | 'Restore', name: string): Promise<T> {
  return eventually(
    `${kind} ${name} to finish`,
    async () => {
      const object = await getCr<T>(client, namespace, kind, name);
      const phase = object?.status?.phase;
      return object && phase && !['New', 'InProgress'].includes(phase) ? object : undefined;
    },
    180_000,
  );
}

/**
 * The store as it is (MinIO itself, not the proxy): every backup committed there (its metadata written)
 * has each file its checksum manifest lists, as written (what `cairn backup verify --quick` checks), and so
 * does every Backup resource Completed; resolves with the committed backups' names.
 */
async function verifyStore(): Promise<string[]> {
  const backups = new BackupStore({
    location: 'minio',
    store: withPrefix(new S3Store({ ...minioOptions(), bucket }), 'cairn'),
  });
  const committed: string[] = [];
  for await (const entry of backups.listBackups()) {
    if (!entry.complete) continue;
    committed.push(entry.name);
    const record = await backups.verifyChecksums(entry.name, { now: () => new Date() });
    assert.equal(record.outcome, 'Passed', `${entry.name}: ${record.problems.join('; ')}`);
  }
  for (const backup of await listCrs<Backup>(client, namespace, 'Backup'))
    if (backup.status?.phase === 'Completed')
      assert.ok(
        committed.includes(backup.metadata.name),
        `${backup.metadata.name} is Completed but not stored`,
      );
  return committed;
}

describe('cairn server killed with SIGKILL', () => {
  before(async () => {
    client = clusterClient('a');
    await installCrds(client);
    namespace = `cairn-kill-${uniqueSuffix()}`;
    app = `app-${uniqueSuffix()}`;
    for (const ns of [namespace, app])
      await client.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: ns } } });
    for (const name of ['settings', 'flags'])
      await client.json({
        method: 'POST',
        path: `/api/v1/namespaces/${app}/configmaps`,
        body: { metadata: { name }, data: { k: name } },
      });
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/secrets`,
      body: {
        metadata: { name: 'minio' },
        stringData: {
          cloud: `[default]\naws_access_key_id = ${testbedEnv('AWS_ACCESS_KEY_ID')}\naws_secret_access_key = ${testbedEnv('AWS_SECRET_ACCESS_KEY')}\n`,
        },
      },
    });
    bucket = `cairn-kill-${uniqueSuffix()}`;
    s3 = new S3Client(minioOptions());
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    proxy = await startStoreFaultProxy(testbedEnv('CAIRN_S3_ENDPOINT'), (req): StoreFault =>
      hold?.(req) ? { wait: gate } : undefined,
    );
    await createCr(client, namespace, 'BackupLocation', 'minio', {
      provider: 's3',
      objectStorage: { bucket, prefix: 'cairn' },
      config: { region: 'us-east-1', s3Url: proxy.endpoint, s3ForcePathStyle: 'true' },
      credential: { name: 'minio', key: 'cloud' },
      default: true,
    });
    // The CLI works in server mode where the server's Deployment is.
    await createServerDeployment(client, namespace);
    await restart('first');
  });

  after(async () => {
    release();
    if (server) await stopProcess(server);
    await proxy.close();
    for (const ns of [namespace, app, `${app}-back`, `${app}-again`])
      await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
    s3.destroy();
  });

  it('mid-backup: the next server fails the backup, nothing of it is Completed, and the next backup is', async () => {
    const name = `killed-${uniqueSuffix()}`;
    holdWhere((req) => req.method === 'PUT' && pathOf(req).endsWith(`/backups/${name}/${name}.tar.gz`));
    await createCr(client, namespace, 'Backup', name, { includedNamespaces: [app] });
    await eventually('the archive upload to be held', () =>
      Promise.resolve(proxy.stalled.some((r) => r.includes(`${name}.tar.gz`)) ? true : undefined),
    );
    assert.equal((await getCr<Backup>(client, namespace, 'Backup', name))?.status?.phase, 'InProgress');
    await killServer();
    release();

    const killed = await restart('second');
    const failed = await finished<Backup>('Backup', name);
    assert.equal(failed.status?.phase, 'Failed');
    assert.equal(failed.status?.failureReason, ORPHAN_REASON);
    assert.ok(failed.status?.completionTimestamp, 'the time it was given up is recorded');
    // The metadata is written last: without it the store holds no backup a sync could show Completed.
    await assert.rejects(
      s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `cairn/backups/${name}/velero-backup.json` })),
      /NotFound|404/,
    );
    // What the user is told.
    const described = await cairn(['backup', 'describe', name, '-n', namespace]);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /Failed/);
    assert.ok(described.stdout.includes(ORPHAN_REASON), described.stdout);

    const next = `next-${uniqueSuffix()}`;
    await createCr(client, namespace, 'Backup', next, { includedNamespaces: [app] });
    assert.equal((await finished<Backup>('Backup', next)).status?.phase, 'Completed', killed.stderr());
    const committed = await verifyStore();
    assert.ok(committed.includes(next) && !committed.includes(name), committed.join(', '));

    recordReliability({
      section: 'Faults',
      subject: 'cairn server (Backup)',
      tried: 'SIGKILL of the server process mid-backup, its archive upload held',
      cases: 1,
      outcome:
        'the next server marked the backup Failed with the reason (never left InProgress); no metadata stored for it; the next backup Completed and verified',
      lost: 'the killed backup only (a backup is not resumed); nothing Completed with missing files',
    });
  });

  it('mid-restore: the next server fails the restore, and the next restore completes', async () => {
    const backup = `source-${uniqueSuffix()}`;
    await createCr(client, namespace, 'Backup', backup, { includedNamespaces: [app] });
    assert.equal((await finished<Backup>('Backup', backup)).status?.phase, 'Completed');

    const name = `killed-${uniqueSuffix()}`;
    holdWhere((req) => req.method === 'GET' && pathOf(req).endsWith(`/backups/${backup}/${backup}.tar.gz`));
    await createCr(client, namespace, 'Restore', name, {
      backupName: backup,
      namespaceMapping: { [app]: `${app}-back` },
    });
    await eventually('the archive read to be held', () =>
      Promise.resolve(proxy.stalled.some((r) => r.includes(`${backup}.tar.gz`)) ? true : undefined),
    );
    assert.equal((await getCr<Restore>(client, namespace, 'Restore', name))?.status?.phase, 'InProgress');
    await killServer();
    release();

    await restart('third');
    const failed = await finished<Restore>('Restore', name);
    assert.equal(failed.status?.phase, 'Failed');
    assert.equal(failed.status?.failureReason, RESTORE_ORPHAN_REASON);
    const described = await cairn(['restore', 'describe', name, '-n', namespace]);
    assert.equal(described.code, 0, described.stderr);
    assert.ok(described.stdout.includes(RESTORE_ORPHAN_REASON), described.stdout);

    const next = `again-${uniqueSuffix()}`;
    await createCr(client, namespace, 'Restore', next, {
      backupName: backup,
      namespaceMapping: { [app]: `${app}-again` },
    });
    const restored = await finished<Restore>('Restore', next);
    assert.equal(restored.status?.phase, 'Completed', JSON.stringify(restored.status));
    for (const configMap of ['settings', 'flags'])
      await client.json({ path: `/api/v1/namespaces/${app}-again/configmaps/${configMap}` });
    // The backup the killed restore read is untouched.
    assert.ok((await verifyStore()).includes(backup));

    recordReliability({
      section: 'Faults',
      subject: 'cairn server (Restore)',
      tried: 'SIGKILL of the server process mid-restore, its read of the archive held',
      cases: 1,
      outcome:
        'the next server marked the restore Failed with the reason; the next restore of the same backup Completed',
      lost: 'nothing: the backup still verifies',
    });
  });
});
