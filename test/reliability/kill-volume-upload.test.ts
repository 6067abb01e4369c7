// SIGKILL in the middle of a pod volume's upload: of `cairn server` (the node agent carries on) and of
// `cairn node-agent` (its upload to the volume-data repository held by a proxy in front of MinIO). After a
// restart nothing stays InProgress (the new server fails the backup, the new agent the volume it was
// given, each with the reason), no backup missing a volume is Completed, the killed agent's lock is found
// stale and removed, the repository passes Debian's `restic check --read-data`, and the next backup of the
// volume succeeds. Both run on the testbed's real node.
import assert from 'node:assert/strict';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { execFile } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { Backup, PodVolumeBackup } from '../../src/api/index.ts';
import {
  AGENT_ORPHAN_MESSAGE,
  NO_AGENT_MESSAGE,
  nodeAgentLease,
  ORPHAN_REASON,
  repositoryPasswordSecret,
  resourcePath,
} from '../../src/controller/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { startStoreFaultProxy, type StoreFaultProxy } from '../helpers/fault-proxy.ts';
import { busyboxPod, kubectl, testbedNode, waitForPodLine, waitForPodReady } from '../helpers/node.ts';
import { recordReliability } from '../helpers/reliability.ts';
import { createCr, createServerDeployment, getCr, installCrds } from '../helpers/server.ts';
import {
  killHard,
  leads,
  startNodeAgentProcess,
  startServerProcess,
  stopProcess,
  type CairnProcess,
  type ServerProcess,
} from '../helpers/server-process.ts';
import { clusterClient, eventually, minioOptions, testbedEnv, uniqueSuffix } from '../helpers/testbed.ts';

const run = promisify(execFile);
/** 1 MB of random bytes into the volume: one pack, small enough to stay fast on a loaded machine. */
const NEW_DATA = 'head -c 1000000 /dev/urandom > /data/random.bin';
/** Why the tests cannot run here, when they cannot: the testbed was started without its node. */
let noNode: string | undefined;
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
let agent: CairnProcess | undefined;

function holdWhere(match: (req: IncomingMessage) => boolean): void {
  let open: () => void = () => undefined;
  gate = new Promise<void>((resolve) => (open = resolve));
  hold = match;
  release = () => {
    hold = undefined;
    open();
  };
}

/** A pack of volume data going up to the app's repository. */
const isDataUpload = (req: IncomingMessage) =>
  req.method === 'PUT' && (req.url ?? '').includes(`/cairn/restic/${app}/data/`);

/** A server with short leases (the next one leads soon after a kill) that prunes the repositories often. */
async function startLeadingServer(identity: string): Promise<ServerProcess> {
  const next = startServerProcess(namespace, identity, [
    '--lease-duration',
    '4s',
    '--renew-deadline',
    '3s',
    '--retry-period',
    '500ms',
    '--repo-maintenance-interval',
    '2s',
  ]);
  server = next;
  await eventually(`${identity} to lead`, async () => ((await leads(next)) ? true : undefined), 120_000);
  return next;
}

async function finished(name: string): Promise<Backup> {
  return eventually(
    `backup ${name} to finish`,
    async () => {
      const backup = await getCr<Backup>(client, namespace, 'Backup', name);
      const phase = backup?.status?.phase;
      return backup && phase && !['New', 'InProgress'].includes(phase) ? backup : undefined;
    },
    180_000,
  );
}

/** The backup's one PodVolumeBackup, once `ready` says it is as awaited. */
async function volumeOf(
  backup: string,
  ready: (pvb: PodVolumeBackup) => boolean,
  what: string,
): Promise<PodVolumeBackup> {
  return eventually(
    `the volume of ${backup} ${what}`,
    async () => {
      const list = await client.json<{ items: PodVolumeBackup[] }>({
        path: resourcePath('PodVolumeBackup', namespace),
        query: { labelSelector: `cairn.dev/backup-name=${backup}` },
      });
      const pvb = list.items[0];
      return pvb && ready(pvb) ? pvb : undefined;
    },
    180_000,
  );
}

/** Backup `name` of the app, its volume upload held; resolves once the upload is held and InProgress. */
async function backupHeldMidUpload(name: string): Promise<void> {
  // New bytes, or the repository has them all already and nothing goes up.
  const written = await kubectl(['exec', '-n', app, 'db', '--', 'sh', '-c', NEW_DATA]);
  assert.equal(written.code, 0, written.stderr);
  const before = proxy.stalled.length;
  holdWhere(isDataUpload);
  await createCr(client, namespace, 'Backup', name, { includedNamespaces: [app] });
  await volumeOf(name, (pvb) => pvb.status?.phase === 'InProgress', 'to be taken by the agent');
  await eventually('a data upload to be held', () =>
    Promise.resolve(proxy.stalled.slice(before).some((r) => r.includes('/data/')) ? true : undefined),
  );
  assert.equal((await getCr<Backup>(client, namespace, 'Backup', name))?.status?.phase, 'InProgress');
}

