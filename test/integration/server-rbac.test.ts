// The server's RBAC (src/controller/rbac.ts) is enough, and each part is needed: a server whose client
// presents a ServiceAccount token bound to exactly the generated rules backs up a namespace, makes a
// schedule's backup and restores the namespace elsewhere; with the restore role's binding removed it still
// backs up (into a new location, whose key Secret it makes), and a restore fails naming what it may not
// write.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backup, BackupLocation, Restore } from '../../src/api/index.ts';
import {
  resourcePath,
  ServerLocations,
  serverClusterRules,
  serverNamespaceRules,
  serverRestoreRules,
  type PolicyRule,
} from '../../src/controller/index.ts';
import { KubeApiError, type KubeClient } from '../../src/kube/index.ts';
import { RestoreStore } from '../../src/storage/index.ts';
import { clientWithToken, serviceAccountToken } from '../helpers/rbac.ts';
import { createCr, installCrds, startServer, type RunningServer } from '../helpers/server.ts';
import { clusterClient, eventually, uniqueSuffix } from '../helpers/testbed.ts';

const suffix = uniqueSuffix();
const namespace = `cairn-rbac-${suffix}`; // the server's
const app = `rbac-app-${suffix}`;
const clusterRoles = { server: `cairn-server-${suffix}`, restore: `cairn-server-restore-${suffix}` };

let admin: KubeClient;
let server: RunningServer;
let dir: string;

const post = (path: string, body: unknown) => admin.json({ method: 'POST', path, body });

/** A ClusterRole of `rules` bound to the server's ServiceAccount (named like the role). */
async function bindClusterRole(name: string, rules: PolicyRule[]): Promise<void> {
  await post('/apis/rbac.authorization.k8s.io/v1/clusterroles', { metadata: { name }, rules });
  await post('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ kind: 'ServiceAccount', name: 'cairn', namespace }],
  });
}

async function finished<T extends Backup | Restore>(kind: 'Backup' | 'Restore', name: string): Promise<T> {
  return eventually(
    `${kind} ${name} to finish`,
    async () => {
      const object = await admin.json<T>({ path: resourcePath(kind, namespace, name) });
      const phase = object.status?.phase;
      return phase && !['New', 'InProgress'].includes(phase) ? object : undefined;
    },
    120_000,
  );
}

/** Whether the server's account may create ConfigMaps in `ns` (asked as the account itself). */
async function mayCreateConfigMaps(account: KubeClient, ns: string): Promise<boolean> {
  try {
    await account.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      query: { dryRun: 'All' },
      body: { metadata: { name: 'probe' } },
    });
    return true;
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 403) return false;
    throw error;
  }
}

