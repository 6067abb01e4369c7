// Secret values never leave the encrypted archive (docs/security.md): a namespace whose Secrets hold known
// random values (string data, binary data, a properties file under a ConfigMap-looking key, a
// `kubectl.kubernetes.io/last-applied-configuration` annotation that repeats a value in plain text, and a
// Deployment whose env refers to one) is backed up, described, dry-run restored over a changed Secret and
// restored, with the real CLI in standalone mode and with the server; every output and every file written
// (as stored, and gunzipped where it can be) is searched for each value in plain text, base64 and base64
// of base64 (test/helpers/secret-scan.ts, unit-tested in test/unit/secret-scan.test.ts). A hit fails the
// test, naming the value, where it was and in which form.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { Backup, Restore } from '../../src/api/index.ts';
import { resourcePath } from '../../src/controller/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { cairn, type CliResult } from '../helpers/cli.ts';
import { recordReliability } from '../helpers/reliability.ts';
import { grantRole, serviceAccountToken } from '../helpers/rbac.ts';
import { describeLeaks, findLeaks, type Leak, type Secret } from '../helpers/secret-scan.ts';
import { createCr, installCrds, startServer } from '../helpers/server.ts';
import { clusterClient, eventually, testbedEnv, uniqueSuffix } from '../helpers/testbed.ts';

const random = (label: string) => `sv-${label}-${randomBytes(16).toString('hex')}`;
const b64 = (text: string) => Buffer.from(text).toString('base64');

/** The values planted; `changed` is what the live Secret holds after the backup (the dry run's diff). */
const values = {
  password: random('password'),
  token: random('token'),
  properties: random('properties'),
  applied: random('applied'),
  changed: random('changed'),
};
const propertiesFile = `db.user=app\ndb.password=${values.properties}\n`;
const secrets: Secret[] = [
  { what: 'Secret db stringData password', value: values.password },
  { what: 'Secret token data token', value: values.token },
  { what: 'Secret app-config application.properties (the value)', value: values.properties },
  { what: 'Secret app-config application.properties (the file)', value: propertiesFile },
  { what: 'Secret applied (and its last-applied-configuration)', value: values.applied },
  { what: 'Secret db after the backup (the live side of a diff)', value: values.changed },
];

let client: KubeClient;
let app: string;
const namespaces: string[] = [];

const post = (path: string, body: unknown) => client.json({ method: 'POST', path, body });

async function createNamespace(name: string): Promise<void> {
  await post('/api/v1/namespaces', { metadata: { name } });
  namespaces.push(name);
}

/** The namespace of Secrets with the planted values, and a Deployment that refers to one. */
async function plant(ns: string): Promise<void> {
  await createNamespace(ns);
  await post(`/api/v1/namespaces/${ns}/secrets`, {
    metadata: { name: 'db' },
    stringData: { password: values.password },
  });
  await post(`/api/v1/namespaces/${ns}/secrets`, {
    metadata: { name: 'token' },
    data: { token: b64(values.token) },
  });
  await post(`/api/v1/namespaces/${ns}/secrets`, {
    metadata: { name: 'app-config' },
    data: { 'application.properties': b64(propertiesFile) },
  });
  const applied = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'applied', namespace: ns } };
  await post(`/api/v1/namespaces/${ns}/secrets`, {
    metadata: {
      name: 'applied',
      annotations: {
        // What `kubectl apply` leaves: the whole manifest, its value in plain text.
        'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({
          ...applied,
          stringData: { apiKey: values.applied },
        }),
      },
    },
    stringData: { apiKey: values.applied },
  });
  await post(`/api/v1/namespaces/${ns}/configmaps`, {
    metadata: { name: 'settings' },
    data: { colour: 'blue' },
  });
  const labels = { app: 'web' };
  await post(`/apis/apps/v1/namespaces/${ns}/deployments`, {
    metadata: { name: 'web', labels },
    spec: {
      replicas: 0,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name: 'web',
              image: 'nginx:1.27',
              env: [{ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }],
            },
          ],
        },
      },
    },
  });
}

/** The live Secret db gets another value, so a restore over it has a difference to show. */
async function changeLiveSecret(ns: string): Promise<void> {
  await client.json({
    method: 'PATCH',
    path: `/api/v1/namespaces/${ns}/secrets/db`,
    contentType: 'application/merge-patch+json',
    body: { data: { password: b64(values.changed) } },
  });
}

/** A restored Secret's value, decoded: the values did travel through the backup. */
async function secretValue(ns: string, name: string, key: string): Promise<string> {
  const secret = await client.json<{ data: Record<string, string> }>({
    path: `/api/v1/namespaces/${ns}/secrets/${name}`,
  });
  return Buffer.from(secret.data[key] ?? '', 'base64').toString('utf8');
}

