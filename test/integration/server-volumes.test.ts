// Server mode with volume data: the server (runServer) creates a PodVolumeBackup per pod volume and waits
// for the node agent, which runs beside the testbed's real node as `cairn node-agent`, a host process; a
// Restore brings the pod back, waiting in its init container until the agent has filled its volume. The
// repository's password is a Secret of its own. With no agent on the node, the volume fails at once.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backup, PodVolumeBackup, Restore } from '../../src/api/index.ts';
import { repositoryPasswordSecret, resourcePath } from '../../src/controller/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { cairn, cairnBin } from '../helpers/cli.ts';
import {
  busyboxPod,
  kubectl,
  TESTBED_IMAGES,
  TESTBED_STORAGE,
  testbedNode,
  waitForPodLine,
  waitForPodReady,
} from '../helpers/node.ts';
import {
  createCr,
  createServerDeployment,
  installCrds,
  startServer,
  type RunningServer,
} from '../helpers/server.ts';
import { clusterClient, eventually, testbedEnv, uniqueSuffix } from '../helpers/testbed.ts';

const run = promisify(execFile);
let client: KubeClient;
let namespace: string;
let dir: string;
let server: RunningServer;

async function finished<T extends Backup | Restore>(kind: 'Backup' | 'Restore', name: string): Promise<T> {
  return eventually(
    `${kind} ${name} to finish`,
    async () => {
      const object = await client.json<T>({ path: resourcePath(kind, namespace, name) });
      const phase = object.status?.phase;
      return phase && !['New', 'InProgress'].includes(phase) ? object : undefined;
    },
    180_000,
  );
}

/** `cairn node-agent` for the testbed's node, as a host process; resolves once it announced itself. */
async function startAgent(): Promise<{ child: ChildProcess; logs: string[] }> {
  const node = testbedNode('a');
  const child = spawn(
    process.execPath,
    [cairnBin, 'node-agent', '-n', namespace, '--node', node.name, '--kubelet-root', node.rootDir],
    { env: { ...process.env, KUBECONFIG: testbedEnv('KUBECONFIG') }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const logs: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => logs.push(chunk));
  await eventually('the node agent to start', () =>
    Promise.resolve(logs.join('').includes('node agent on node') ? true : undefined),
  );
  return { child, logs };
}

async function stopAgent(agent: { child: ChildProcess }): Promise<void> {
  const exited = new Promise((done) => agent.child.on('exit', done));
  agent.child.kill('SIGTERM');
  await exited;
}

/**
 * Namespace `app` (deleted after the test) with a claim `data` of the testbed's CSI class and a pod `db`
 * that writes /data/rows into it; resolves with the file's checksum line.
 */
async function csiApp(t: { after: (fn: () => Promise<void>) => void }, app: string) {
  await client.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: app } } });
  t.after(() => client.send({ method: 'DELETE', path: `/api/v1/namespaces/${app}` }).then(() => undefined));
  await client.json({
    method: 'POST',
    path: `/api/v1/namespaces/${app}/persistentvolumeclaims`,
    body: {
      metadata: { name: 'data' },
      spec: {
        storageClassName: TESTBED_STORAGE.csiClass,
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: '16Mi' } },
      },
    },
  });
  await client.json({
    method: 'POST',
    path: `/api/v1/namespaces/${app}/pods`,
    body: busyboxPod({
      name: 'db',
      script: '[ -e /data/rows ] || seq 1 50000 > /data/rows; echo ready; exec sleep 3600',
      volumes: { data: { persistentVolumeClaim: { claimName: 'data' } } },
    }),
  });
  await waitForPodReady(client, app, 'db');
  await waitForPodLine(app, 'db', 'ready');
  return kubectl(['exec', '-n', app, 'db', '--', 'sha256sum', '/data/rows']);
}