/** The repository's objects under `dir` (locks, snapshots...), from MinIO itself. */
async function repositoryObjects(dir: string): Promise<string[]> {
  const listed = await s3.send(
    new ListObjectsV2Command({ Bucket: bucket, Prefix: `cairn/restic/${app}/${dir}/` }),
  );
  return (listed.Contents ?? []).map((o) => o.Key ?? '');
}

/**
 * Debian's restic, with the repository's password from its Secret, reads every byte of the repository.
 * Its check takes an exclusive lock: while the server's maintenance holds one (a prune, every 2 s here),
 * it is tried again.
 */
async function resticCheck(): Promise<string> {
  const secret = await client.json<{ data: Record<string, string> }>({
    path: `/api/v1/namespaces/${namespace}/secrets/${repositoryPasswordSecret('minio', app)}`,
  });
  return eventually(
    'restic check --read-data (the repository not locked by a prune)',
    () =>
      resticCheckOnce(Buffer.from(secret.data.password ?? '', 'base64').toString('utf8')).catch(
        (error: Error & { stderr?: string }) => {
          if (/already locked/.test(error.stderr ?? '')) return undefined;
          throw error;
        },
      ),
    120_000,
  );
}

async function resticCheckOnce(password: string): Promise<string> {
  const { stdout } = await run(
    'restic',
    [
      '-r',
      `s3:${testbedEnv('CAIRN_S3_ENDPOINT')}/${bucket}/cairn/restic/${app}`,
      '--no-cache',
      'check',
      '--read-data',
    ],
    {
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: testbedEnv('AWS_ACCESS_KEY_ID'),
        AWS_SECRET_ACCESS_KEY: testbedEnv('AWS_SECRET_ACCESS_KEY'),
        RESTIC_PASSWORD: password,
      },
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return stdout;
}

/** The next backup of the app: Completed, its volume too. */
async function nextBackupCompletes(): Promise<void> {
  const name = `next-${uniqueSuffix()}`;
  await createCr(client, namespace, 'Backup', name, { includedNamespaces: [app] });
  const backup = await finished(name);
  assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status) + (agent?.stderr() ?? ''));
  assert.equal(backup.status?.podVolumeBackups?.completed, 1);
}

const skipWithoutNode = (t: TestContext) => {
  if (!noNode) return false;
  t.skip(noNode);
  return true;
};

