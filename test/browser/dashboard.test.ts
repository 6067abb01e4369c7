// The dashboard's pages in a browser: Debian's Chromium (/usr/bin/chromium, never a downloaded browser)
// driven by playwright-core, against runServer on the testbed serving the pages `npm run build` made.
// Users sign in with ServiceAccount tokens, as a person without `cairn dashboard` would: an operator sees a
// schedule whose backup failed in red and restores a namespace through the wizard after its preview; a
// tenant bound to a Role in one namespace sees only that namespace and cannot restore into another; an
// operator makes a schedule through the form and edits it.
// Every page is saved as a screenshot under test-artifacts/dashboard/.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Backup, DashboardSession, Schedule } from '../../src/api/index.ts';
import { resourcePath } from '../../src/controller/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { repoRoot } from '../helpers/cli.ts';
import { grantRole, serviceAccountToken } from '../helpers/rbac.ts';
import { createCr, installCrds, startServer, type RunningServer } from '../helpers/server.ts';
import { clusterClient, eventually, uniqueSuffix } from '../helpers/testbed.ts';

const CHROMIUM = '/usr/bin/chromium';
const assets = join(repoRoot, 'dist', 'ui');
const artifacts = join(repoRoot, 'test-artifacts', 'dashboard');
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

let client: KubeClient;
let server: RunningServer;
let browser: Browser;
let namespace: string; // the server's
let shop: string; // the tenant's
let other: string; // someone else's
let dir: string;
let nightly: string; // the backup shop-nightly made
const tokens: Record<string, string> = {};
/** Errors thrown in any page: a test fails on any. */
const pageErrors: string[] = [];