describe('the server with exactly the generated RBAC', () => {
  before(async () => {
    admin = clusterClient('a');
    await installCrds(admin);
    for (const ns of [namespace, app]) await post('/api/v1/namespaces', { metadata: { name: ns } });
    await post(`/api/v1/namespaces/${app}/configmaps`, { metadata: { name: 'settings' }, data: { a: '1' } });
    await post(`/api/v1/namespaces/${app}/secrets`, { metadata: { name: 'db' }, stringData: { p: 'x' } });
    await post(`/api/v1/namespaces/${app}/serviceaccounts`, { metadata: { name: 'web' } });
    await post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${app}/roles`, {
      metadata: { name: 'reader' },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
    });
    dir = await mkdtemp(join(tmpdir(), 'cairn-rbac-'));
    await createCr(admin, namespace, 'BackupLocation', 'local', {
      provider: 'fs',
      config: { path: join(dir, 'local') },
      default: true,
    });
    // The namespace Role is made by the helper, named after the account; the cluster roles here.
    const token = await serviceAccountToken(admin, { name: 'cairn', namespace }, serverNamespaceRules());
    await bindClusterRole(clusterRoles.server, serverClusterRules());
    await bindClusterRole(clusterRoles.restore, serverRestoreRules());
    const account = clientWithToken(token);
    // RBAC reaches the authorizer a moment after the bindings are made.
    await eventually('the bindings to take effect', async () =>
      (await mayCreateConfigMaps(account, app)) ? true : undefined,
    );
    server = await startServer({ client: account, namespace, identity: 'rbac' });
  });

  after(async () => {
    await server?.stop();
    for (const name of Object.values(clusterRoles)) {
      await admin.send({
        method: 'DELETE',
        path: `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${name}`,
      });
      await admin.send({ method: 'DELETE', path: `/apis/rbac.authorization.k8s.io/v1/clusterroles/${name}` });
    }
    for (const ns of [namespace, app, `${app}-copy`, `${app}-denied`])
      await admin.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
    await rm(dir, { recursive: true, force: true });
  });

  it('backs up a namespace, runs a schedule and restores the namespace elsewhere', async () => {
    await createCr(admin, namespace, 'Backup', 'app', { includedNamespaces: [app] });
    const backup = await finished<Backup>('Backup', 'app');
    assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status));

    await createCr(admin, namespace, 'Schedule', 'nightly', {
      schedule: '0 3 * * *',
      template: { includedNamespaces: [app] },
    });
    // A new schedule makes its first backup at once.
    const scheduled = await eventually('the schedule to make a backup', async () => {
      const list = await admin.json<{ items: Backup[] }>({ path: resourcePath('Backup', namespace) });
      return list.items.find((b) => b.metadata.name.startsWith('nightly-'))?.metadata.name;
    });
    assert.equal((await finished<Backup>('Backup', scheduled)).status?.phase, 'Completed');

    await createCr(admin, namespace, 'Restore', 'copy', {
      backupName: 'app',
      namespaceMapping: { [app]: `${app}-copy` },
    });
    const restore = await finished<Restore>('Restore', 'copy');
    assert.equal(restore.status?.phase, 'Completed', JSON.stringify(restore.status));
    assert.equal(restore.status?.errors ?? 0, 0, JSON.stringify(restore.status));
    for (const path of ['configmaps/settings', 'secrets/db', 'serviceaccounts/web'])
      assert.equal((await admin.send({ path: `/api/v1/namespaces/${app}-copy/${path}` })).status, 200, path);
    const role = `/apis/rbac.authorization.k8s.io/v1/namespaces/${app}-copy/roles/reader`;
    assert.equal((await admin.send({ path: role })).status, 200, 'the Role is restored');
  });

  it('without the restore role still backs up, and a restore fails naming what it may not create', async () => {
    await admin.json({
      method: 'DELETE',
      path: `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${clusterRoles.restore}`,
    });
    const account = clientWithToken(
      await admin
        .json<{ status: { token: string } }>({
          method: 'POST',
          path: `/api/v1/namespaces/${namespace}/serviceaccounts/cairn/token`,
          body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} },
        })
        .then((r) => r.status.token),
    );
    await eventually('the binding to be gone', async () =>
      (await mayCreateConfigMaps(account, app)) ? undefined : true,
    );

    // A new location: its key Secret is made now, by the namespace Role alone.
    await createCr(admin, namespace, 'BackupLocation', 'second', {
      provider: 'fs',
      config: { path: join(dir, 'second') },
    });
    await createCr(admin, namespace, 'Backup', 'backup-only', {
      includedNamespaces: [app],
      storageLocation: 'second',
    });
    assert.equal((await finished<Backup>('Backup', 'backup-only')).status?.phase, 'Completed');

    await createCr(admin, namespace, 'Restore', 'denied', {
      backupName: 'backup-only',
      namespaceMapping: { [app]: `${app}-denied` },
    });
    const restore = await finished<Restore>('Restore', 'denied');
    assert.equal(restore.status?.phase, 'PartiallyFailed', JSON.stringify(restore.status));
    assert.equal(restore.status?.counts?.created, 0, JSON.stringify(restore.status));
    // The reasons are in the restore's record, in the location, as `restore describe --details` reads them.
    const second = await admin.json<BackupLocation>({
      path: resourcePath('BackupLocation', namespace, 'second'),
    });
    const locations = new ServerLocations({ client: admin, namespace, list: () => [second] });
    const store = await locations.open('second', { createKey: false });
    const results = (await new RestoreStore(store.store).readFile('denied', 'results')).toString('utf8');
    // Its target namespace comes first, and the API server's refusal names the account and the resource.
    assert.match(
      results,
      /cannot create namespace [^:]+-denied: namespaces is forbidden: User \\"system:serviceaccount:cairn-rbac-[0-9a-f]+:cairn\\" cannot create resource \\"namespaces\\"/,
      results,
    );
  });
});