describe('SIGKILL mid-volume-upload', () => {
  before(async () => {
    try {
      testbedNode('a');
    } catch (error) {
      noNode = `needs the testbed's node: ${(error as Error).message}`;
      return;
    }
    client = clusterClient('a');
    await installCrds(client);
    namespace = `cairn-killvol-${uniqueSuffix()}`;
    app = `app-${uniqueSuffix()}`;
    for (const ns of [namespace, app])
      await client.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: ns } } });
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
    bucket = `cairn-killvol-${uniqueSuffix()}`;
    s3 = new S3Client(minioOptions());
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    proxy = await startStoreFaultProxy(testbedEnv('CAIRN_S3_ENDPOINT'), (req) =>
      hold?.(req) ? { wait: gate } : undefined,
    );
    await createCr(client, namespace, 'BackupLocation', 'minio', {
      provider: 's3',
      objectStorage: { bucket, prefix: 'cairn' },
      config: { region: 'us-east-1', s3Url: proxy.endpoint, s3ForcePathStyle: 'true' },
      credential: { name: 'minio', key: 'cloud' },
      default: true,
    });
    await createServerDeployment(client, namespace);
    const pod = busyboxPod({
      name: 'db',
      script: `${NEW_DATA}; seq 1 20000 > /data/rows; echo ready; exec sleep 3600`,
      volumes: { data: { emptyDir: {} } },
    });
    (pod.metadata as Record<string, unknown>).annotations = { 'backup.cairn.dev/backup-volumes': 'data' };
    await client.json({ method: 'POST', path: `/api/v1/namespaces/${app}/pods`, body: pod });
    await waitForPodReady(client, app, 'db');
    await waitForPodLine(app, 'db', 'ready');
    await startLeadingServer('first');
    agent = await startNodeAgentProcess(namespace);
  });

  after(async () => {
    if (noNode) return;
    release();
    if (agent) await stopProcess(agent);
    if (server) await stopProcess(server);
    await proxy.close();
    for (const ns of [namespace, app])
      await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
    s3.destroy();
  });

  it('of the server: the next one fails the backup, the volume still completes, restic checks the repository', async (t) => {
    if (skipWithoutNode(t)) return;
    const name = `killed-${uniqueSuffix()}`;
    await backupHeldMidUpload(name);
    assert.ok(server);
    await killHard(server);
    release();

    await startLeadingServer('second');
    const failed = await finished(name);
    assert.equal(failed.status?.phase, 'Failed');
    assert.equal(failed.status?.failureReason, ORPHAN_REASON);
    // The agent did not depend on the server: it finished the volume, recorded in the repository.
    const volume = await volumeOf(name, (pvb) => pvb.status?.phase !== 'InProgress', 'to end');
    assert.equal(volume.status?.phase, 'Completed', JSON.stringify(volume.status));
    assert.ok((await repositoryObjects('snapshots')).length >= 1);
    await nextBackupCompletes();
    await resticCheck();

    recordReliability({
      section: 'Faults',
      subject: 'cairn server (Backup with a pod volume)',
      tried: "SIGKILL of the server process while the node agent uploads the volume's data",
      cases: 1,
      outcome:
        'the next server marked the backup Failed with the reason; the agent finished the volume; restic check --read-data passed; the next backup Completed',
      lost: 'the killed backup only (its volume snapshot is in the repository, unreferenced by a Completed backup)',
    });
  });

  it('of the node agent: the next agent fails the volume, the backup ends PartiallyFailed, the stale lock goes', async (t) => {
    if (skipWithoutNode(t)) return;
    const name = `agent-killed-${uniqueSuffix()}`;
    await backupHeldMidUpload(name);
    const locks = await repositoryObjects('locks');
    assert.ok(locks.length >= 1, 'the agent locked the repository');
    assert.ok(agent);
    await killHard(agent);
    release();

    agent = await startNodeAgentProcess(namespace);
    const volume = await volumeOf(name, (pvb) => pvb.status?.phase !== 'InProgress', 'to end');
    assert.equal(volume.status?.phase, 'Failed');
    assert.ok(volume.status?.message?.startsWith(AGENT_ORPHAN_MESSAGE), volume.status?.message);
    const backup = await finished(name);
    assert.equal(backup.status?.phase, 'PartiallyFailed', JSON.stringify(backup.status));
    assert.equal(backup.status?.podVolumeBackups?.failed, 1);

    // The killed agent's lock (its process gone on this host) is removed as stale by the repository's
    // maintenance, which then prunes what the killed upload left.
    await eventually(
      "the killed agent's lock to be removed",
      async () => ((await repositoryObjects('locks')).some((l) => locks.includes(l)) ? undefined : true),
      120_000,
    );
    assert.match(server?.stderr() ?? '', /removing stale lock/);
    await nextBackupCompletes();
    await resticCheck();

    recordReliability({
      section: 'Faults',
      subject: 'cairn node-agent (PodVolumeBackup)',
      tried: "SIGKILL of the node agent mid-upload of a volume's data",
      cases: 1,
      outcome:
        'the restarted agent marked the volume Failed with the reason (it stayed InProgress, the backup with it, before); the backup ended PartiallyFailed; the stale lock was removed; restic check --read-data passed; the next backup Completed',
      lost: 'the killed volume backup only; nothing Completed without its volume',
    });
  });

  it('of the node agent, none coming back: the server fails the volume once its Lease is stale', async (t) => {
    if (skipWithoutNode(t)) return;
    const name = `agent-gone-${uniqueSuffix()}`;
    await backupHeldMidUpload(name);
    assert.ok(agent);
    await killHard(agent);
    agent = undefined;
    release();
    // Its last renewal a minute ago, as 20 s (NODE_AGENT_STALE_MS) later: the staleness is nodeAgentRuns',
    // and a test waits for no clock.
    const node = testbedNode('a').name;
    await client.json({
      method: 'PATCH',
      path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${nodeAgentLease(node)}`,
      contentType: 'application/merge-patch+json',
      body: { spec: { renewTime: new Date(Date.now() - 60_000).toISOString().replace('Z', '000Z') } },
    });
    const volume = await volumeOf(name, (pvb) => pvb.status?.phase !== 'InProgress', 'to end');
    assert.equal(volume.status?.phase, 'Failed');
    assert.equal(
      volume.status?.message,
      `${NO_AGENT_MESSAGE} ${node} any more (it stopped, and none came back)`,
    );
    const backup = await finished(name);
    assert.equal(backup.status?.phase, 'PartiallyFailed', JSON.stringify(backup.status));

    agent = await startNodeAgentProcess(namespace);
    await nextBackupCompletes();
    await resticCheck();

    recordReliability({
      section: 'Faults',
      subject: 'cairn server (PodVolumeBackup without its node agent)',
      tried: 'SIGKILL of the node agent mid-upload, no agent coming back (its Lease stale)',
      cases: 1,
      outcome:
        'the server marked the volume Failed naming the node (it waited for ever before); the backup ended PartiallyFailed; the next backup, with an agent again, Completed',
      lost: 'the killed volume backup only',
    });
  });
});
