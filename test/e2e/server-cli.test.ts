// The CLI in server mode: with Cairn's server installed (its Deployment in the namespace), `cairn backup
// create` creates a Backup resource and follows it until it ends; --standalone still runs here;
// --from-schedule runs a schedule now. The server runs in this process (no kubelet runs its pod).
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backup } from '../../src/api/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { cairn } from '../helpers/cli.ts';
import {
  createCr,
  createServerDeployment,
  getCr,
  installCrds,
  listCrs,
  startServer,
  type RunningServer,
} from '../helpers/server.ts';
import { clusterClient, eventually, testbedEnv, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;
let namespace: string;
let dir: string;
let server: RunningServer;

describe('cairn backup create in server mode', () => {
  before(async () => {
    client = clusterClient('a');
    await installCrds(client);
    namespace = `cairn-cli-${uniqueSuffix()}`;
    await client.json({
      method: 'POST',
      path: '/api/v1/namespaces',
      body: { metadata: { name: namespace } },
    });
    dir = await mkdtemp(join(tmpdir(), 'cairn-cli-'));
    await createCr(client, namespace, 'BackupLocation', 'local', {
      provider: 'fs',
      config: { path: join(dir, 'server') },
      default: true,
    });
    await createServerDeployment(client, namespace);
    server = await startServer({ client: clusterClient('a'), namespace, identity: 'cli' });
  });

  after(async () => {
    await server.stop();
    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${namespace}` });
    await rm(dir, { recursive: true, force: true });
  });

  const env = () => ({
    ...process.env,
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_DATA_HOME: join(dir, 'data'),
  });

  it('creates a Backup resource the server runs, follows it to the end, and prints the outcome', async () => {
    const run = await cairn(
      [
        'backup',
        'create',
        'web',
        '--include-namespaces',
        namespace,
        '--include-resources',
        'deployments',
        '-n',
        namespace,
      ],
      env(),
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      new RegExp(`Backup "web" created in namespace ${namespace}; the server runs it`),
    );
    assert.match(
      run.stdout,
      /^Backup "web" Completed: 2 items, 0 errors, 0 warnings, at storage revision \d+\.$/m,
    );
    assert.match(run.stdout, /^ {2}local: Completed$/m);
    const backup = await getCr<Backup>(client, namespace, 'Backup', 'web');
    assert.deepEqual(backup?.spec.includedResources, ['deployments']);
  });

  it('restores through the server too: a Restore resource, followed to its end', async (t) => {
    const copy = `${namespace}-copy`;
    t.after(() =>
      client.send({ method: 'DELETE', path: `/api/v1/namespaces/${copy}` }).then(() => undefined),
    );
    const run = await cairn(
      [
        'restore',
        'create',
        'web-copy',
        '--from-backup',
        'web',
        '--namespace-mappings',
        `${namespace}:${copy}`,
        '-n',
        namespace,
      ],
      env(),
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      new RegExp(`Restore "web-copy" created in namespace ${namespace}; the server runs it`),
    );
    assert.match(run.stdout, /^Restore "web-copy" Completed: 2 created/m);
    const deployment = await client.send({ path: `/apis/apps/v1/namespaces/${copy}/deployments/cairn` });
    assert.equal(deployment.status, 200, 'the Deployment is restored into the mapped namespace');
    // The server's Restore resources, listed and described.
    const listed = await cairn(['restore', 'get', '-n', namespace], env());
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^web-copy\s+web\s+Completed\s/m);
    const described = await cairn(['restore', 'describe', 'web-copy', '-n', namespace], env());
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /^Phase:\s+Completed$/m);
    assert.match(described.stdout, /^Errors:\s+0$/m);
  });

  it('returns at once with --no-wait, and runs here with --standalone', async () => {
    const quick = await cairn(
      [
        'backup',
        'create',
        'quick',
        '--include-namespaces',
        namespace,
        '-n',
        namespace,
        '--no-wait',
        '-o',
        'json',
      ],
      env(),
    );
    assert.equal(quick.code, 0, quick.stderr);
    assert.equal((JSON.parse(quick.stdout) as Backup).metadata.name, 'quick');
    // As text: how to follow it, with the namespace it is in.
    const quicker = await cairn(
      ['backup', 'create', 'quicker', '--include-namespaces', namespace, '-n', namespace, '--no-wait'],
      env(),
    );
    assert.equal(quicker.code, 0, quicker.stderr);
    assert.match(
      quicker.stdout,
      new RegExp(
        `^Backup "quicker" is (New|InProgress)\\. Run \`kubectl get backups\\.cairn\\.dev quicker -n ${namespace}\` to follow it\\.$`,
        'm',
      ),
    );
    const here = await cairn(
      ['backup', 'create', 'here', '--include-namespaces', namespace, '-n', namespace, '--standalone'],
      env(),
    );
    assert.equal(here.code, 0, here.stderr);
    assert.match(here.stdout, /^ {2}default: Completed$/m, 'the embedded default location, not the server');
    assert.equal(await getCr(client, namespace, 'Backup', 'here'), undefined);
  });

  it('runs a schedule now with --from-schedule: its template, labelled with it', async () => {
    await createCr(client, namespace, 'Schedule', 'nightly', {
      schedule: '0 2 * * *',
      paused: true,
      template: { includedNamespaces: [namespace], includedResources: ['deployments'] },
    });
    const run = await cairn(['backup', 'create', '--from-schedule', 'nightly', '-n', namespace], env());
    assert.equal(run.code, 0, run.stderr);
    const made = (await listCrs<Backup>(client, namespace, 'Backup')).filter(
      (b) => b.metadata.labels?.['cairn.dev/schedule-name'] === 'nightly',
    );
    assert.equal(made.length, 1);
    assert.match(made[0]?.metadata.name ?? '', /^nightly-\d{14}$/);
    assert.equal(made[0]?.status?.phase, 'Completed');
    assert.deepEqual(made[0]?.spec.includedResources, ['deployments']);
  });

  it("prints a backup's log through the server with --server-url, for a token allowed to read it", async () => {
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/serviceaccounts`,
      body: { metadata: { name: 'reader' } },
    });
    await client.json({
      method: 'POST',
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`,
      body: {
        metadata: { name: 'logs' },
        rules: [{ apiGroups: ['cairn.dev'], resources: ['backups/logs'], verbs: ['get'] }],
      },
    });
    await client.json({
      method: 'POST',
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`,
      body: {
        metadata: { name: 'logs' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'logs' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace }],
      },
    });
    const token = await client.json<{ status: { token: string } }>({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/serviceaccounts/reader/token`,
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 600 },
      },
    });
    const admin = new KubeConfig();
    admin.loadFromFile(testbedEnv('KUBECONFIG'));
    const cluster = admin.getCurrentCluster();
    assert.ok(cluster);
    const limited = new KubeConfig();
    limited.loadFromOptions({
      clusters: [cluster],
      users: [{ name: 'reader', token: token.status.token }],
      contexts: [{ name: 'reader', cluster: cluster.name, user: 'reader' }],
      currentContext: 'reader',
    });
    const kubeconfig = join(dir, 'reader.kubeconfig');
    await writeFile(kubeconfig, limited.exportConfig());
    const url = `http://127.0.0.1:${server.port}`;
    const logs = await eventually('the log through the server', async () => {
      const run = await cairn(
        ['backup', 'logs', 'web', '--server-url', url, '-n', namespace, '--kubeconfig', kubeconfig],
        env(),
      );
      return run.code === 0 ? run : undefined;
    });
    assert.match(logs.stdout, /listing every resource at storage revision \d+/);
    // The admin's kubeconfig (a client certificate, no token) sees the server: a DownloadRequest, whose
    // URL's origin --server-url replaces.
    const cert = await cairn(['backup', 'logs', 'web', '--server-url', url, '-n', namespace], env());
    assert.equal(cert.code, 0, cert.stderr);
    assert.match(cert.stdout, /listing every resource at storage revision \d+/);
  });

  it('prints logs and describes --details through DownloadRequests, for a client-certificate user', async () => {
    const user = new KubeConfig();
    user.loadFromFile(testbedEnv('KUBECONFIG'));
    assert.ok(
      user.getCurrentUser()?.certFile || user.getCurrentUser()?.certData,
      'the admin has a certificate',
    );
    assert.equal(user.getCurrentUser()?.token, undefined, 'and no token');
    const backupLog = await cairn(['backup', 'logs', 'web', '-n', namespace], env());
    assert.equal(backupLog.code, 0, backupLog.stderr);
    assert.match(backupLog.stdout, /^\S+ info +listing every resource at storage revision \d+/m);
    const restoreLog = await cairn(['restore', 'logs', 'web-copy', '-n', namespace], env());
    assert.equal(restoreLog.code, 0, restoreLog.stderr);
    assert.match(
      restoreLog.stdout,
      /^\S+ info +done: 2 created, 0 updated, 0 unchanged, 0 skipped, 0 failed$/m,
    );
    const backupDetails = await cairn(['backup', 'describe', 'web', '--details', '-n', namespace], env());
    assert.equal(backupDetails.code, 0, backupDetails.stderr);
    assert.match(backupDetails.stdout, /^Errors: +0$/m);
    assert.match(
      backupDetails.stdout,
      new RegExp(`^Resource list:\n {2}apps/v1/Deployment:\n {4}- ${namespace}/cairn\n`, 'm'),
    );
    const restoreDetails = await cairn(
      ['restore', 'describe', 'web-copy', '--details', '-n', namespace],
      env(),
    );
    assert.equal(restoreDetails.code, 0, restoreDetails.stderr);
    assert.match(restoreDetails.stdout, /^Warnings: +0$/m);
    assert.match(
      restoreDetails.stdout,
      new RegExp(`^Items:\n(.*\n)* {2}apps/v1/Deployment:\n {4}- ${namespace}-copy/cairn\\(created\\)$`, 'm'),
    );
    // Each request was deleted once read.
    assert.deepEqual(await listCrs(client, namespace, 'DownloadRequest'), []);
    // An unknown backup: the server's answer, named.
    const missing = await cairn(['backup', 'logs', 'nope', '-n', namespace], env());
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`no Backup named "nope" in namespace ${namespace}`));
  });

  it("lists the server's Backup resources under Velero's columns with backup get", async () => {
    const listed = await cairn(['backup', 'get', '-n', namespace], env());
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(
      listed.stdout,
      /^NAME\s+STATUS\s+ERRORS\s+WARNINGS\s+CREATED\s+EXPIRES\s+STORAGE LOCATION\s+SELECTOR$/m,
    );
    assert.match(
      listed.stdout,
      /^web\s+Completed\s+0\s+0\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC\s+29d\s+local\s+<none>$/m,
    );
    assert.ok(!/^here\s/m.test(listed.stdout), 'the standalone backup is not a resource');
    const json = await cairn(['backup', 'get', 'web', '-n', namespace, '-o', 'json'], env());
    const items = (JSON.parse(json.stdout) as { items: Backup[] }).items;
    assert.deepEqual(
      items.map((b) => [b.metadata.name, b.status?.phase]),
      [['web', 'Completed']],
    );
    const missing = await cairn(['backup', 'get', 'nope', '-n', namespace], env());
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no backup named "nope" in namespace/);
  });

  it('describes a Backup resource as the server recorded it', async () => {
    const described = await cairn(['backup', 'describe', 'web', '-n', namespace], env());
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /^Phase: {2}Completed$/m);
    assert.match(described.stdout, /^ {2}local: +Completed$/m);
    assert.match(described.stdout, /^Consistency: +snapshot, at storage revision \d+$/m);
    assert.match(described.stdout, /^ {2}local: +AES-256-GCM, key id [0-9a-f]+$/m);
  });

  it('deletes through DeleteBackupRequests, and says why a locked backup stays', async () => {
    const made = await cairn(
      ['backup', 'create', 'doomed', '--include-namespaces', namespace, '-n', namespace],
      env(),
    );
    assert.equal(made.code, 0, made.stderr);
    await createCr(client, namespace, 'Backup', 'kept', {
      includedNamespaces: [namespace],
      deleteLockDays: 3,
    });
    await eventually('the locked backup to finish', async () =>
      (await getCr<Backup>(client, namespace, 'Backup', 'kept'))?.status?.phase === 'Completed'
        ? true
        : undefined,
    );
    const deleted = await cairn(['backup', 'delete', 'doomed', '-n', namespace, '--confirm'], env());
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /^Backup "doomed" deleted \(request doomed-\w+\)\.$/m);
    assert.equal(await getCr(client, namespace, 'Backup', 'doomed'), undefined);
    assert.ok(!existsSync(join(dir, 'server', 'backups', 'doomed')), 'its files are gone');
    const refused = await cairn(['backup', 'delete', 'kept', '-n', namespace, '--confirm'], env());
    assert.equal(refused.code, 1);
    assert.match(
      refused.stdout,
      /Backup "kept" was not deleted .*\n {2}backup "kept" is locked against deletion until/,
    );
    assert.ok(await getCr(client, namespace, 'Backup', 'kept'));
  });

  it('refuses --server where no server is installed, and a FailedValidation backup exits 1 with the reasons', async () => {
    const none = await cairn(['backup', 'create', 'x', '--server', '-n', `nowhere-${uniqueSuffix()}`], env());
    assert.equal(none.code, 1);
    assert.match(none.stderr, /--server: Cairn's server is not installed in namespace nowhere-/);
    const bad = await cairn(
      ['backup', 'create', 'bad', '--storage-location', 'missing', '-n', namespace],
      env(),
    );
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stdout, /Backup "bad" FailedValidation/);
    assert.match(bad.stdout, /invalid: storageLocation: no BackupLocation named "missing"/);
    assert.match(
      bad.stdout,
      new RegExp(
        `^The Backup resource stays \\(FailedValidation\\) as the record of the refusal; nothing was written\\. Remove it with \`kubectl delete backups\\.cairn\\.dev bad -n ${namespace}\` before using the name again\\.$`,
        'm',
      ),
    );
  });
});