/** Every file under `dir`, as stored and (when it is gzip) decompressed, searched for the values. */
async function scanFiles(dir: string, label: string): Promise<{ leaks: Leak[]; files: number }> {
  const leaks: Leak[] = [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile());
  for (const entry of files) {
    const path = join(entry.parentPath, entry.name);
    const where = `${label} ${relative(dir, path)}`;
    const bytes = await readFile(path);
    leaks.push(...findLeaks(where, bytes, secrets));
    if (bytes[0] === 0x1f && bytes[1] === 0x8b)
      leaks.push(...findLeaks(`${where} (gunzipped)`, gunzipSync(bytes), secrets));
  }
  return { leaks, files: files.length };
}

before(async () => {
  client = clusterClient('a');
  app = `secrets-${uniqueSuffix()}`;
  await plant(app);
});

after(async () => {
  for (const ns of namespaces) await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
});

describe('secret values never leak', () => {
  it('through the CLI in standalone mode: outputs, logs, describe, dry run, and the files of the location', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'cairn-secrets-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    const env = {
      ...process.env,
      KUBECONFIG: testbedEnv('KUBECONFIG'),
      XDG_CONFIG_HOME: join(root, 'config'),
      XDG_DATA_HOME: join(root, 'data'),
    };
    const outputs: { where: string; result: CliResult }[] = [];
    const run = async (...args: string[]) => {
      const result = await cairn(args, env);
      outputs.push({ where: `cairn ${args.join(' ')}`, result });
      assert.equal(result.code, 0, `cairn ${args.join(' ')}: ${result.stderr}${result.stdout}`);
      return result;
    };
    const copy = `${app}-copy`;
    namespaces.push(copy);

    await run('backup', 'create', 'leaks', '--include-namespaces', app);
    await run('backup', 'create', 'leaks-json', '--include-namespaces', app, '-o', 'json');
    await changeLiveSecret(app);
    for (const name of ['leaks', 'leaks-json']) {
      await run('backup', 'describe', name, '--details');
      await run('backup', 'describe', name, '--details', '-o', 'yaml');
      await run('backup', 'logs', name);
      await run('backup', 'get', name, '-o', 'yaml');
    }
    // A restore drill compares every restored object with the archive; its record is kept in the location.
    await run('backup', 'verify', 'leaks', '--quick');
    await run('backup', 'verify', 'leaks', '-o', 'json');
    // Over the changed Secret, updating: the plan holds each difference.
    const policy = ['--existing-resource-policy', 'update', '--include-namespaces', app];
    const dry = await run('restore', 'create', 'dry', '--from-backup', 'leaks', ...policy, '--dry-run');
    assert.match(dry.stdout, /update\s+secrets\s/, `the dry run shows the Secret's update: ${dry.stdout}`);
    await run('restore', 'create', 'dry', '--from-backup', 'leaks', ...policy, '--dry-run', '-o', 'json');
    await run('restore', 'create', 'dry', '--from-backup', 'leaks', ...policy, '--dry-run', '-o', 'yaml');
    await run(
      'restore',
      'create',
      'copy',
      '--from-backup',
      'leaks',
      '--namespace-mappings',
      `${app}:${copy}`,
    );
    await run('restore', 'create', 'over', '--from-backup', 'leaks', ...policy);
    for (const name of ['copy', 'over']) {
      await run('restore', 'describe', name, '--details');
      await run('restore', 'describe', name, '--details', '-o', 'json');
      await run('restore', 'logs', name);
      await run('restore', 'get', name, '-o', 'yaml');
    }
    assert.equal(await secretValue(copy, 'db', 'password'), values.password, 'the backup held the value');
    assert.equal(await secretValue(app, 'db', 'password'), values.password, 'the update restored it');

    const leaks = outputs.flatMap(({ where, result }) => [
      ...findLeaks(`${where} (stdout)`, result.stdout, secrets),
      ...findLeaks(`${where} (stderr)`, result.stderr, secrets),
    ]);
    const scanned = await scanFiles(root, 'file');
    leaks.push(...scanned.leaks);
    assert.ok(scanned.files >= 10, `the location holds the backups' files: ${scanned.files}`);
    assert.equal(leaks.length, 0, `secret values leaked:\n${describeLeaks(leaks)}`);
    recordReliability({
      section: 'Security',
      subject: 'secret values, standalone CLI',
      tried:
        'backup, describe --details, logs, get -o yaml, verify, restore --dry-run over a changed Secret, restore, ' +
        'restore describe and logs; every output and every file of the location and configuration',
      cases: outputs.length + scanned.files,
      outcome: 'no value in plain, base64 or base64(base64) form',
      lost: 'nothing',
    });
  });

  it('through the server: its log, status, events, metrics, the dashboard API, and the files of the location', async (t) => {
    const namespace = `cairn-${uniqueSuffix()}`;
    const copy = `${app}-server`;
    await installCrds(client);
    await createNamespace(namespace);
    namespaces.push(copy);
    const dir = await mkdtemp(join(tmpdir(), 'cairn-secrets-server-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await createCr(client, namespace, 'BackupLocation', 'local', {
      provider: 'fs',
      config: { path: join(dir, 'local') },
      default: true,
    });
    const token = await serviceAccountToken(client, { name: 'operator', namespace }, [
      {
        apiGroups: ['cairn.dev'],
        resources: ['backups', 'backups/logs', 'restores', 'schedules', 'backuplocations'],
        verbs: ['get', 'list', 'watch', 'create'],
      },
    ]);
    // A restore writes only what its creator may (docs/security.md, "Tenant-safe restore").
    await grantRole(client, app, 'restorer', { name: 'operator', namespace }, [
      { apiGroups: ['', 'apps'], resources: ['*'], verbs: ['get', 'list', 'create', 'update', 'patch'] },
    ]);
    const server = await startServer({ client: clusterClient('a'), namespace, identity: 'secrets' });
    t.after(() => server.stop());

    const finished = async <T extends Backup | Restore>(kind: 'Backup' | 'Restore', name: string) =>
      eventually(`${kind} ${name} to finish`, async () => {
        const object = await client.json<T>({ path: resourcePath(kind, namespace, name) });
        const phase = object.status?.phase;
        return phase && !['New', 'InProgress'].includes(phase) ? object : undefined;
      });
    await createCr(client, namespace, 'Backup', 'leaks', { includedNamespaces: [app] });
    const backup = await finished<Backup>('Backup', 'leaks');
    assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status));
    await changeLiveSecret(app);
    await createCr(client, namespace, 'Restore', 'dry', {
      backupName: 'leaks',
      includedNamespaces: [app],
      existingResourcePolicy: 'update',
      dryRun: true,
    });
    await createCr(client, namespace, 'Restore', 'copy', {
      backupName: 'leaks',
      namespaceMapping: { [app]: copy },
    });
    const restores = [await finished<Restore>('Restore', 'dry'), await finished<Restore>('Restore', 'copy')];
    assert.equal(restores[1]?.status?.phase, 'Completed', JSON.stringify(restores[1]?.status));
    assert.equal(await secretValue(copy, 'db', 'password'), values.password, 'the backup held the value');

    const outputs: { where: string; text: string }[] = [
      { where: 'the server log', text: server.logs.join('\n') },
      { where: 'Backup leaks', text: JSON.stringify(backup) },
      ...restores.map((r) => ({ where: `Restore ${r.metadata.name}`, text: JSON.stringify(r) })),
      { where: '/metrics', text: (await server.get('/metrics')).text },
    ];
    for (const ns of [namespace, app, copy])
      outputs.push({
        where: `the Events of namespace ${ns}`,
        text: JSON.stringify(await client.json({ path: `/api/v1/namespaces/${ns}/events` })),
      });
    const dashboard = async (method: string, path: string, body?: unknown) => {
      const res = await eventually(`the dashboard to answer ${method} ${path}`, async () => {
        const answer = await fetch(`http://127.0.0.1:${server.port}${path}`, {
          method,
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        // RBAC reaches the authorizer a moment after the binding is made.
        return answer.status === 403 || answer.status === 503 ? undefined : answer;
      });
      const text = await res.text();
      assert.equal(res.status, 200, `${method} ${path}: ${text}`);
      outputs.push({ where: `the dashboard's ${method} ${path}`, text });
      return text;
    };
    await dashboard('GET', '/ui/api/overview');
    await dashboard('GET', '/ui/api/backups');
    await dashboard('GET', '/ui/api/backups/leaks');
    await dashboard('GET', '/ui/api/backups/leaks/logs');
    await dashboard('GET', '/ui/api/restores/copy');
    // The grant in the app's namespace reaches the authorizer a moment after it is made.
    await eventually('the preview to show the Secret updated', async () => {
      const preview = await dashboard('POST', '/ui/api/restores/preview', {
        backupName: 'leaks',
        includedNamespaces: [app],
        namespacedConflictPolicy: 'update-on-conflict',
      });
      const { entries } = JSON.parse(preview) as {
        entries: { groupResource: string; name: string; outcome: string }[];
      };
      const db = entries.find((e) => e.groupResource === 'secrets' && e.name === 'db');
      return db?.outcome === 'updated' ? true : undefined;
    });

    const leaks = outputs.flatMap(({ where, text }) => findLeaks(where, text, secrets));
    const scanned = await scanFiles(dir, 'location file');
    leaks.push(...scanned.leaks);
    assert.ok(scanned.files >= 5, `the location holds the backup's files: ${scanned.files}`);
    assert.equal(leaks.length, 0, `secret values leaked:\n${describeLeaks(leaks)}`);
    recordReliability({
      section: 'Security',
      subject: 'secret values, server mode',
      tried:
        'a backup, a dry-run restore over a changed Secret and a restore by the server; its log, the ' +
        'Backup and Restore status, Events, /metrics, the dashboard API (backup, log, preview) and the location',
      cases: outputs.length + scanned.files,
      outcome: 'no value in plain, base64 or base64(base64) form',
      lost: 'nothing',
    });
  });
});
