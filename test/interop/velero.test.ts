// Cairn beside the real Velero (v1.17.2 and v1.18.1 with the AWS plugin, built by the testbed from the Go module
// proxy), on the same MinIO: each reads and restores what the other wrote, across the testbed's two clusters.
// Velero runs as a local `velero server` (testbed/lib/velero.ts); one runs at a time, so the tests of this
// file run one after the other.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { KubeClient } from '../../src/kube/index.ts';
import { startVelero, veleroFinished, veleroVersions, type VeleroServer } from '../../testbed/lib/velero.ts';
import { cairn, type CliResult } from '../helpers/cli.ts';
import {
  clusterClient,
  eventually,
  minioOptions,
  testbedEnv,
  testNamespace,
  uniqueSuffix,
} from '../helpers/testbed.ts';

type Env = Record<string, string | undefined>;

let a: KubeClient;
let b: KubeClient;
let work: string;
let s3: S3Client;
before(async () => {
  a = clusterClient('a');
  b = clusterClient('b');
  work = await mkdtemp(join(tmpdir(), 'cairn-interop-'));
  s3 = new S3Client(minioOptions());
});
after(async () => {
  s3.destroy();
  await rm(work, { recursive: true, force: true });
});

async function bucket(): Promise<string> {
  const name = `interop-${uniqueSuffix()}`;
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

/** Velero's server on a cluster and bucket, stopped when the test ends. */
async function velero(
  t: TestContext,
  version: string,
  cluster: 'a' | 'b',
  bucketName: string,
): Promise<VeleroServer> {
  const server = await startVelero({
    veleroDir: testbedEnv('CAIRN_VELERO_DIR'),
    version,
    kubeconfig: testbedEnv(cluster === 'a' ? 'KUBECONFIG' : 'KUBECONFIG_B'),
    workDir: work,
    bucket: bucketName,
    s3Url: testbedEnv('CAIRN_S3_ENDPOINT'),
    accessKeyId: testbedEnv('AWS_ACCESS_KEY_ID'),
    secretAccessKey: testbedEnv('AWS_SECRET_ACCESS_KEY'),
    backupSyncPeriod: '2s',
  });
  t.after(() => server.stop());
  return server;
}

/** Fails, with the errors of its log, unless Velero's backup `name` ended Completed. */
async function veleroCompleted(server: VeleroServer, name: string): Promise<void> {
  const made = await veleroFinished(server, 'backups', name);
  if (made.status?.phase === 'Completed') return;
  const logs = await server.cli(['backup', 'logs', name]).catch((error: unknown) => String(error));
  const errors = logs
    .split('\n')
    .filter((line) => /level=error|"level":"error"/.test(line))
    .slice(0, 10);
  assert.fail(`velero backup ${name}: ${JSON.stringify(made.status)}\n${errors.join('\n')}`);
}

/** Cairn with a config of its own, against cluster a or b, with a plaintext location on the bucket. */
async function cairnOn(
  t: TestContext,
  cluster: 'a' | 'b',
  bucketName: string,
  accessMode: 'ReadWrite' | 'ReadOnly',
): Promise<(...args: string[]) => Promise<CliResult>> {
  const root = await mkdtemp(join(work, 'cairn-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const env: Env = {
    ...process.env,
    KUBECONFIG: testbedEnv(cluster === 'a' ? 'KUBECONFIG' : 'KUBECONFIG_B'),
    XDG_CONFIG_HOME: join(root, 'config'),
    XDG_DATA_HOME: join(root, 'data'),
  };
  const run = (...args: string[]) => cairn(args, env);
  const credentials = join(root, 'minio-credentials');
  await writeFile(
    credentials,
    `[default]\naws_access_key_id=${testbedEnv('AWS_ACCESS_KEY_ID')}\n` +
      `aws_secret_access_key=${testbedEnv('AWS_SECRET_ACCESS_KEY')}\n`,
  );
  const created = await run(
    'location',
    'create',
    'velero',
    '--provider',
    'aws',
    '--bucket',
    bucketName,
    '--credentials-file',
    credentials,
    '--config',
    `region=minio,s3Url=${testbedEnv('CAIRN_S3_ENDPOINT')},s3ForcePathStyle=true`,
    '--plaintext',
    '--access-mode',
    accessMode,
    '--default',
  );
  assert.equal(created.code, 0, created.stderr);
  return run;
}

/**
 * A namespace of an online shop in cluster a: ConfigMaps, a Secret, a Service, a Deployment (no replicas:
 * no image is pulled) and a ServiceAccount, labelled so that selectors pick different sets.
 */
async function shop(t: TestContext): Promise<string> {
  const ns = await testNamespace(t, a, 'interop');
  const post = (path: string, body: object) =>
    a.json({ method: 'POST', path: `/api${path.startsWith('/apps') ? 's' : ''}${path}`, body });
  const labels = (app: string) => ({ labels: { app } });
  await post(`/v1/namespaces/${ns}/configmaps`, {
    metadata: { name: 'settings', ...labels('shop') },
    data: { color: 'blue', 'config.json': '{"currency":"EUR"}' },
  });
  await post(`/v1/namespaces/${ns}/configmaps`, {
    metadata: { name: 'blog-theme', ...labels('blog') },
    data: { theme: 'dark' },
  });
  await post(`/v1/namespaces/${ns}/secrets`, {
    metadata: { name: 'db', ...labels('shop') },
    stringData: { password: 'hunter2' },
  });
  await post(`/v1/namespaces/${ns}/services`, {
    metadata: { name: 'web', ...labels('shop') },
    spec: { selector: { app: 'shop' }, ports: [{ port: 80, targetPort: 8080 }] },
  });
  await post(`/apps/v1/namespaces/${ns}/deployments`, {
    metadata: { name: 'web', ...labels('shop') },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: 'shop' } },
      template: {
        metadata: { labels: { app: 'shop' } },
        spec: { containers: [{ name: 'web', image: 'registry.k8s.io/pause:3.10' }] },
      },
    },
  });
  await post(`/v1/namespaces/${ns}/serviceaccounts`, {
    metadata: { name: 'worker', labels: { tier: 'backend' } },
  });
  return ns;
}