describe('cairn server with the node agent: pod volumes', () => {
  before(async () => {
    client = clusterClient('a');
    await installCrds(client);
    namespace = `cairn-${uniqueSuffix()}`;
    await client.json({
      method: 'POST',
      path: '/api/v1/namespaces',
      body: { metadata: { name: namespace } },
    });
    dir = await mkdtemp(join(tmpdir(), 'cairn-server-vol-'));
    await createCr(client, namespace, 'BackupLocation', 'local', {
      provider: 'fs',
      config: { path: join(dir, 'local') },
      default: true,
    });
    await createServerDeployment(client, namespace);
    server = await startServer({
      client,
      namespace,
      identity: 'volumes',
      restoreHelperImage: TESTBED_IMAGES.busybox,
      repoMaintenanceIntervalMs: 2000,
    });
  });

  after(async () => {
    await server.stop();
    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${namespace}` });
    await rm(dir, { recursive: true, force: true });
  });

  it('backs up a claim through the node agent and restores it into a recreated namespace', async (t) => {
    const app = `app-${uniqueSuffix()}`;
    await client.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: app } } });
    t.after(() => client.send({ method: 'DELETE', path: `/api/v1/namespaces/${app}` }).then(() => undefined));
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${app}/persistentvolumeclaims`,
      body: {
        metadata: { name: 'data' },
        spec: {
          storageClassName: TESTBED_STORAGE.localClass,
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: '64Mi' } },
        },
      },
    });
    const pod = busyboxPod({
      name: 'db',
      script: '[ -e /data/rows ] || seq 1 50000 > /data/rows; echo ready; exec sleep 3600',
      volumes: { data: { persistentVolumeClaim: { claimName: 'data' } } },
    });
    (pod.metadata as Record<string, unknown>).annotations = { 'backup.cairn.dev/backup-volumes': 'data' };
    await client.json({ method: 'POST', path: `/api/v1/namespaces/${app}/pods`, body: pod });
    await waitForPodReady(client, app, 'db');
    await waitForPodLine(app, 'db', 'ready');
    const before = await kubectl(['exec', '-n', app, 'db', '--', 'sha256sum', '/data/rows']);

    // With no agent on the node, the volume fails at once, naming the node.
    const early = `early-${uniqueSuffix()}`;
    await createCr(client, namespace, 'Backup', early, { includedNamespaces: [app] });
    const failed = await finished<Backup>('Backup', early);
    assert.equal(failed.status?.phase, 'PartiallyFailed');
    assert.equal(failed.status?.podVolumeBackups?.failed, 1);

    const agent = await startAgent();
    t.after(() => stopAgent(agent));
    const name = `vol-${uniqueSuffix()}`;
    await createCr(client, namespace, 'Backup', name, { includedNamespaces: [app] });
    const backup = await finished<Backup>('Backup', name);
    assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status) + agent.logs.join(''));
    assert.equal(backup.status?.podVolumeBackups?.completed, 1);
    const pvbs = await client.json<{ items: PodVolumeBackup[] }>({
      path: resourcePath('PodVolumeBackup', namespace),
      query: { labelSelector: `cairn.dev/backup-name=${name}` },
    });
    assert.equal(pvbs.items.length, 1);
    assert.equal(pvbs.items[0]?.status?.phase, 'Completed');
    assert.equal(pvbs.items[0]?.status?.node, testbedNode('a').name);
    const secret = await client.json<{ data: Record<string, string> }>({
      path: `/api/v1/namespaces/${namespace}/secrets/${repositoryPasswordSecret('local', app)}`,
    });
    assert.ok(Buffer.from(secret.data.password ?? '', 'base64').length >= 32, 'a random password of its own');

    // The CLI in server mode reads the volume's files and the repository through the server's
    // BackupLocation and Secrets.
    const ls = await cairn(['volume', 'ls', name, `${app}/db/data`, '-n', namespace]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /\brows\n/);
    const got = await cairn(['volume', 'get', name, `${app}/db/data`, 'rows', '--to', '-', '-n', namespace]);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(
      `${createHash('sha256').update(got.stdout).digest('hex')}  /data/rows\n`,
      before.stdout,
      'the file as the pod wrote it',
    );
    const repos = await cairn(['repo', 'get', app, '-n', namespace, '-o', 'json']);
    assert.equal(repos.code, 0, repos.stderr);
    const { repositories } = JSON.parse(repos.stdout) as {
      repositories: { state: string; passwordSecret: string }[];
    };
    assert.equal(repositories[0]?.state, 'Ready');
    assert.equal(
      repositories[0]?.passwordSecret,
      `Secret ${namespace}/${repositoryPasswordSecret('local', app)} (data "password")`,
    );
    const checked = await cairn(['repo', 'check', app, '-n', namespace]);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    const shown = await cairn(['repo', 'password', app, '--show', '-n', namespace]);
    assert.equal(shown.stdout.trim(), Buffer.from(secret.data.password ?? '', 'base64').toString());
    // Bad input names what is missing, in the server's terms.
    const noBackup = await cairn(['volume', 'ls', 'no-such-backup', `${app}/db/data`, '-n', namespace]);
    assert.equal(noBackup.code, 1);
    assert.match(
      noBackup.stderr,
      new RegExp(`there is no Backup "no-such-backup" in namespace ${namespace}`),
    );
    const noLocation = await cairn(['repo', 'get', '-n', namespace, '--storage-location', 'elsewhere']);
    assert.equal(noLocation.code, 1);
    assert.match(noLocation.stderr, /no BackupLocation "elsewhere" in namespace .* \(there are "local"\)/);
    const standalone = await cairn(['repo', 'get', app, '-n', namespace, '--standalone']);
    assert.notEqual(standalone.code, 0, 'standalone, this machine has no such repository');

    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${app}` });
    await eventually(
      `namespace ${app} to be gone`,
      async () =>
        (await client.send({ method: 'GET', path: `/api/v1/namespaces/${app}` })).status === 404
          ? true
          : undefined,
      120_000,
    );
    const restoreName = `r-${uniqueSuffix()}`;
    await createCr(client, namespace, 'Restore', restoreName, { backupName: name });
    const restore = await finished<Restore>('Restore', restoreName);
    assert.equal(restore.status?.phase, 'Completed', JSON.stringify(restore.status) + agent.logs.join(''));
    assert.equal(restore.status?.podVolumeRestores?.completed, 1);
    await waitForPodReady(client, app, 'db');
    const after = await kubectl(['exec', '-n', app, 'db', '--', 'sha256sum', '/data/rows']);
    assert.equal(after.stdout, before.stdout);

    // Deleting the backup forgets its volume snapshot (restic, with the Secret's password, finds none).
    await createCr(client, namespace, 'DeleteBackupRequest', `del-${uniqueSuffix()}`, { backupName: name });
    await eventually(`backup ${name} to be deleted`, async () => {
      const got = await client.send({ method: 'GET', path: resourcePath('Backup', namespace, name) });
      return got.status === 404 ? true : undefined;
    });
    const passwordFile = join(dir, 'password');
    await writeFile(passwordFile, Buffer.from(secret.data.password ?? '', 'base64'));
    const { stdout } = await run('restic', [
      '-r',
      join(dir, 'local', 'restic', app),
      '--password-file',
      passwordFile,
      '--no-cache',
      // The server's repository maintenance (every 2 s here) may hold the exclusive lock of a prune:
      // listing snapshots needs none.
      '--no-lock',
      'snapshots',
      '--json',
    ]);
    assert.deepEqual(JSON.parse(stdout), [], 'the deleted backup left no snapshot');
    // The server's repository maintenance then prunes the data no snapshot uses: every pack goes.
    await eventually(
      'the repository pruned',
      async () => {
        const packs = await readdir(join(dir, 'local', 'restic', app, 'data'), { recursive: true }).catch(
          () => [],
        );
        return packs.some((p) => /[0-9a-f]{64}$/.test(p)) ? undefined : true;
      },
      60_000,
    );
    assert.ok(server.logs.some((line) => line.includes(`pruned repository restic/${app}/`)));
  });
  it("runs the hook sets of a Backup's spec in the pods they select, a pod's own annotation first", async (t) => {
    const app = `hooks-${uniqueSuffix()}`;
    await client.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: app } } });
    t.after(() => client.send({ method: 'DELETE', path: `/api/v1/namespaces/${app}` }).then(() => undefined));
    const pod = (name: string, annotations: Record<string, string>) => {
      const body = busyboxPod({
        name,
        script: 'echo ready; exec sleep 3600',
        volumes: { data: { emptyDir: {} } },
      });
      Object.assign(body.metadata as Record<string, unknown>, { labels: { app: 'db' }, annotations });
      return body;
    };
    // db: its volume backed up, the spec's hooks around it. web: no volume; its annotation's pre hook
    // instead of the spec's, and the spec's post hook.
    for (const body of [
      pod('db', { 'backup.cairn.dev/backup-volumes': 'data' }),
      pod('web', { 'pre.hook.backup.cairn.dev/command': '["sh","-c","echo annotated > /data/pre"]' }),
    ])
      await client.json({ method: 'POST', path: `/api/v1/namespaces/${app}/pods`, body });
    for (const name of ['db', 'web']) {
      await waitForPodReady(client, app, name);
      await waitForPodLine(app, name, 'ready');
    }
    const agent = await startAgent();
    t.after(() => stopAgent(agent));

    const hooks = {
      resources: [
        { name: 'elsewhere', includedNamespaces: ['kube-system'], pre: [{ exec: { command: ['false'] } }] },
        {
          name: 'dump',
          labelSelector: 'app=db',
          pre: [{ exec: { command: ['sh', '-c', 'echo spec > /data/pre'], timeout: '20s' } }],
          post: [{ exec: { command: ['sh', '-c', 'echo done > /data/post'], onError: 'Continue' } }],
        },
      ],
    };
    const name = `hooks-${uniqueSuffix()}`;
    await createCr(client, namespace, 'Backup', name, { includedNamespaces: [app], hooks });
    const backup = await finished<Backup>('Backup', name);
    assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status) + agent.logs.join(''));
    assert.deepEqual(backup.status?.hookStatus, { hooksAttempted: 4, hooksFailed: 0 });
    assert.equal(backup.status?.podVolumeBackups?.completed, 1);
    const read = async (pod: string, file: string) =>
      (await kubectl(['exec', '-n', app, pod, '--', 'cat', `/data/${file}`])).stdout;
    assert.equal(await read('db', 'pre'), 'spec\n');
    assert.equal(await read('web', 'pre'), 'annotated\n');
    assert.equal(await read('db', 'post'), 'done\n');
    assert.equal(await read('web', 'post'), 'done\n');
    // The spec hook's file was written before the volume was read: it is in the snapshot.
    const ls = await cairn(['volume', 'ls', name, `${app}/db/data`, '-n', namespace]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /\spre\n/);
    assert.doesNotMatch(ls.stdout, /\spost\n/);

    // A Restore resource's hook sets, into another namespace. db's init container sees its restored
    // volume (it runs after the restore-wait container); web's volume was not backed up, so its copy of
    // the file is "none". Each exec hook runs once its container runs.
    const copy = `${app}-copy`;
    t.after(() =>
      client.send({ method: 'DELETE', path: `/api/v1/namespaces/${copy}` }).then(() => undefined),
    );
    const restoreName = `rhooks-${uniqueSuffix()}`;
    await createCr(client, namespace, 'Restore', restoreName, {
      backupName: name,
      namespaceMapping: { [app]: copy },
      hooks: {
        resources: [
          {
            name: 'load',
            includedNamespaces: [app],
            labelSelector: 'app=db',
            postHooks: [
              {
                init: {
                  initContainers: [
                    {
                      name: 'seen',
                      image: TESTBED_IMAGES.busybox,
                      imagePullPolicy: 'Never',
                      command: ['sh', '-c', 'cp /data/pre /data/seen || echo none > /data/seen'],
                      volumeMounts: [{ name: 'data', mountPath: '/data' }],
                    },
                  ],
                },
              },
              { exec: { command: ['sh', '-c', 'cat /data/seen > /data/exec-ran'], waitTimeout: '3m' } },
            ],
          },
        ],
      },
    });
    const restore = await finished<Restore>('Restore', restoreName);
    assert.equal(restore.status?.phase, 'Completed', JSON.stringify(restore.status) + agent.logs.join(''));
    assert.deepEqual(restore.status?.hookStatus, { hooksAttempted: 4, hooksFailed: 0 });
    const readCopy = async (pod: string, file: string) =>
      (await kubectl(['exec', '-n', copy, pod, '--', 'cat', `/data/${file}`])).stdout;
    assert.equal(await readCopy('db', 'exec-ran'), 'spec\n');
    assert.equal(await readCopy('web', 'exec-ran'), 'none\n');
    const restored = await client.json<{ spec: { initContainers: { name: string }[] } }>({
      path: `/api/v1/namespaces/${copy}/pods/db`,
    });
    assert.deepEqual(
      restored.spec.initContainers.map((c) => c.name),
      ['cairn-restore-wait', 'seen'],
    );

    // A hook set that cannot be read fails validation, naming the field and the value.
    const bad = `badhooks-${uniqueSuffix()}`;
    await createCr(client, namespace, 'Backup', bad, {
      includedNamespaces: [app],
      hooks: {
        resources: [{ name: 'x', labelSelector: 'app in db', pre: [{ exec: { command: ['true'] } }] }],
      },
    });
    const refused = await finished<Backup>('Backup', bad);
    assert.equal(refused.status?.phase, 'FailedValidation');
    assert.match(
      refused.status?.validationErrors?.join('\n') ?? '',
      /hooks\.resources\[0\]\.labelSelector.*app in db/,
    );
  });

  it('takes the CSI snapshot a volume policy ConfigMap chooses for a Backup resource, restores the claim from it for a Restore, and deletes it for a DeleteBackupRequest', async (t) => {
    const app = `csi-${uniqueSuffix()}`;
    const before = await csiApp(t, app);

    const name = `csi-${uniqueSuffix()}`;
    // The snapshot is chosen by a volume policy in a ConfigMap of the server's namespace (Velero's
    // resourcePolicy), with snapshotVolumes off: the server reads it when the backup starts.
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      body: {
        metadata: { name: `policy-${name}` },
        data: {
          policy: `version: v1\nvolumePolicies:\n  - conditions: {csi: {driver: ${TESTBED_STORAGE.csiDriver}}}\n    action: {type: snapshot}\n`,
        },
      },
    });
    await createCr(client, namespace, 'Backup', name, {
      includedNamespaces: [app],
      snapshotVolumes: false,
      resourcePolicy: { kind: 'configmap', name: `policy-${name}` },
    });
    const backup = await finished<Backup>('Backup', name);
    assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status));
    assert.equal(backup.status?.csiVolumeSnapshotsCompleted, 1);
    const contents = async () =>
      (
        await client.json<{
          items: { metadata: { name: string }; spec: { volumeSnapshotRef: { namespace: string } } }[];
        }>({
          path: '/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents',
        })
      ).items.filter((c) => c.spec.volumeSnapshotRef.namespace === app);
    assert.equal((await contents()).length, 1);
    const metrics = await server.get('/metrics');
    assert.match(metrics.text, /^cairn_csi_snapshot_success_total\{schedule=""\} [1-9]/m);

    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${app}` });
    await eventually(
      `namespace ${app} to be gone`,
      async () =>
        (await client.send({ method: 'GET', path: `/api/v1/namespaces/${app}` })).status === 404
          ? true
          : undefined,
      120_000,
    );
    const restoreName = `r-${uniqueSuffix()}`;
    await createCr(client, namespace, 'Restore', restoreName, { backupName: name });
    const restore = await finished<Restore>('Restore', restoreName);
    assert.equal(restore.status?.phase, 'Completed', JSON.stringify(restore.status));
    await waitForPodReady(client, app, 'db');
    const after = await kubectl(['exec', '-n', app, 'db', '--', 'sha256sum', '/data/rows']);
    assert.equal(after.stdout, before.stdout);

    await createCr(client, namespace, 'DeleteBackupRequest', `del-${uniqueSuffix()}`, { backupName: name });
    await eventually('the backup and its snapshot to be deleted', async () => {
      const got = await client.send({ method: 'GET', path: resourcePath('Backup', namespace, name) });
      return got.status === 404 && (await contents()).length === 0 ? true : undefined;
    });
    assert.ok(server.logs.some((line) => line.includes(`deleted 1 CSI snapshots of backup ${name}`)));
  });
  it("moves a CSI snapshot's data into the repository for a Backup with snapshotMoveData, and restores the claim from it", async (t) => {
    const app = `move-${uniqueSuffix()}`;
    const before = await csiApp(t, app);
    const agent = await startAgent();
    t.after(() => stopAgent(agent));

    const name = `move-${uniqueSuffix()}`;
    await createCr(client, namespace, 'Backup', name, {
      includedNamespaces: [app],
      snapshotVolumes: true,
      snapshotMoveData: true,
    });
    const backup = await finished<Backup>('Backup', name);
    assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status));
    assert.equal(backup.status?.csiVolumeSnapshotsCompleted, 1);
    assert.equal(backup.status?.podVolumeBackups?.completed, 1);
    assert.equal(backup.status?.snapshotDataMoves?.completed, 1);
    const metrics = await server.get('/metrics');
    assert.match(metrics.text, /^cairn_data_upload_success_total\{schedule=""\} [1-9]/m);
    // Moved: no snapshot of the namespace is left in the cluster.
    await eventually('the moved snapshot to be deleted', async () =>
      (
        await client.json<{ items: { spec: { volumeSnapshotRef: { namespace: string } } }[] }>({
          path: '/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents',
        })
      ).items.every((c) => c.spec.volumeSnapshotRef.namespace !== app)
        ? true
        : undefined,
    );

    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${app}` });
    await eventually(
      `namespace ${app} to be gone`,
      async () =>
        (await client.send({ method: 'GET', path: `/api/v1/namespaces/${app}` })).status === 404
          ? true
          : undefined,
      120_000,
    );
    const restoreName = `r-${uniqueSuffix()}`;
    await createCr(client, namespace, 'Restore', restoreName, { backupName: name });
    const restore = await finished<Restore>('Restore', restoreName);
    assert.equal(restore.status?.phase, 'Completed', JSON.stringify(restore.status));
    await waitForPodReady(client, app, 'db');
    const after = await kubectl(['exec', '-n', app, 'db', '--', 'sha256sum', '/data/rows']);
    assert.equal(after.stdout, before.stdout);
  });
});
