// Tenant-safe restore (docs/security.md#tenant-safe-restore): a Restore records its creator in the
// annotation cairn.dev/creator, which the admission policy cairn-restore-creator makes the API server
// check, and the server restores only what that creator may write. A ServiceAccount that may create
// Restores in the server's namespace and write ConfigMaps in team-a only restores team-a's objects of a
// backup of team-a, team-b and a cluster-scoped object; the admin restores all of it; team-b's objects
// mapped into team-a are the limited user's to restore only once they may read them in team-b. Roles and
// bindings are restored only where the user may `escalate` and `bind` as RBAC itself would ask them, and
// only the creator may change a Restore's spec.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backup, BackupLocation, Restore } from '../../src/api/index.ts';
import { creatorAnnotations } from '../../src/cli/server-mode.ts';
import { resourcePath, ServerLocations } from '../../src/controller/index.ts';
import { KubeApiError, type KubeClient, type KubeObject } from '../../src/kube/index.ts';
import { RestoreStore } from '../../src/storage/index.ts';
import { clientWithToken, grantRole, serviceAccountToken } from '../helpers/rbac.ts';
import { createCr, installCrds, startServer, type RunningServer } from '../helpers/server.ts';
import { clusterClient, eventually, uniqueSuffix } from '../helpers/testbed.ts';

const suffix = uniqueSuffix();
const namespace = `cairn-tenant-${suffix}`; // the server's
const teamA = `team-a-${suffix}`;
const teamB = `team-b-${suffix}`;
const clusterRole = `cairn-tenant-${suffix}`;
const label = { 'cairn-tenant-test': suffix };
const rbacLabel = { 'cairn-tenant-rbac': suffix };
const RBAC = 'rbac.authorization.k8s.io';

let admin: KubeClient;
let limited: KubeClient;
let limitedName: string;
let server: RunningServer;
let dir: string;

const configMaps = (ns: string) => `/api/v1/namespaces/${ns}/configmaps`;
const rbacPath = (resource: 'roles' | 'rolebindings', name = '') =>
  `/apis/${RBAC}/v1/namespaces/${teamA}/${resource}${name ? `/${name}` : ''}`;
const clusterRolePath = `/apis/rbac.authorization.k8s.io/v1/clusterroles/${clusterRole}`;

async function exists(path: string): Promise<boolean> {
  try {
    await admin.json({ path });
    return true;
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) return false;
    throw error;
  }
}

/** The backed-up objects deleted, and gone, so that a restore has them all to create. */
async function deleteBackedUp(): Promise<void> {
  const paths = [`${configMaps(teamA)}/settings`, `${configMaps(teamB)}/settings`, clusterRolePath];
  for (const path of paths) await admin.send({ method: 'DELETE', path });
  await eventually('the backed-up objects to be gone', async () => {
    for (const path of paths) if (await exists(path)) return undefined;
    return true;
  });
}

/** Creates a Restore as `client`, with the creator annotation the CLI sets, and waits for its end. */
async function restoreAs(client: KubeClient, name: string, spec: Record<string, unknown>): Promise<Restore> {
  await client.json({
    method: 'POST',
    path: resourcePath('Restore', namespace),
    body: {
      apiVersion: 'cairn.dev/v1',
      kind: 'Restore',
      metadata: { name, annotations: await creatorAnnotations(client) },
      spec,
    },
  });
  return eventually(
    `restore ${name} to finish`,
    async () => {
      const restore = await admin.json<Restore>({ path: resourcePath('Restore', namespace, name) });
      const phase = restore.status?.phase;
      return phase && !['New', 'InProgress'].includes(phase) ? restore : undefined;
    },
    120_000,
  );
}