/** The shop's objects found in a namespace of a cluster, as `kind/name`, with the data that must survive. */
async function shopObjects(client: KubeClient, ns: string): Promise<Record<string, unknown>> {
  const found: Record<string, unknown> = {};
  const list = async (path: string) =>
    (await client.json<{ items: { metadata: { name: string }; data?: unknown }[] }>({ method: 'GET', path }))
      .items;
  for (const item of await list(`/api/v1/namespaces/${ns}/configmaps`))
    if (item.metadata.name !== 'kube-root-ca.crt') found[`configmap/${item.metadata.name}`] = item.data;
  for (const item of await list(`/api/v1/namespaces/${ns}/secrets`))
    found[`secret/${item.metadata.name}`] = Object.fromEntries(
      Object.entries((item.data ?? {}) as Record<string, string>).map(([k, v]) => [
        k,
        Buffer.from(v, 'base64').toString(),
      ]),
    );
  for (const item of await list(`/api/v1/namespaces/${ns}/services`))
    found[`service/${item.metadata.name}`] = true;
  for (const item of await list(`/apis/apps/v1/namespaces/${ns}/deployments`))
    found[`deployment/${item.metadata.name}`] = true;
  for (const item of await list(`/api/v1/namespaces/${ns}/serviceaccounts`))
    if (item.metadata.name !== 'default') found[`serviceaccount/${item.metadata.name}`] = true;
  return found;
}

const SETTINGS = { color: 'blue', 'config.json': '{"currency":"EUR"}' };
const EVERYTHING = {
  'configmap/settings': SETTINGS,
  'configmap/blog-theme': { theme: 'dark' },
  'secret/db': { password: 'hunter2' },
  'service/web': true,
  'deployment/web': true,
  'serviceaccount/worker': true,
};

/** A namespace of cluster b to restore into, deleted when the test ends. */
function targetIn(t: TestContext, client: KubeClient): string {
  const name = `interop-to-${uniqueSuffix()}`;
  t.after(() => client.send({ method: 'DELETE', path: `/api/v1/namespaces/${name}` }));
  return name;
}

const veleroDir = process.env.CAIRN_VELERO_DIR;
const versions = veleroDir ? veleroVersions(veleroDir) : [];
if (versions.length === 0)
  it('finds the Velero the testbed built', () => {
    assert.fail(
      `no velero-<version> in CAIRN_VELERO_DIR (${testbedEnv('CAIRN_VELERO_DIR')}): run testbed/scripts/build.sh velero`,
    );
  });