async function session(token: string): Promise<DashboardSession | undefined> {
  const res = await fetch(`http://127.0.0.1:${server.port}/ui/api/session`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  return res.ok ? ((await res.json()) as DashboardSession) : undefined;
}

/** A new browser page at `hash`, signed in with `token` through the sign-in form. */
async function signedIn(token: string, hash: string, viewport = DESKTOP): Promise<Page> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`http://127.0.0.1:${server.port}/ui/${hash}`);
  await page.getByLabel('Bearer token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  return page;
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

describe('the dashboard in a browser', () => {
  before(async () => {
    assert.ok(existsSync(join(assets, 'index.html')), `no pages in ${assets}: run \`npm run build\` first`);
    assert.ok(existsSync(CHROMIUM), `no ${CHROMIUM}: apt-get install chromium (.ci/run installs it)`);
    await mkdir(artifacts, { recursive: true });
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
    dir = await mkdtemp(join(tmpdir(), 'cairn-dashboard-e2e-'));
    await createCr(client, namespace, 'BackupLocation', 'local', {
      provider: 'fs',
      config: { path: join(dir, 'local') },
      default: true,
    });
    const operator = { name: 'operator', namespace };
    tokens.operator = await serviceAccountToken(client, operator, [
      {
        apiGroups: ['cairn.dev'],
        resources: ['backups', 'schedules', 'backuplocations', 'restores', 'backups/logs'],
        verbs: ['get', 'list', 'watch'],
      },
      { apiGroups: ['cairn.dev'], resources: ['schedules'], verbs: ['patch', 'create'] },
      {
        apiGroups: ['cairn.dev'],
        resources: ['restores', 'backups', 'deletebackuprequests'],
        verbs: ['create'],
      },
    ]);
    // So that the operator sees the item lists of shop's backups (a backup holds its Secrets), and may
    // restore into shop as its admin: a restore writes only what its creator may (tenant-safe restore),
    // and shop holds this very Role and RoleBinding (bind and escalate).
    await grantRole(client, shop, 'operator-secrets', operator, [
      { apiGroups: [''], resources: ['secrets'], verbs: ['list'] },
      { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
    ]);
    tokens.tenant = await serviceAccountToken(client, { name: 'tenant', namespace: shop }, [
      { apiGroups: [''], resources: ['secrets'], verbs: ['list'] },
      { apiGroups: [''], resources: ['configmaps', 'serviceaccounts'], verbs: ['create', 'get', 'list'] },
    ]);
    server = await startServer({
      client: clusterClient('a'),
      namespace,
      identity: 'dashboard-e2e',
      dashboardAssets: assets,
    });
    await createCr(client, namespace, 'Schedule', 'shop-nightly', {
      schedule: '0 3 * * *',
      template: { includedNamespaces: [shop] },
    });
    // Its backups name a location that does not exist: they fail, and the schedule is unhealthy.
    await createCr(client, namespace, 'Schedule', 'broken', {
      schedule: '0 3 * * *',
      template: { includedNamespaces: [other], storageLocation: 'missing' },
    });
    // A new schedule's first backup is made at once; each is waited for.
    const made = await eventually('both schedules to make a backup that has finished', async () => {
      const list = await client.json<{ items: Backup[] }>({ path: resourcePath('Backup', namespace) });
      const finished = (prefix: string) =>
        list.items.find(
          (b) =>
            b.metadata.name.startsWith(prefix) && !['New', 'InProgress', undefined].includes(b.status?.phase),
        );
      const ok = finished('shop-nightly-');
      return ok && finished('broken-') ? ok : undefined;
    });
    assert.equal(made.status?.phase, 'Completed', JSON.stringify(made.status));
    nightly = made.metadata.name;
    // RBAC reaches the authorizer a moment after the bindings are made.
    await eventually('the operator to be recognized', async () => {
      const can = (await session(tokens.operator ?? ''))?.can;
      return can?.createRestore && can.createSchedules ? true : undefined;
    });
    await eventually('the tenant to be recognized', async () =>
      (await session(tokens.tenant ?? ''))?.namespaces?.includes(shop) ? true : undefined,
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // Chromium refuses to run as root with its sandbox; CI runs as root.
      args: ['--no-sandbox'],
    });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    for (const ns of [namespace, shop, other])
      await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
    await rm(dir, { recursive: true, force: true });
    assert.deepEqual(pageErrors, [], 'no page threw');
  });

  it('asks for a token when the page is opened without one, and says so when a token is refused', async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`http://127.0.0.1:${server.port}/ui/`);
    await page.getByLabel('Bearer token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const refusal = await page.getByRole('alert').textContent();
    assert.match(refusal ?? '', /The token was not accepted/);
    await screenshot(page, 'sign-in');
    await context.close();
  });

  it('shows a schedule whose last backup failed in a red row that says why, beside the healthy one', async () => {
    const page = await signedIn(tokens.operator ?? '', '#/');
    const schedules = page.getByRole('region', { name: 'Schedules' });
    const broken = schedules
      .getByRole('row')
      .filter({ has: page.getByRole('rowheader', { name: 'broken' }) });
    await broken.getByText('Unhealthy').waitFor();
    assert.match((await broken.textContent()) ?? '', /FailedValidation/);
    assert.equal(await broken.getAttribute('class'), 'unhealthy');
    // The first unhealthy row is the schedules table's (above the locations'): its cells are red.
    const colour = await page.evaluate<string>(
      "getComputedStyle(document.querySelector('tr.unhealthy > th')).backgroundColor",
    );
    assert.equal(colour, 'rgb(254, 226, 226)', 'the row is red');
    const healthy = schedules
      .getByRole('row')
      .filter({ has: page.getByRole('rowheader', { name: 'shop-nightly' }) });
    assert.match((await healthy.textContent()) ?? '', /Healthy/);
    assert.doesNotMatch((await healthy.textContent()) ?? '', /Unhealthy/);
    const location = page
      .getByRole('region', { name: 'Locations' })
      .getByRole('row')
      .filter({ has: page.getByRole('rowheader', { name: 'local' }) });
    assert.match((await location.textContent()) ?? '', /Available/);
    await page.locator('cairn-chart canvas').first().waitFor();
    await screenshot(page, 'overview');
    await page.setViewportSize(PHONE);
    await screenshot(page, 'overview-phone');
    assert.equal(await page.locator('.banner').count(), 0, 'no "Something went wrong" banner');
    await page.context().close();
  });

  it('shows every page to an operator, with the actions its RBAC allows', async () => {
    const page = await signedIn(tokens.operator ?? '', '#/backups');
    await page.getByRole('link', { name: nightly }).waitFor();
    assert.equal(await page.getByRole('link', { name: /^broken-/ }).count(), 1);
    await page.getByLabel('Phase').selectOption('Completed');
    await page.getByRole('link', { name: /^broken-/ }).waitFor({ state: 'detached' });
    assert.match(page.url(), /#\/backups\?phase=Completed$/, 'the filter is in the URL');
    await screenshot(page, 'backups');

    await page.getByRole('link', { name: nightly }).click();
    await page.getByRole('heading', { name: `Backup ${nightly}` }).waitFor();
    await page.getByRole('rowheader', { name: 'v1/ConfigMap' }).waitFor();
    await page.getByLabel("The backup's log").waitFor();
    assert.equal(await page.getByRole('link', { name: 'Restore…' }).count(), 1);
    assert.equal(await page.getByRole('button', { name: 'Delete…' }).count(), 1);
    await screenshot(page, 'backup');

    await page.getByRole('link', { name: 'Schedules' }).click();
    await page.getByRole('button', { name: 'Pause shop-nightly' }).click();
    // The change comes back through the event stream: the button turns into Resume without a reload.
    await page.getByRole('button', { name: 'Resume shop-nightly' }).waitFor();
    await screenshot(page, 'schedules');
    await page.getByRole('button', { name: 'Resume shop-nightly' }).click();
    await page.getByRole('button', { name: 'Pause shop-nightly' }).waitFor();

    await page.getByRole('link', { name: 'Locations' }).click();
    await page.getByRole('rowheader', { name: 'local' }).waitFor();
    await screenshot(page, 'locations');
    await page.setViewportSize(PHONE);
    await page.getByRole('link', { name: 'Backups' }).click();
    await page.getByRole('link', { name: nightly }).waitFor();
    await screenshot(page, 'backups-phone');
    await page.context().close();
  });

  it("makes a schedule through the form, showing the server's refusal of a bad cron, then edits its cron", async () => {
    const page = await signedIn(tokens.operator ?? '', '#/schedules');
    const list = page.getByRole('region', { name: 'Schedules' });
    await list.getByRole('rowheader', { name: 'shop-nightly' }).waitFor();
    // The focused element's id, or its aria-label (the page's code runs in the browser, so it is text).
    const focused = () =>
      page.evaluate<string>(
        "(e => e?.id || e?.getAttribute('aria-label') || e?.tagName || '')(document.activeElement)",
      );

    await page.getByRole('button', { name: 'New schedule' }).click();
    const form = page.getByRole('form', { name: 'New schedule' });
    await form.waitFor();
    assert.equal(await focused(), 'schedule-name', 'the focus moves to the form');
    await form.getByLabel('Name (required)').fill('weekly');
    await form.getByLabel(/^Cron schedule/).fill('0 25 * * *');
    await form.getByRole('checkbox', { name: /^Paused/ }).check();
    await form.getByLabel('Namespaces to include').fill(shop);
    await form.getByLabel('Keep each backup for (TTL)').fill('168h');
    await form.getByLabel('Storage location').selectOption('local');
    await form.getByRole('button', { name: 'Create schedule' }).click();
    const refusal = form.getByRole('alert').filter({ hasText: 'Could not create the schedule' });
    await refusal.waitFor();
    assert.match((await refusal.textContent()) ?? '', /schedule: .*Invalid value for hour: 25/);
    assert.equal(await form.getByLabel(/^Cron schedule/).getAttribute('aria-invalid'), 'true');
    await screenshot(page, 'schedules-new');

    await form.getByLabel(/^Cron schedule/).fill('0 4 * * 0');
    await form.getByRole('button', { name: 'Create schedule' }).click();
    await page.getByRole('status').filter({ hasText: 'Created schedule weekly.' }).waitFor();
    const weekly = list.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'weekly' }) });
    await weekly.getByText('0 4 * * 0').waitFor();
    assert.equal(await focused(), 'Schedules', 'the focus is back on the list');
    assert.equal(await page.getByRole('form').count(), 0, 'the form is closed');
    const path = `${resourcePath('Schedule', namespace)}/weekly`;
    const made = await client.json<Schedule>({ path });
    assert.equal(made.spec.schedule, '0 4 * * 0');
    assert.equal(made.spec.paused, true);
    // The fields filled in (the API server adds the CRD's defaults to the others).
    const { includedNamespaces, ttl, storageLocation, labelSelector } = made.spec.template;
    assert.deepEqual(
      { includedNamespaces, ttl, storageLocation, labelSelector },
      { includedNamespaces: [shop], ttl: '168h', storageLocation: 'local', labelSelector: undefined },
    );

    await weekly.getByRole('button', { name: 'Edit weekly' }).click();
    const edit = page.getByRole('form', { name: 'Edit schedule weekly' });
    const cron = edit.getByLabel(/^Cron schedule/);
    await page.waitForFunction("document.querySelector('#schedule-cron')?.value === '0 4 * * 0'");
    assert.equal(await focused(), 'schedule-cron', 'the focus moves to the prefilled form');
    assert.equal(await edit.getByLabel('Name (required)').count(), 0, 'the name cannot be changed');
    assert.equal(await edit.getByLabel('Namespaces to include').inputValue(), shop);
    assert.equal(await edit.getByLabel('Storage location').inputValue(), 'local');
    await cron.fill('30 5 * * 1');
    await screenshot(page, 'schedule-edit');
    await page.setViewportSize(PHONE);
    await screenshot(page, 'schedule-edit-phone');
    await page.setViewportSize(DESKTOP);
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: 'Saved schedule weekly: changed cron schedule.' })
      .waitFor();
    await weekly.getByText('30 5 * * 1').waitFor();
    assert.equal(await focused(), 'Schedules', 'the focus is back on the list');
    const edited = await client.json<Schedule>({ path });
    assert.equal(edited.spec.schedule, '30 5 * * 1');
    assert.equal(edited.spec.paused, true, 'a field not changed stays');
    assert.deepEqual(edited.spec.template, made.spec.template);

    // Escape closes the form and gives the focus back to the button that opened it.
    await page.getByRole('button', { name: 'New schedule' }).click();
    await page.getByRole('form', { name: 'New schedule' }).waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('form').waitFor({ state: 'detached' });
    assert.equal(await focused(), 'new-schedule');
    await page.context().close();
  });

  it('restores a namespace through the wizard, after a preview of what it will do', async () => {
    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${shop}/configmaps/settings` });
    const page = await signedIn(tokens.operator ?? '', `#/restore?backup=${nightly}`);
    await page.getByRole('checkbox', { name: shop }).waitFor();
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.getByRole('heading', { name: /^Preview/ }).waitFor();
    const settings = page
      .getByRole('row')
      .filter({ has: page.getByRole('rowheader', { name: 'settings', exact: true }) })
      .filter({ hasText: 'configmaps' });
    assert.match((await settings.textContent()) ?? '', /created/);
    assert.equal(
      (await client.send({ path: `/api/v1/namespaces/${shop}/configmaps/settings` })).status,
      404,
      'a preview changes nothing',
    );
    await screenshot(page, 'restore-preview');

    await page.getByRole('button', { name: 'Restore', exact: true }).click();
    await page.waitForURL(/#\/restores\//);
    await page.getByText('The restore has ended.').waitFor({ timeout: 60_000 });
    const restoreName = decodeURIComponent(/#\/restores\/([^/?]+)/.exec(page.url())?.[1] ?? '');
    // What the dashboard shows of the restore, items and errors included, to explain a failure.
    const restore = await fetch(
      `http://127.0.0.1:${server.port}/ui/api/restores/${encodeURIComponent(restoreName)}`,
      { headers: { Authorization: `Bearer ${tokens.operator ?? ''}` } },
    ).then((res) => res.text());
    assert.match(
      (await page.getByRole('main').getByRole('status').textContent()) ?? '',
      /Completed/,
      restore,
    );
    await screenshot(page, 'restore-progress');
    const back = await client.json<{ data: Record<string, string> }>({
      path: `/api/v1/namespaces/${shop}/configmaps/settings`,
    });
    assert.deepEqual(back.data, { colour: 'blue' });
    await page.context().close();
  });

  it('shows a tenant bound to a Role in one namespace only that namespace, and refuses a restore into another', async () => {
    const page = await signedIn(tokens.tenant ?? '', '#/');
    const schedules = page.getByRole('region', { name: 'Schedules' });
    await schedules.getByRole('rowheader', { name: 'shop-nightly' }).waitFor();
    assert.equal(
      await schedules.getByRole('rowheader', { name: 'broken' }).count(),
      0,
      "another namespace's schedule",
    );
    assert.match((await page.locator('.who').textContent()) ?? '', new RegExp(`namespaces: ${shop}`));
    await screenshot(page, 'tenant-overview');

    await page.getByRole('link', { name: 'Backups' }).click();
    await page.getByRole('link', { name: nightly }).waitFor();
    const namespaces = await page.locator('tbody tr td:nth-child(4)').allTextContents();
    assert.ok(namespaces.length > 0);
    for (const text of namespaces) assert.equal(text.trim(), shop);
    assert.equal(await page.getByRole('link', { name: /^broken-/ }).count(), 0);

    await page.getByRole('link', { name: 'Restore', exact: true }).click();
    await page.getByLabel('Backup', { exact: true }).selectOption(nightly);
    await page.getByLabel('From namespace').fill(shop);
    await page.getByLabel('To namespace').fill(other);
    await page.getByRole('button', { name: 'Preview' }).click();
    const refusal = page.getByRole('alert').filter({ hasText: 'Could not preview' });
    await refusal.waitFor();
    assert.match((await refusal.textContent()) ?? '', new RegExp(`may not restore into namespace ${other}`));
    await screenshot(page, 'tenant-restore-refused');
    await page.context().close();
  });
});