/** A restore's results file (errors and warnings by namespace), as `restore describe --details` reads it. */
async function resultsOf(name: string): Promise<string> {
  const location = await admin.json<BackupLocation>({
    path: resourcePath('BackupLocation', namespace, 'local'),
  });
  const locations = new ServerLocations({ client: admin, namespace, list: () => [location] });
  const store = await locations.open('local', { createKey: false });
  return (await new RestoreStore(store.store).readFile(name, 'results')).toString('utf8');
}

/** The API server's refusal of a request, as its message. */
async function refusal(request: Promise<unknown>): Promise<string> {
  try {
    await request;
  } catch (error) {
    assert.ok(error instanceof KubeApiError && error.status === 403, String(error));
    return error.message;
  }
  assert.fail('the API server accepted the request');
}

describe('tenant-safe restore: the server restores only what the Restore creator may write', () => {
  before(async () => {
    admin = clusterClient('a');
    await installCrds(admin);
    for (const ns of [namespace, teamA, teamB])
      await admin.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: ns } } });
    for (const ns of [teamA, teamB])
      await admin.json({
        method: 'POST',
        path: configMaps(ns),
        body: { metadata: { name: 'settings', labels: label }, data: { team: ns } },
      });
    await admin.json({
      method: 'POST',
      path: '/apis/rbac.authorization.k8s.io/v1/clusterroles',
      body: { metadata: { name: clusterRole, labels: label }, rules: [] },
    });
    // The limited user: Restores in the server's namespace, ConfigMaps in team-a, nothing else.
    const account = { name: 'limited', namespace };
    limited = clientWithToken(
      await serviceAccountToken(admin, account, [
        { apiGroups: ['cairn.dev'], resources: ['restores'], verbs: ['create', 'get', 'patch'] },
      ]),
    );
    limitedName = `system:serviceaccount:${namespace}:limited`;
    await grantRole(admin, teamA, 'configmaps', account, [
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'create', 'update'] },
      // Roles and bindings in team-a, and binding the test's ClusterRole there: not cluster-admin.
      { apiGroups: [RBAC], resources: ['roles', 'rolebindings'], verbs: ['get', 'create', 'update'] },
      { apiGroups: [RBAC], resources: ['clusterroles'], verbs: ['bind'], resourceNames: [clusterRole] },
    ]);

    dir = await mkdtemp(join(tmpdir(), 'cairn-tenant-'));
    await createCr(admin, namespace, 'BackupLocation', 'local', {
      provider: 'fs',
      config: { path: dir },
      default: true,
    });
    server = await startServer({ client: clusterClient('a'), namespace, identity: 'tenant' });
    await createCr(admin, namespace, 'Backup', 'teams', {
      includedNamespaces: [teamA, teamB],
      includeClusterResources: true,
      labelSelector: `cairn-tenant-test=${suffix}`,
    });
    const backup = await eventually('backup teams to finish', async () => {
      const b = await admin.json<Backup>({ path: resourcePath('Backup', namespace, 'teams') });
      return ['New', 'InProgress', undefined].includes(b.status?.phase) ? undefined : b;
    });
    assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status));
  });

  after(async () => {
    await server?.stop();
    for (const ns of [namespace, teamA, teamB])
      await admin.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
    await admin.send({ method: 'DELETE', path: clusterRolePath });
    await rm(dir, { recursive: true, force: true });
  });

  it('the API server refuses a Restore whose creator is someone else, or none, and a change of it', async () => {
    const restore = (name: string, annotations?: Record<string, string>) => ({
      apiVersion: 'cairn.dev/v1',
      kind: 'Restore',
      metadata: { name, ...(annotations ? { annotations } : {}) },
      spec: { backupName: 'teams' },
    });
    const post = (body: unknown) =>
      limited.json({ method: 'POST', path: resourcePath('Restore', namespace), body });
    const forged = await refusal(
      post(
        restore('forged', {
          'cairn.dev/creator': '{"username":"cairn-testbed-admin","groups":["system:masters"]}',
        }),
      ),
    );
    assert.match(forged, /ValidatingAdmissionPolicy 'cairn-restore-creator'/);
    // The refusal says what the annotation must be.
    assert.ok(forged.includes(`must be your identity as the API server knows it`), forged);
    assert.ok(forged.includes(`{"username":"${limitedName}"`), forged);
    assert.match(await refusal(post(restore('anonymous'))), /cairn\.dev\/creator.*it is missing/);

    // Its own name it may give, and a dry run restores nothing; the name then cannot change.
    await limited.json({
      method: 'POST',
      path: resourcePath('Restore', namespace),
      body: {
        ...restore('own', await creatorAnnotations(limited)),
        spec: { backupName: 'teams', dryRun: true },
      },
    });
    // (A merge patch: the server may be writing the Restore's status meanwhile.)
    const change = limited.json({
      method: 'PATCH',
      path: resourcePath('Restore', namespace, 'own'),
      contentType: 'application/merge-patch+json',
      body: {
        metadata: { annotations: { 'cairn.dev/creator': '{"username":"cairn-testbed-admin","groups":[]}' } },
      },
    });
    assert.match(await refusal(change), /cairn\.dev\/creator\] cannot change/);

    // Its spec only its creator may change: the restore runs with the creator's rights.
    const other = clientWithToken(
      await serviceAccountToken(admin, { name: 'other', namespace }, [
        { apiGroups: ['cairn.dev'], resources: ['restores'], verbs: ['create', 'get', 'patch', 'update'] },
      ]),
    );
    const respec = (client: KubeClient) =>
      client.json<Restore>({
        method: 'PATCH',
        path: resourcePath('Restore', namespace, 'own'),
        contentType: 'application/merge-patch+json',
        body: { spec: { includedNamespaces: [teamA] } },
      });
    const rewritten = await refusal(respec(other));
    assert.ok(
      rewritten.includes(`spec cannot change: only the creator of the Restore ({"username":"${limitedName}"`),
      rewritten,
    );
    assert.ok(
      rewritten.includes(`you are {"username":"system:serviceaccount:${namespace}:other"`),
      rewritten,
    );
    assert.deepEqual((await respec(limited)).spec.includedNamespaces, [teamA]);
  });

  it("restores team-a's objects for the limited user, and refuses team-b's and the cluster-scoped one, naming the permission", async () => {
    await deleteBackedUp();
    const restore = await restoreAs(limited, 'limited', { backupName: 'teams' });
    assert.equal(restore.status?.phase, 'PartiallyFailed', JSON.stringify(restore.status));
    assert.ok(await exists(`${configMaps(teamA)}/settings`), "team-a's ConfigMap is restored");
    assert.equal(await exists(`${configMaps(teamB)}/settings`), false, 'nothing is created in team-b');
    assert.equal(await exists(clusterRolePath), false, 'nor at cluster scope');
    const results = await resultsOf('limited');
    assert.ok(results.includes(`${limitedName} may not create configmaps in namespace ${teamB}`), results);
    assert.ok(
      results.includes(
        `${limitedName} may not create clusterroles.rbac.authorization.k8s.io at cluster scope`,
      ),
      results,
    );
    assert.equal(results.includes(`configmaps in namespace ${teamA}`), false, results);
  });

  it('restores all of it for the admin', async () => {
    await deleteBackedUp();
    const restore = await restoreAs(admin, 'admin', { backupName: 'teams' });
    assert.equal(restore.status?.phase, 'Completed', JSON.stringify(restore.status));
    assert.ok(await exists(`${configMaps(teamA)}/settings`));
    assert.ok(await exists(`${configMaps(teamB)}/settings`));
    assert.ok(await exists(clusterRolePath));
  });

  it("restores team-b's objects mapped into team-a for the limited user only once they may read them in team-b", async () => {
    const mapped = {
      backupName: 'teams',
      includedNamespaces: [teamB],
      includeClusterResources: false,
      namespaceMapping: { [teamB]: teamA },
    };
    await deleteBackedUp();
    const unread = await restoreAs(limited, 'mapped-unread', mapped);
    assert.equal(unread.status?.phase, 'PartiallyFailed', JSON.stringify(unread.status));
    assert.equal(await exists(`${configMaps(teamA)}/settings`), false, "team-b's ConfigMap is not copied");
    const results = await resultsOf('mapped-unread');
    assert.ok(results.includes(`${limitedName} may not get configmaps in namespace ${teamB}`), results);

    await grantRole(admin, teamB, 'read', { name: 'limited', namespace }, [
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get'] },
    ]);
    await eventually('the read in team-b to be granted', async () => {
      const review = await admin.json<{ status?: { allowed?: boolean } }>({
        method: 'POST',
        path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: limitedName,
            groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
            resourceAttributes: { verb: 'get', resource: 'configmaps', namespace: teamB },
          },
        },
      });
      return review.status?.allowed ? true : undefined;
    });
    // The server believes a refusal for a few seconds (access.ts): runs that still met it are made again.
    let run = 0;
    await eventually('a restore after the grant to complete', async () => {
      const done = await restoreAs(limited, `mapped-${++run}`, mapped);
      return done.status?.phase === 'Completed' ? done : undefined;
    });
    const settings = await admin.json<KubeObject & { data: { team: string } }>({
      path: `${configMaps(teamA)}/settings`,
    });
    assert.equal(settings.data.team, teamB, "team-b's ConfigMap, in team-a");
    assert.equal(await exists(`${configMaps(teamB)}/settings`), false);
  });

  it('restores a binding or a role only where the limited user may bind or escalate it, naming the verb and the role', async () => {
    const bindings = [
      { name: 'admins', clusterRole: 'cluster-admin' },
      { name: 'viewers', clusterRole },
    ];
    for (const binding of bindings)
      await admin.json({
        method: 'POST',
        path: rbacPath('rolebindings'),
        body: {
          metadata: { name: binding.name, labels: rbacLabel },
          roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: binding.clusterRole },
          subjects: [{ kind: 'User', apiGroup: RBAC, name: 'mallory' }],
        },
      });
    await admin.json({
      method: 'POST',
      path: rbacPath('roles'),
      body: {
        metadata: { name: 'secret-reader', labels: rbacLabel },
        rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }],
      },
    });
    await createCr(admin, namespace, 'Backup', 'rbac', {
      includedNamespaces: [teamA],
      labelSelector: `cairn-tenant-rbac=${suffix}`,
    });
    const backup = await eventually('backup rbac to finish', async () => {
      const b = await admin.json<Backup>({ path: resourcePath('Backup', namespace, 'rbac') });
      return ['New', 'InProgress', undefined].includes(b.status?.phase) ? undefined : b;
    });
    assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status));
    const paths = [
      rbacPath('rolebindings', 'admins'),
      rbacPath('rolebindings', 'viewers'),
      rbacPath('roles', 'secret-reader'),
    ];
    for (const path of paths) await admin.send({ method: 'DELETE', path });

    const restore = await restoreAs(limited, 'rbac', { backupName: 'rbac' });
    assert.equal(restore.status?.phase, 'PartiallyFailed', JSON.stringify(restore.status));
    assert.ok(await exists(rbacPath('rolebindings', 'viewers')), 'the binding of a role they may bind');
    assert.equal(await exists(rbacPath('rolebindings', 'admins')), false, 'no binding to cluster-admin');
    assert.equal(await exists(rbacPath('roles', 'secret-reader')), false, 'no role with rules they lack');
    const results = await resultsOf('rbac');
    assert.ok(
      results.includes(
        `${limitedName} may not bind clusterroles.${RBAC} cluster-admin in namespace ${teamA}`,
      ),
      results,
    );
    assert.ok(
      results.includes(`${limitedName} may not escalate roles.${RBAC} secret-reader in namespace ${teamA}`),
      results,
    );
  });
});
