// `cairn install`, `cairn server` and `cairn uninstall` as a user runs them, against the testbed. There is
// no kubelet, so the installed Deployment never runs a pod: the server runs as a local process with the
// same namespace, as it would in the pod.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { Backup, BackupLocation } from '../../src/api/index.ts';
import type { KubeClient, KubeObject } from '../../src/kube/index.ts';
import { cairn, cairnBin, repoRoot } from '../helpers/cli.ts';
import { createCr, getCr } from '../helpers/server.ts';
import { clusterClient, eventually, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;
let namespace: string;
let dir: string;

describe('cairn install, server and uninstall', () => {
  before(async () => {
    client = clusterClient('a');
    namespace = `cairn-e2e-${uniqueSuffix()}`;
    dir = await mkdtemp(join(tmpdir(), 'cairn-install-'));
  });

  after(async () => {
    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${namespace}` });
    await rm(dir, { recursive: true, force: true });
  });

  it('prints the manifests with --dry-run, credentials redacted, and refuses bad location flags', async () => {
    const secretFile = join(dir, 'credentials');
    await writeFile(
      secretFile,
      '[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = s3cr3t-value\n',
    );
    const printed = await cairn([
      'install',
      '--dry-run',
      '--namespace',
      namespace,
      '--location-provider',
      'aws',
      '--bucket',
      'backups',
      '--location-config',
      'region=eu-west-1',
      '--secret-file',
      secretFile,
    ]);
    assert.equal(printed.code, 0, printed.stderr);
    const objects = parseAllDocuments(printed.stdout).map((d) => d.toJS() as KubeObject);
    assert.deepEqual(
      objects.map((o) => o.kind),
      [
        'Namespace',
        ...Array<string>(8).fill('CustomResourceDefinition'),
        // Tenant-safe restore: the API server vouches for a Restore's creator.
        'ValidatingAdmissionPolicy',
        'ValidatingAdmissionPolicyBinding',
        'ServiceAccount', // the server
        'ServiceAccount', // the node agent
        // src/controller/rbac.ts: the server's reads, its restores' writes, its namespace; the node agent's.
        'ClusterRole',
        'ClusterRoleBinding',
        'ClusterRole',
        'ClusterRoleBinding',
        'Role',
        'RoleBinding',
        'ClusterRole',
        'ClusterRoleBinding',
        'Role',
        'RoleBinding',
        'Secret',
        'BackupLocation',
        'Deployment',
        'Service',
        // The server's own certificate (cairn-server-tls) and its published CA (cairn-ca).
        'Role',
        'RoleBinding',
        'Role',
        'RoleBinding',
        'DaemonSet',
      ],
    );
    assert.ok(!printed.stdout.includes('s3cr3t-value'), 'the credentials are not printed');
    assert.match(printed.stdout, /<redacted: the content of --secret-file>/);
    const location = objects.find((o) => o.kind === 'BackupLocation') as unknown as BackupLocation;
    assert.equal(location.spec.provider, 's3', "Velero's provider name is converted");
    assert.deepEqual(location.spec.credential, { name: 'cairn-credentials', key: 'cloud' });
    assert.ok(
      objects.every(
        (o) =>
          o.kind === 'Namespace' ||
          o.kind.startsWith('Cluster') ||
          o.kind === 'CustomResourceDefinition' ||
          o.kind.startsWith('ValidatingAdmissionPolicy') ||
          o.metadata.namespace === namespace,
      ),
      'every namespaced object is in the install namespace',
    );

    const bad = await cairn(['install', '--dry-run', '--location-provider', 's3', '--bucket', 'b']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--location-config region "": an s3 location needs a region/);
    assert.equal(bad.stdout, '');
  });

  it('applies them, then the server (as a process) runs a Backup, and stops on SIGTERM releasing its lease', async (t) => {
    const location = join(dir, 'location');
    const installed = await cairn([
      'install',
      '--namespace',
      namespace,
      '--location-provider',
      'fs',
      '--location-config',
      `path=${location}`,
    ]);
    assert.equal(installed.code, 0, installed.stderr);
    assert.match(installed.stderr, /applied Deployment .*\/cairn/);
    const deployment = await client.json<
      KubeObject & { spec: { template: { spec: { serviceAccountName: string } } } }
    >({
      path: `/apis/apps/v1/namespaces/${namespace}/deployments/cairn`,
    });
    assert.equal(deployment.spec.template.spec.serviceAccountName, 'cairn');
    // The fs location's directory is the node's, mounted at the same path.
    const podSpec = deployment.spec.template.spec as unknown as {
      volumes: { name: string; hostPath?: { path: string } }[];
      containers: { volumeMounts: { name: string; mountPath: string }[] }[];
    };
    assert.equal(podSpec.volumes.find((v) => v.name === 'location')?.hostPath?.path, location);
    assert.equal(podSpec.containers[0]?.volumeMounts.find((m) => m.name === 'location')?.mountPath, location);
    assert.ok(await getCr<BackupLocation>(client, namespace, 'BackupLocation', 'default'));
    // Applying again changes nothing and succeeds (server-side apply).
    assert.equal((await cairn(['install', '--namespace', namespace])).code, 0);

    const server = spawn(
      process.execPath,
      // Plain HTTP on loopback: the certificate the server makes is server-tls.test.ts's subject.
      [
        cairnBin,
        'server',
        '--namespace',
        namespace,
        '--metrics-address',
        '127.0.0.1:0',
        '--insecure-http',
        '--identity',
        'e2e',
      ],
      { cwd: repoRoot, env: process.env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    server.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => server.on('exit', (code) => resolve(code)));
    t.after(() => server.kill('SIGKILL'));
    const port = await eventually('the server to listen', () =>
      Promise.resolve(/listening on 127\.0\.0\.1:(\d+)/.exec(stderr)?.[1]),
    );
    await eventually('the server to lead', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      return res.status === 200 ? true : undefined;
    });
    await createCr(client, namespace, 'Backup', 'first', {
      includedNamespaces: [namespace],
      includedResources: ['serviceaccounts'],
    });
    const backup = await eventually('the backup to finish', async () => {
      const b = await getCr<Backup>(client, namespace, 'Backup', 'first');
      return b?.status?.phase && b.status.phase !== 'InProgress' ? b : undefined;
    });
    assert.equal(backup.status?.phase, 'Completed', stderr);
    assert.ok(existsSync(join(location, 'backups', 'first', 'velero-backup.json')));
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^cairn_backup_success_total\{schedule=""\} 1$/m);

    server.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /SIGTERM: stopping/);
    const lease = await client.json<KubeObject & { spec: { holderIdentity?: string } }>({
      path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/cairn-server`,
    });
    assert.ok(!lease.spec.holderIdentity, 'the lease is released');
  });

  it('uninstalls, leaving the stored backup alone', async () => {
    const refused = await cairn(['uninstall', '--namespace', namespace]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--confirm/);
    // The namespace holds the location's key (made by the first backup): refused, nothing deleted.
    const keys = await cairn(['uninstall', '--namespace', namespace, '--keep-crds', '--confirm']);
    assert.equal(keys.code, 1);
    assert.match(
      keys.stderr,
      /holds the backups' encryption keys \(Secrets cairn-key-default\).*--delete-keys\. Nothing was deleted/,
    );
    assert.equal(
      (await client.send({ path: `/apis/apps/v1/namespaces/${namespace}/deployments/cairn` })).status,
      200,
    );
    // The CRDs stay here: other tests of this run use them at the same time.
    const done = await cairn([
      'uninstall',
      '--namespace',
      namespace,
      '--keep-crds',
      '--confirm',
      '--delete-keys',
    ]);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stderr, /deleted Deployment cairn/);
    assert.match(done.stderr, /deleted ClusterRole cairn-server/);
    const ns = await client.send({ path: `/api/v1/namespaces/${namespace}` });
    const phase =
      ns.status === 404
        ? 'gone'
        : (JSON.parse(ns.body.toString()) as { status?: { phase?: string } }).status?.phase;
    assert.ok(phase === 'gone' || phase === 'Terminating', `namespace ${phase}`);
    assert.ok(
      existsSync(join(dir, 'location', 'backups', 'first', 'velero-backup.json')),
      'the backup is still stored',
    );
  });
});