for (const version of versions)
  describe(`Cairn beside the real Velero ${version}`, { concurrency: false }, () => {
    it('Velero backs up a namespace in cluster a; Cairn lists, describes and restores it into cluster b', async (t) => {
      const ns = await shop(t);
      const store = await bucket();
      const name = `vb-${uniqueSuffix()}`;
      const server = await velero(t, version, 'a', store);
      await server.cli(['backup', 'create', name, '--include-namespaces', ns, '--wait'], 300_000);
      await veleroCompleted(server, name);
      // Two more with Velero's selectors, which it stores as LabelSelector objects.
      const selected = `vs-${uniqueSuffix()}`;
      await server.cli(
        ['backup', 'create', selected, '--include-namespaces', ns, '--selector', 'app in (shop)', '--wait'],
        300_000,
      );
      const ored = `vo-${uniqueSuffix()}`;
      await server.cli(
        [
          'backup',
          'create',
          ored,
          '--include-namespaces',
          ns,
          '--or-selector',
          'app=blog or tier=backend',
          '--wait',
        ],
        300_000,
      );
      for (const other of [selected, ored]) await veleroCompleted(server, other);
      await server.stop();

      const run = await cairnOn(t, 'b', store, 'ReadOnly');
      const get = await run('backup', 'get', name);
      assert.equal(get.code, 0, get.stderr);
      assert.match(get.stdout, new RegExp(`^${name}\\s+Completed\\s`, 'm'));
      const described = await run('backup', 'describe', name, '--details');
      assert.equal(described.code, 0, described.stderr);
      assert.match(described.stdout, /^Phase:\s+Completed$/m);
      assert.match(described.stdout, new RegExp(`^\\s+Included:\\s+${ns}$`, 'm'));
      assert.match(described.stdout, /v1\/ConfigMap:/);
      assert.match(
        (await run('backup', 'describe', selected)).stdout,
        /^Label selector:\s+app in \(shop\)$/m,
      );
      assert.match(
        (await run('backup', 'describe', ored)).stdout,
        /^Or label selectors:\s+app=blog or tier=backend$/m,
      );

      // Cairn restores a backup into a new namespace of cluster b, and what is there is returned.
      const restoreIntoB = async (backup: string) => {
        const target = targetIn(t, b);
        const restored = await run(
          'restore',
          'create',
          '--from-backup',
          backup,
          '--namespace-mappings',
          `${ns}:${target}`,
        );
        assert.equal(restored.code, 0, restored.stderr + restored.stdout);
        return shopObjects(b, target);
      };
      assert.deepEqual(await restoreIntoB(name), EVERYTHING);
      assert.deepEqual(await restoreIntoB(ored), {
        'configmap/blog-theme': { theme: 'dark' },
        'serviceaccount/worker': true,
      });
    });

    it('Cairn backs up with selectors and every selection flag into a plaintext location; Velero syncs, describes and restores each into cluster b', async (t) => {
      const ns = await shop(t);
      const store = await bucket();
      const run = await cairnOn(t, 'a', store, 'ReadWrite');
      const sfx = uniqueSuffix();
      const backups = [
        {
          name: `cs-${sfx}`,
          flags: ['--include-namespaces', ns, '--selector', 'app=shop'],
          selector: 'app=shop',
          expected: {
            'configmap/settings': SETTINGS,
            'secret/db': { password: 'hunter2' },
            'service/web': true,
            'deployment/web': true,
          },
        },
        {
          name: `co-${sfx}`,
          flags: ['--include-namespaces', ns, '--or-selector', 'app=blog', '--or-selector', 'tier=backend'],
          selector: 'app=blog',
          expected: { 'configmap/blog-theme': { theme: 'dark' }, 'serviceaccount/worker': true },
        },
        {
          name: `cf-${sfx}`,
          flags: [
            '--include-namespaces',
            `${ns},interop-none-*`,
            '--exclude-namespaces',
            'interop-none-*',
            '--include-resources',
            'configmaps,deployments.apps,secrets',
            '--exclude-resources',
            'secrets',
            '--include-cluster-resources=false',
            '--selector',
            'app in (shop,blog)',
          ],
          selector: 'app in (blog,shop)',
          expected: {
            'configmap/settings': SETTINGS,
            'configmap/blog-theme': { theme: 'dark' },
            'deployment/web': true,
          },
        },
      ];
      for (const backup of backups) {
        const made = await run('backup', 'create', backup.name, ...backup.flags);
        assert.equal(made.code, 0, `${backup.name}: ${made.stderr}`);
      }

      const server = await velero(t, version, 'b', store);
      for (const backup of backups) {
        const synced = await eventually(
          `Velero to sync ${backup.name}`,
          () => veleroFinished(server, 'backups', backup.name, 1000).catch(() => undefined),
          180_000,
        );
        assert.equal(synced.status?.phase, 'Completed', `${backup.name}: ${JSON.stringify(synced.status)}`);
        const described = await server.cli([
          'backup',
          'describe',
          backup.name,
          '--details',
          '--colorized=false',
        ]);
        assert.match(described, /^Phase:\s+Completed/m, described);
        assert.match(described, new RegExp(`Included:\\s+${ns}`), described);
        assert.ok(described.includes(backup.selector), `${backup.name}'s selector in:\n${described}`);

        const target = targetIn(t, b);
        const restore = `r-${backup.name}`;
        await server.cli(
          [
            'restore',
            'create',
            restore,
            '--from-backup',
            backup.name,
            '--namespace-mappings',
            `${ns}:${target}`,
            '--wait',
          ],
          300_000,
        );
        const finished = await veleroFinished(server, 'restores', restore);
        assert.equal(finished.status?.phase, 'Completed', `${restore}: ${JSON.stringify(finished.status)}`);
        assert.deepEqual(await shopObjects(b, target), backup.expected, backup.name);
      }
    });
  });
