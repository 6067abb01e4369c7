// The server (runServer, as `cairn server` runs it) against the testbed: Cairn's CRDs installed, a
// BackupLocation on a local directory, Backup resources reconciled into stored backups; validation,
// ReadOnly locations, a location kept to the key it was written with, the schema's refusals, metrics, and a
// backup left InProgress by a stopped server.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backup, Restore } from '../../src/api/index.ts';
import {
  ORPHAN_REASON,
  RESTORE_ORPHAN_REASON,
  keySecretName,
  patchStatus,
  resourcePath,
} from '../../src/controller/index.ts';
import { KubeApiError, type KubeClient, type KubeObject } from '../../src/kube/index.ts';
import { BackupStore, FilesystemStore, generateLocationKey, keyId } from '../../src/storage/index.ts';
import { createCr, installCrds, metricValue, startServer, type RunningServer } from '../helpers/server.ts';
import { clusterClient, eventually, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;
let namespace: string;
let appNamespace: string;
let dir: string;

const startServerAt = (identity: string) => startServer({ client: clusterClient('a'), namespace, identity });

const http = (server: RunningServer, path: string) => server.get(path);

const createBackup = (name: string, spec: Record<string, unknown>) =>
  createCr(client, namespace, 'Backup', name, spec);

const getBackup = (name: string) => client.json<Backup>({ path: resourcePath('Backup', namespace, name) });

async function finished(name: string): Promise<Backup> {
  return eventually(`backup ${name} to finish`, async () => {
    const backup = await getBackup(name);
    const phase = backup.status?.phase;
    return phase && !['New', 'InProgress'].includes(phase) ? backup : undefined;
  });
}

const createLocation = (name: string, spec: Record<string, unknown>) =>
  createCr(client, namespace, 'BackupLocation', name, spec);

describe('cairn server: backups', () => {
  let server: RunningServer;

  before(async () => {
    client = clusterClient('a');
    await installCrds(client);
    namespace = `cairn-${uniqueSuffix()}`;
    appNamespace = `app-${uniqueSuffix()}`;
    for (const ns of [namespace, appNamespace])
      await client.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: ns } } });
    for (const name of ['settings', 'flags'])
      await client.json({
        method: 'POST',
        path: `/api/v1/namespaces/${appNamespace}/configmaps`,
        body: { metadata: { name }, data: { k: name } },
      });
    dir = await mkdtemp(join(tmpdir(), 'cairn-server-'));
    await createLocation('local', { provider: 'fs', config: { path: join(dir, 'local') }, default: true });
    await createLocation('archive', {
      provider: 'fs',
      config: { path: join(dir, 'archive') },
      accessMode: 'ReadOnly',
    });
    server = await startServerAt('first');
  });

  after(async () => {
    await server.stop();
    for (const ns of [namespace, appNamespace])
      await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
    await rm(dir, { recursive: true, force: true });
  });

  it('leads, and says so on /readyz; /healthz answers', async () => {
    await eventually('the server to lead', async () =>
      (await http(server, '/readyz')).status === 200 ? true : undefined,
    );
    assert.equal((await http(server, '/healthz')).status, 200);
    const lease = await client.json<KubeObject & { spec: { holderIdentity?: string } }>({
      path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/cairn-server`,
    });
    assert.equal(lease.spec.holderIdentity, 'first');
  });

  it('runs a Backup resource to Completed in the default location, with its key made in a Secret', async () => {
    await createBackup('shop', { includedNamespaces: [appNamespace] });
    const backup = await finished('shop');
    assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status));
    // Two ConfigMaps, the namespace's kube-root-ca.crt, its ServiceAccount and the Namespace itself.
    assert.ok((backup.status?.progress?.itemsBackedUp ?? 0) >= 3, JSON.stringify(backup.status?.progress));
    assert.ok(backup.status?.startTimestamp && backup.status.completionTimestamp && backup.status.expiration);
    assert.equal(backup.status?.consistency?.mode, 'snapshot');
    assert.ok(backup.status?.consistency?.revision, 'the storage revision is recorded');
    assert.deepEqual(
      backup.status?.locations?.map((l) => [l.name, l.phase]),
      [['local', 'Completed']],
    );
    const stored = backup.status?.locations?.[0];
    assert.ok(
      (stored?.archiveBytes ?? 0) > 0 && (stored?.bytes ?? 0) > (stored?.archiveBytes ?? 0),
      JSON.stringify(stored),
    );
    assert.ok(
      existsSync(join(dir, 'local', 'backups', 'shop', 'velero-backup.json')),
      'the metadata is stored last',
    );
    assert.ok(existsSync(join(dir, 'local', 'backups', 'shop', 'shop.tar.gz')));
    const secret = await client.json<KubeObject & { data: Record<string, string> }>({
      path: `/api/v1/namespaces/${namespace}/secrets/${keySecretName('local')}`,
    });
    assert.equal(
      Buffer.from(
        Buffer.from(secret.data.key ?? '', 'base64')
          .toString()
          .trim(),
        'base64',
      ).length,
      32,
    );
    assert.ok(server.logs.some((l) => l.includes('made an encryption key for location "local"')));
    assert.ok(!server.logs.some((l) => l.includes(secret.data.key ?? 'never')), 'the key is never logged');
  });

  it("serves a backup's logs and results to a token allowed to get backups/logs, and nobody else", async () => {
    const tokenOf = async (account: string) => {
      await client.json({
        method: 'POST',
        path: `/api/v1/namespaces/${namespace}/serviceaccounts`,
        body: { metadata: { name: account } },
      });
      const request = await client.json<{ status: { token: string } }>({
        method: 'POST',
        path: `/api/v1/namespaces/${namespace}/serviceaccounts/${account}/token`,
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { expirationSeconds: 600 },
        },
      });
      return request.status.token;
    };
    await client.json({
      method: 'POST',
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`,
      body: {
        metadata: { name: 'backup-logs' },
        rules: [{ apiGroups: ['cairn.dev'], resources: ['backups/logs', 'backups/results'], verbs: ['get'] }],
      },
    });
    await client.json({
      method: 'POST',
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`,
      body: {
        metadata: { name: 'backup-logs' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'backup-logs' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace }],
      },
    });
    const reader = await tokenOf('reader');
    const stranger = await tokenOf('stranger');
    const get = async (path: string, token?: string) => {
      const res = await fetch(`http://127.0.0.1:${server.port}${path}`, {
        headers: token ? { Authorization: `Bearer ${token}` } : {},
      });
      return { status: res.status, text: await res.text() };
    };
    const logs = `/v1/namespaces/${namespace}/backups/shop/logs`;
    // RBAC takes a moment to reach the authorizer's cache.
    const allowed = await eventually('the reader to be allowed', async () => {
      const answer = await get(logs, reader);
      return answer.status === 200 ? answer : undefined;
    });
    assert.match(allowed.text, /listing every resource at storage revision \d+/);
    const results = await get(`/v1/namespaces/${namespace}/backups/shop/results`, reader);
    assert.equal(results.status, 200);
    assert.ok(JSON.parse(results.text));
    const denied = await get(logs, stranger);
    assert.equal(denied.status, 403);
    assert.match(denied.text, /system:serviceaccount:.*:stranger may not get backups\/logs "shop"/);
    assert.equal((await get(logs)).status, 401);
    assert.equal((await get(logs, 'not-a-token')).status, 401);
    assert.equal((await get(`/v1/namespaces/${namespace}/backups/missing/logs`, reader)).status, 404);
    // A path that is not valid percent-encoding is refused, before any token is looked at; the server lives on.
    assert.equal((await get(`/v1/namespaces/${namespace}/backups/%zz/logs`)).status, 400);
    assert.equal((await get('/healthz')).status, 200);
  });

  it('marks FailedValidation, writing nothing, for an unknown location, a ReadOnly one and a bad selector', async () => {
    await createBackup('nowhere', { storageLocation: 'missing' });
    await createBackup('readonly', { storageLocation: 'archive' });
    await createBackup('badselector', { labelSelector: 'app in (web', includedNamespaces: [appNamespace] });
    const nowhere = await finished('nowhere');
    assert.equal(nowhere.status?.phase, 'FailedValidation');
    assert.match(nowhere.status?.validationErrors?.join('\n') ?? '', /no BackupLocation named "missing"/);
    const readonly = await finished('readonly');
    assert.equal(readonly.status?.phase, 'FailedValidation');
    assert.match(readonly.status?.validationErrors?.join('\n') ?? '', /location "archive" is ReadOnly/);
    const bad = await finished('badselector');
    assert.equal(bad.status?.phase, 'FailedValidation');
    assert.match(bad.status?.validationErrors?.join('\n') ?? '', /labelSelector/);
    for (const name of ['nowhere', 'readonly', 'badselector']) {
      assert.ok(!existsSync(join(dir, 'local', 'backups', name)), `nothing of ${name} stored`);
      assert.ok(!existsSync(join(dir, 'archive', 'backups', name)), `nothing of ${name} stored`);
    }
  });

  it('lets the CRD schema refuse a malformed Backup before any controller sees it', async () => {
    await assert.rejects(
      createBackup('malformed', { ttl: 'thirty days', includedNamespaces: 'not-a-list' }),
      (e: unknown) =>
        e instanceof KubeApiError && e.status === 422 && /spec\.includedNamespaces/.test(e.message),
    );
    // The refusal of a pattern says what is wanted, not the regular expression.
    await assert.rejects(createBackup('negative', { ttl: '-1h' }), (e: unknown) => {
      assert.ok(e instanceof KubeApiError && e.status === 422, String(e));
      assert.match(e.message, /spec\.ttl: Invalid value: .*not a duration \(examples: 720h, 24h30m, 90s\)/);
      assert.doesNotMatch(e.message, /should match/);
      return true;
    });
  });

  it('refuses a Backup with a misspelt field, naming it, rather than back up everything (the API server keeps the field)', async () => {
    // fieldValidation=Ignore: what a client that does not ask for the API server's check sends (kubectl
    // --validate=false, many libraries); without the kept field the typo would be pruned silently.
    const create = (name: string, body: Record<string, unknown>) =>
      client.json({
        method: 'POST',
        path: `/apis/cairn.dev/v1/namespaces/${namespace}/backups`,
        query: { fieldValidation: 'Ignore' },
        body: { apiVersion: 'cairn.dev/v1', kind: 'Backup', metadata: { name }, ...body },
      });
    await create('typo', {
      spec: { includedNamespace: [appNamespace], hooks: { resources: [{ name: 'h', pree: [] }] } },
    });
    await create('toptypo', { spce: { includedNamespaces: [appNamespace] } });
    const typo = await finished('typo');
    assert.equal(typo.status?.phase, 'FailedValidation');
    const errors = typo.status?.validationErrors?.join('\n') ?? '';
    assert.match(errors, /^includedNamespace: is not a field of this kind/m);
    assert.match(errors, /^hooks\.resources\[0\]\.pree: is not a field of this kind/m);
    const top = await finished('toptypo');
    assert.equal(top.status?.phase, 'FailedValidation');
    assert.match(top.status?.validationErrors?.join('\n') ?? '', /^spce: is not a field of a Backup/m);
    for (const name of ['typo', 'toptypo'])
      assert.ok(!existsSync(join(dir, 'local', 'backups', name)), `nothing of ${name} stored`);

    // A Restore too: a misspelt mapping (the CLI flag's plural; the field is namespaceMapping) would otherwise
    // restore into the original namespaces.
    await client.json({
      method: 'POST',
      path: `/apis/cairn.dev/v1/namespaces/${namespace}/restores`,
      query: { fieldValidation: 'Ignore' },
      body: {
        apiVersion: 'cairn.dev/v1',
        kind: 'Restore',
        metadata: { name: 'typo' },
        spec: { backupName: 'typo', namespaceMappings: { [appNamespace]: 'elsewhere' } },
      },
    });
    const restore = await eventually('the misspelt Restore to be refused', async () => {
      const r = await client.json<Restore>({ path: resourcePath('Restore', namespace, 'typo') });
      return r.status?.phase === 'FailedValidation' ? r : undefined;
    });
    assert.match(
      restore.status?.validationErrors?.join('\n') ?? '',
      /^namespaceMappings: is not a field of this kind/m,
    );
  });

  it('counts what happened in /metrics', async () => {
    const { status, text } = await http(server, '/metrics');
    assert.equal(status, 200);
    const value = (series: string) => metricValue(text, series);
    assert.equal(value('cairn_backup_attempt_total{schedule=""}'), 1);
    assert.equal(value('cairn_backup_success_total{schedule=""}'), 1);
    // nowhere, readonly, badselector; typo and toptypo.
    assert.equal(value('cairn_backup_validation_failure_total{schedule=""}'), 5);
    assert.equal(value('cairn_backup_last_status{schedule=""}'), 0, 'the last backup failed validation');
    assert.ok(value('cairn_backup_last_successful_timestamp{schedule=""}') > 0);
    assert.ok(value('cairn_backup_tarball_size_bytes{schedule=""}') > 0);
  });

  it('keeps a location to the key it was written with: no new key Secret, and another key refused, naming both key ids', async () => {
    // Another machine wrote to this directory first, with its own key.
    const theirs = generateLocationKey();
    await new BackupStore({
      location: 'foreign',
      store: new FilesystemStore({ root: join(dir, 'foreign') }),
      key: theirs,
    }).claim({ name: 'elsewhere', startedAt: new Date().toISOString(), client: 'another machine' });
    await createLocation('foreign', { provider: 'fs', config: { path: join(dir, 'foreign') } });
    const secretPath = `/api/v1/namespaces/${namespace}/secrets/${keySecretName('foreign')}`;
    const keySource = `Secret "${keySecretName('foreign')}" (data "key") in namespace ${namespace}`;
    const fix =
      `To fix: run \`cairn location key-export foreign\` on the machine that has key ${keyId(theirs)}, ` +
      `and put its output in ${keySource}`;

    await createBackup('to-foreign', { includedNamespaces: [appNamespace], storageLocation: 'foreign' });
    const keyless = await finished('to-foreign');
    assert.equal(keyless.status?.phase, 'Failed');
    assert.equal(
      keyless.status?.failureReason,
      `location "foreign" is encrypted with key ${keyId(theirs)}, but there is no key for it in ${keySource}. ${fix}`,
    );
    assert.equal((await client.send({ path: secretPath })).status, 404, 'no new key Secret was made');

    const putKey = async (key: Buffer) => {
      await client.send({ method: 'DELETE', path: secretPath });
      await client.json({
        method: 'POST',
        path: `/api/v1/namespaces/${namespace}/secrets`,
        body: {
          metadata: { name: keySecretName('foreign') },
          data: { key: Buffer.from(key.toString('base64') + '\n').toString('base64') },
        },
      });
    };
    const ours = generateLocationKey();
    await putKey(ours);
    await createBackup('to-foreign-2', { includedNamespaces: [appNamespace], storageLocation: 'foreign' });
    const swapped = await finished('to-foreign-2');
    assert.equal(swapped.status?.phase, 'Failed');
    assert.equal(
      swapped.status?.failureReason,
      `location "foreign" is encrypted with key ${keyId(theirs)}, but the key given is ${keyId(ours)} (${keySource}). ${fix}`,
    );
    assert.ok(!existsSync(join(dir, 'foreign', 'backups', 'to-foreign-2')), 'nothing of it was written');

    await putKey(theirs);
    await createBackup('to-foreign-3', { includedNamespaces: [appNamespace], storageLocation: 'foreign' });
    assert.equal((await finished('to-foreign-3')).status?.phase, 'Completed');
  });

  it('marks Failed a backup and a restore a stopped server left InProgress, once another server leads', async () => {
    await server.stop();
    await createBackup('orphan', { includedNamespaces: [appNamespace] });
    // What a server killed mid-backup leaves: the phase InProgress, nobody working on it.
    const orphan = await getBackup('orphan');
    await patchStatus(
      { client, namespace },
      'Backup',
      'orphan',
      { phase: 'InProgress' },
      {
        resourceVersion: orphan.metadata.resourceVersion,
      },
    );
    // And a restore it left InProgress.
    await createCr(client, namespace, 'Restore', 'orphan-restore', { backupName: 'shop' });
    const restore = await client.json<Restore>({
      path: resourcePath('Restore', namespace, 'orphan-restore'),
    });
    await patchStatus(
      { client, namespace },
      'Restore',
      'orphan-restore',
      { phase: 'InProgress' },
      { resourceVersion: restore.metadata.resourceVersion },
    );
    server = await startServerAt('second');
    const backup = await finished('orphan');
    assert.equal(backup.status?.phase, 'Failed');
    assert.equal(backup.status?.failureReason, ORPHAN_REASON);
    const failedRestore = await eventually('the orphaned restore to be marked Failed', async () => {
      const r = await client.json<Restore>({ path: resourcePath('Restore', namespace, 'orphan-restore') });
      return r.status?.phase === 'Failed' ? r : undefined;
    });
    assert.equal(failedRestore.status?.failureReason, RESTORE_ORPHAN_REASON);
    const lease = await client.json<KubeObject & { spec: { holderIdentity?: string } }>({
      path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/cairn-server`,
    });
    assert.equal(lease.spec.holderIdentity, 'second');
  });
});
