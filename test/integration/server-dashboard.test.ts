// The dashboard's API (served by runServer under /ui/api) against the testbed: answers for an operator and
// for a tenant bound to one namespace, each decided by the real API server's TokenReview and
// SubjectAccessReview; a schedule whose backup failed shown unhealthy; a restore previewed and run;
// refusals naming what the user may not do; live updates. The pages themselves: test/browser/dashboard.test.ts.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type {
  Backup,
  BackupDetail,
  BackupList,
  DashboardOverview,
  DashboardSession,
  Restore,
  RestorePreview,
  RestoreState,
  Schedule,
  ScheduleDetail,
  ScheduleRow,
} from '../../src/api/index.ts';
import { resourcePath } from '../../src/controller/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { grantRole, serviceAccountToken } from '../helpers/rbac.ts';
import { createCr, installCrds, startServer, type RunningServer } from '../helpers/server.ts';
import { clusterClient, eventually, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;
let server: RunningServer;
let namespace: string; // the server's
let shop: string; // the tenant's
let other: string; // someone else's
let dir: string;
const tokens: Record<string, string> = {};

async function call<T>(method: string, path: string, token: string | undefined, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${server.port}${path}`, {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'Content-Type': 'application/json' } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // text answers (logs, pages)
  }
  return { status: res.status, body: parsed as T & { error?: string } };
}

const finishedBackup = (name: string) =>
  eventually(`backup ${name} to finish`, async () => {
    const backup = await client.json<Backup>({ path: resourcePath('Backup', namespace, name) });
    const phase = backup.status?.phase;
    return phase && !['New', 'InProgress'].includes(phase) ? backup : undefined;
  });

describe('the dashboard API', () => {
  before(async () => {
    client = clusterClient('a');
    await installCrds(client);
    namespace = `cairn-${uniqueSuffix()}`;
    shop = `shop-${uniqueSuffix()}`;
    other = `other-${uniqueSuffix()}`;
    for (const ns of [namespace, shop, other])
      await client.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: ns } } });
    for (const ns of [shop, other])
      await client.json({
        method: 'POST',
        path: `/api/v1/namespaces/${ns}/configmaps`,
        body: { metadata: { name: 'settings' }, data: { colour: 'blue' } },
      });
    dir = await mkdtemp(join(tmpdir(), 'cairn-dashboard-'));
    await createCr(client, namespace, 'BackupLocation', 'local', {
      provider: 'fs',
      config: { path: join(dir, 'local') },
      default: true,
    });
    const cairnRead = {
      apiGroups: ['cairn.dev'],
      resources: ['backups', 'schedules', 'backuplocations', 'restores', 'backups/logs'],
      verbs: ['get', 'list', 'watch'],
    };
    tokens.operator = await serviceAccountToken(client, { name: 'operator', namespace: namespace }, [
      cairnRead,
      { apiGroups: ['cairn.dev'], resources: ['schedules'], verbs: ['patch', 'create'] },
    ]);
    tokens.tenant = await serviceAccountToken(client, { name: 'tenant', namespace: shop }, [
      { apiGroups: [''], resources: ['secrets'], verbs: ['list'] },
      { apiGroups: [''], resources: ['configmaps', 'serviceaccounts'], verbs: ['create', 'get', 'list'] },
    ]);
    tokens.stranger = await serviceAccountToken(client, { name: 'stranger', namespace: other }, []);
    const pages = join(dir, 'ui');
    await mkdir(join(pages, 'assets'), { recursive: true });
    await writeFile(join(pages, 'index.html'), '<!doctype html><html><title>Cairn</title></html>');
    await writeFile(join(pages, 'assets', 'app-1234.js'), 'export {};\n');
    server = await startServer({
      client: clusterClient('a'),
      namespace,
      identity: 'dashboard',
      dashboardAssets: pages,
    });
    await createCr(client, namespace, 'Schedule', 'shop-nightly', {
      schedule: '0 3 * * *',
      template: { includedNamespaces: [shop] },
    });
    await createCr(client, namespace, 'Schedule', 'broken', {
      schedule: '0 3 * * *',
      template: { includedNamespaces: [other], storageLocation: 'missing' },
    });
    await createCr(client, namespace, 'Backup', 'other', { includedNamespaces: [other] });
    // A new schedule's first backup is made at once; each is waited for.
    const made = await eventually('both schedules to make a backup', async () => {
      const list = await client.json<{ items: Backup[] }>({ path: resourcePath('Backup', namespace) });
      const names = list.items.map((b) => b.metadata.name);
      const nightly = names.find((n) => n.startsWith('shop-nightly-'));
      const broken = names.find((n) => n.startsWith('broken-'));
      return nightly && broken ? { nightly, broken } : undefined;
    });
    for (const name of [made.nightly, made.broken, 'other']) await finishedBackup(name);
    // RBAC reaches the authorizer a moment after the bindings are made.
    await eventually('the operator to be recognized', async () => {
      const session = await call<DashboardSession>('GET', '/ui/api/session', tokens.operator);
      return session.status === 200 && session.body.can.listAll ? true : undefined;
    });
    await eventually('the tenant to be recognized', async () => {
      const session = await call<DashboardSession>('GET', '/ui/api/session', tokens.tenant);
      return session.status === 200 && session.body.namespaces?.includes(shop) ? true : undefined;
    });
  });

  after(async () => {
    await server.stop();
    for (const ns of [namespace, shop, other])
      await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a request without a valid token, and serves none of the API to it', async () => {
    const none = await call('GET', '/ui/api/overview', undefined);
    assert.equal(none.status, 401);
    assert.match(none.body.error ?? '', /a bearer token is needed/);
    assert.equal((await call('GET', '/ui/api/overview', 'not-a-token')).status, 401);
  });

  it("shows an operator every schedule, a failed one unhealthy with its reason, and the location's health", async () => {
    const session = await call<DashboardSession>('GET', '/ui/api/session', tokens.operator);
    assert.equal(session.status, 200, JSON.stringify(session.body));
    assert.equal(session.body.user, `system:serviceaccount:${namespace}:operator`);
    assert.deepEqual(session.body.can, {
      listAll: true,
      createRestore: false,
      patchSchedules: true,
      createSchedules: true,
      createBackups: false,
      deleteBackups: false,
    });
    const overview = await call<DashboardOverview>('GET', '/ui/api/overview', tokens.operator);
    assert.equal(overview.status, 200);
    const byName = new Map(overview.body.schedules.map((s) => [s.name, s]));
    assert.equal(byName.get('shop-nightly')?.healthy, true, JSON.stringify(byName.get('shop-nightly')));
    assert.equal(byName.get('shop-nightly')?.lastBackup?.phase, 'Completed');
    assert.ok(byName.get('shop-nightly')?.nextRun, 'the next run is shown');
    const broken = byName.get('broken');
    assert.equal(broken?.healthy, false);
    assert.match(broken?.problem ?? '', /its last backup, broken-\d+, is FailedValidation/);
    const [location] = overview.body.locations;
    assert.equal(location?.name, 'local');
    assert.equal(location?.backups, 2, 'the two Completed backups are stored there');
    assert.ok((location?.usedBytes ?? 0) > 0);
    // The charts' points: the backups that ran (one refused before it started has no duration).
    assert.deepEqual(
      overview.body.history.map((b) => [b.phase, (b.durationSeconds ?? -1) >= 0]),
      [
        ['Completed', true],
        ['Completed', true],
      ],
    );
  });

  it("hides a backup's item lists of a namespace whose Secrets the user may not list", async () => {
    const detail = await call<BackupDetail>('GET', '/ui/api/backups/other', tokens.operator);
    assert.equal(detail.status, 200, JSON.stringify(detail.body));
    assert.equal(detail.body.row.phase, 'Completed');
    assert.match(detail.body.hidden ?? '', new RegExp(`namespace ${other} are hidden`));
    assert.equal(detail.body.resources?.['v1/ConfigMap'], undefined, 'no items of the hidden namespace');
    const logs = await call<string>('GET', '/ui/api/backups/other/logs', tokens.operator);
    assert.equal(logs.status, 200);
    assert.match(logs.body, /listing every resource at storage revision/);
  });

  it('shows a tenant only the backups of its namespace, and refuses the others as if they did not exist', async () => {
    const list = await call<BackupList>('GET', '/ui/api/backups', tokens.tenant);
    assert.equal(list.status, 200);
    assert.ok(list.body.backups.length > 0);
    for (const row of list.body.backups) assert.deepEqual(row.namespaces, [shop]);
    const overview = await call<DashboardOverview>('GET', '/ui/api/overview', tokens.tenant);
    assert.deepEqual(
      overview.body.schedules.map((s) => s.name),
      ['shop-nightly'],
    );
    assert.deepEqual(overview.body.locations, [], 'locations are for operators');
    assert.equal((await call('GET', '/ui/api/backups/other', tokens.tenant)).status, 404);
    const name = list.body.backups[0]?.name ?? '';
    const detail = await call<BackupDetail>('GET', `/ui/api/backups/${name}`, tokens.tenant);
    assert.equal(detail.body.hidden, undefined);
    assert.ok((detail.body.resources?.['v1/ConfigMap'] ?? 0) >= 1, JSON.stringify(detail.body.resources));
    const logs = await call('GET', `/ui/api/backups/${name}/logs`, tokens.tenant);
    assert.equal(logs.status, 403, 'logs need get backups/logs');
    const stranger = await call<BackupList>('GET', '/ui/api/backups', tokens.stranger);
    assert.deepEqual(stranger.body.backups, []);
  });

  it('previews and runs a tenant restore into its namespace, and refuses one into another namespace', async () => {
    const list = await call<BackupList>('GET', '/ui/api/backups', tokens.tenant);
    const backupName = list.body.backups[0]?.name ?? '';
    const elsewhere = await call('POST', '/ui/api/restores/preview', tokens.tenant, {
      backupName,
      namespaceMapping: { [shop]: other },
    });
    assert.equal(elsewhere.status, 403);
    assert.match(elsewhere.body.error ?? '', new RegExp(`may not restore into namespace ${other}`));
    const typo = await call('POST', '/ui/api/restores/preview', tokens.tenant, {
      backupName,
      namespace: shop,
    });
    assert.equal(typo.status, 400);
    assert.match(typo.body.error ?? '', /^namespace: is not a field of a restore request/);

    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${shop}/configmaps/settings` });
    // The backup holds the tenant's Role and RoleBinding: restoring them needs what kubectl would need.
    const noRbac = await call('POST', '/ui/api/restores/preview', tokens.tenant, { backupName });
    assert.equal(noRbac.status, 403);
    assert.match(
      noRbac.body.error ?? '',
      /may not create (roles|rolebindings)\.rbac\.authorization\.k8s\.io in namespace/,
    );
    // Its Role restored needs `escalate` on it, its RoleBinding `bind` on the Role: RBAC's own verbs, which
    // the server asks for the creator (docs/security.md#tenant-safe-restore).
    await grantRole(client, shop, 'tenant-rbac', { name: 'tenant', namespace: shop }, [
      {
        apiGroups: ['rbac.authorization.k8s.io'],
        resources: ['roles', 'rolebindings'],
        verbs: ['create', 'get'],
      },
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['escalate', 'bind'] },
    ]);
    const preview = await eventually('the grant to reach the authorizer', async () => {
      const answer = await call<RestorePreview>('POST', '/ui/api/restores/preview', tokens.tenant, {
        backupName,
      });
      return answer.status === 200 ? answer : undefined;
    });
    const settings = preview.body.entries.find(
      (e) => e.groupResource === 'configmaps' && e.name === 'settings',
    );
    assert.equal(settings?.outcome, 'created');
    assert.ok((preview.body.counts.created ?? 0) >= 1);
    assert.equal(
      (await client.send({ path: `/api/v1/namespaces/${shop}/configmaps/settings` })).status,
      404,
      'a preview changes nothing',
    );

    const started = await call<RestoreState>('POST', '/ui/api/restores', tokens.tenant, { backupName });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const restore = await client.json<Restore>({
      path: resourcePath('Restore', namespace, started.body.name),
    });
    assert.equal(
      restore.metadata.annotations?.['cairn.dev/requested-by'],
      `system:serviceaccount:${shop}:tenant`,
    );
    assert.deepEqual(restore.spec.includedNamespaces, [shop]);
    assert.equal(restore.spec.includeClusterResources, false, 'a tenant restores no cluster-scoped objects');
    const done = await eventually('the restore to finish', async () => {
      const state = await call<RestoreState>('GET', `/ui/api/restores/${started.body.name}`, tokens.tenant);
      return ['Completed', 'PartiallyFailed', 'Failed', 'FailedValidation'].includes(state.body.phase)
        ? state.body
        : undefined;
    });
    assert.equal(done.phase, 'Completed', JSON.stringify(done));
    const back = await client.json<{ data: Record<string, string> }>({
      path: `/api/v1/namespaces/${shop}/configmaps/settings`,
    });
    assert.deepEqual(back.data, { colour: 'blue' });
    assert.equal(
      (await call('GET', `/ui/api/restores/${started.body.name}`, tokens.stranger)).status,
      404,
      "another user does not see the tenant's restore",
    );
  });

  it('refuses what RBAC does not allow: deleting, running a schedule, a restore by an operator who may only read', async () => {
    const denied = await call('DELETE', '/ui/api/backups/other', tokens.operator);
    assert.equal(denied.status, 403);
    assert.match(denied.body.error ?? '', /may not delete backups/);
    const run = await call('POST', '/ui/api/schedules/shop-nightly/run', tokens.operator);
    assert.equal(run.status, 403);
    const restore = await call('POST', '/ui/api/restores', tokens.operator, { backupName: 'other' });
    assert.equal(restore.status, 403, JSON.stringify(restore.body));
  });

  it('pauses and resumes a schedule for a user who may patch it, and tells the change live', async () => {
    const events = new AbortController();
    const stream = await fetch(`http://127.0.0.1:${server.port}/ui/api/events`, {
      headers: { Authorization: `Bearer ${tokens.operator}` },
      signal: AbortSignal.any([events.signal, AbortSignal.timeout(30_000)]),
    });
    assert.equal(stream.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    const paused = await call<{ paused: boolean }>(
      'POST',
      '/ui/api/schedules/shop-nightly/pause',
      tokens.operator,
    );
    assert.equal(paused.status, 200, JSON.stringify(paused.body));
    let seen = '';
    while (!seen.includes('"kind":"Schedule","name":"shop-nightly"')) {
      const chunk = await reader.read();
      if (chunk.done) break;
      seen += new TextDecoder().decode(chunk.value);
    }
    events.abort();
    assert.match(seen, /event: change\ndata: \{"kind":"Schedule","name":"shop-nightly","type":"MODIFIED"\}/);
    const overview = await eventually('the schedule to show paused', async () => {
      const answer = await call<DashboardOverview>('GET', '/ui/api/overview', tokens.operator);
      const row = answer.body.schedules.find((s) => s.name === 'shop-nightly');
      return row?.paused ? row : undefined;
    });
    assert.equal(overview.nextRun, undefined, 'a paused schedule has no next run');
    assert.equal((await call('POST', '/ui/api/schedules/shop-nightly/resume', tokens.operator)).status, 200);
    assert.equal((await call('POST', '/ui/api/schedules/shop-nightly/pause', tokens.tenant)).status, 403);
  });

  it('makes and edits a schedule for a user who may, refusing bad fields by name', async () => {
    const make = (body: unknown, token = tokens.operator) =>
      call<ScheduleRow>('POST', '/ui/api/schedules', token, body);
    const weekly = {
      name: 'weekly',
      schedule: '0 4 * * 0',
      paused: true,
      includedNamespaces: [shop],
      ttl: '168h',
    };
    assert.equal((await make(weekly, tokens.tenant)).status, 403);
    const refusals = [
      [{ ...weekly, schedule: '0 4 * *' }, /^schedule: /],
      [{ ...weekly, ttl: 'a week' }, /^ttl: must be a duration \(720h, 24h30m\), got "a week"/],
      [{ ...weekly, name: 'Weekly!' }, /^name: /],
      [{ ...weekly, includeNamespaces: [shop] }, /^includeNamespaces: is not a field of a schedule request/],
    ] as const;
    for (const [body, message] of refusals) {
      const refused = await make(body);
      assert.equal(refused.status, 400, JSON.stringify(body));
      assert.match(refused.body.error ?? '', message);
    }
    const made = await make(weekly);
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.deepEqual([made.body.name, made.body.paused], ['weekly', true]);
    assert.equal((await make(weekly)).status, 409);
    const stored = await client.json<Schedule>({ path: resourcePath('Schedule', namespace, 'weekly') });
    assert.equal(
      stored.metadata.annotations?.['cairn.dev/requested-by'],
      `system:serviceaccount:${namespace}:operator`,
    );
    assert.deepEqual([stored.spec.template.includedNamespaces, stored.spec.template.ttl], [[shop], '168h']);

    const detail = await eventually('the server to see the schedule', async () => {
      const answer = await call<ScheduleDetail>('GET', '/ui/api/schedules/weekly', tokens.operator);
      return answer.status === 200 ? answer.body : undefined;
    });
    assert.equal(detail.schedule.spec.schedule, '0 4 * * 0');
    const edited = await call<ScheduleRow>('PUT', '/ui/api/schedules/weekly', tokens.operator, {
      schedule: '0 5 * * 0',
      ttl: null,
    });
    assert.equal(edited.status, 200, JSON.stringify(edited.body));
    const after = await client.json<Schedule>({ path: resourcePath('Schedule', namespace, 'weekly') });
    assert.equal(after.spec.schedule, '0 5 * * 0');
    assert.deepEqual(after.spec.template.includedNamespaces, [shop]);
    assert.equal(after.spec.template.ttl, '720h0m0s', 'null clears the ttl: the default holds');
    assert.equal(after.spec.paused, true, 'a field left out keeps its value');
    const renamed = await call('PUT', '/ui/api/schedules/weekly', tokens.operator, { name: 'other' });
    assert.equal(renamed.status, 400);
  });

  it('serves the pages under /ui/, and nothing outside them', async () => {
    assert.equal((await server.get('/ui')).status, 200, 'redirected to /ui/');
    const page = await fetch(`http://127.0.0.1:${server.port}/ui/`);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(await page.text(), '<!doctype html><html><title>Cairn</title></html>');
    const asset = await fetch(`http://127.0.0.1:${server.port}/ui/assets/app-1234.js`);
    assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal((await server.get('/ui/%2e%2e%2fpackage.json')).status, 400);
    assert.equal((await server.get('/ui/missing.js')).status, 404);
    assert.equal((await server.get('/ui/%zz')).status, 400, "a malformed path is the caller's error");
    assert.equal((await server.get('/ui/api/backups/%zz')).status, 401, 'no token: refused before anything');
  });
});
